"""Item 7: the TD says exactly what is enforced, fuzzed over HTTP against the shipped drivers.

A real servient process serves the Sangaboard and 34401A drivers against their
wire simulators. For every writable property and every action, values generated
from the TD's own schema (hypothesis-jsonschema) are never refused with 400, and
JSON values outside the TD's schema are always refused with 400.

The meter's range limit depends on its function (0.1 to 1000 V in VOLT:DC, up to
1e8 Ω in RES); the TD states the widest bound, so range is fuzzed with the meter in
RES and the function-dependent refusal is checked separately.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from jsonschema import Draft7Validator

CONFIG = """
[servient]
port = 0
mdns = false
log_level = "WARNING"

[[simulators]]
name = "board"
simulator = "sangaboard"

[[simulators]]
name = "dmm"
simulator = "34401a"

[[things]]
class = "things.openflexure.sangaboard:Sangaboard"
name = "stage"
kwargs = { port = "simulator:board" }

[[things]]
class = "things.keysight.dmm34401a:Keysight34401A"
name = "meter"
kwargs = { port = "simulator:dmm" }
"""

FUZZ = settings(
    max_examples=int(os.environ.get("WOT_HYPOTHESIS_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

#: Terms of a TD affordance that are not JSON Schema validation keywords.
_TD_TERMS = {"forms", "observable", "readOnly", "writeOnly", "title", "description", "unit"}

JSON = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=6),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[httpx.Client, dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("fuzz")
    config = folder / "fuzz.toml"
    config.write_text(CONFIG)
    process = subprocess.Popen(
        [sys.executable, "-m", "wot_labthing", "serve", str(config)],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = next(
            line.removeprefix("wot-labthing serving on ").strip()
            for line in process.stdout
            if line.startswith("wot-labthing serving on ")
        )
        with httpx.Client(base_url=url, timeout=30) as client:
            tds = {name: client.get(f"things/{name}").json() for name in ("stage", "meter")}
            yield client, tds
    finally:
        process.terminate()
        process.wait(30)
        if process.stdout is not None:
            process.stdout.close()


def send(client: httpx.Client, method: str, path: str, value: Any, **kwargs: Any) -> httpx.Response:
    """Send ``value`` as a JSON body, ``null`` included (httpx's ``json=None`` sends no body)."""
    headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
    body = json.dumps(value, allow_nan=False)
    return client.request(method, path, content=body, headers=headers, **kwargs)


def schema_of(entry: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entry.items() if key not in _TD_TERMS}


WRITABLE = [
    ("stage", "step_delay"),
    ("stage", "ramp_time"),
    ("stage", "led_brightness"),
    ("meter", "function"),
    ("meter", "range"),
    ("meter", "autorange"),
    ("meter", "nplc"),
]
ACTIONS = [
    ("stage", "move_relative"),
    ("stage", "move_absolute"),
    ("stage", "zero"),
    ("stage", "release"),
    ("stage", "stop"),
    ("meter", "take_readings"),
    ("meter", "clear_status"),
    ("meter", "reset"),
]


def test_the_lists_cover_every_shipped_affordance(served: Any) -> None:
    _, tds = served
    writable = {
        (thing, name)
        for thing, td in tds.items()
        for name, entry in td["properties"].items()
        if not entry.get("readOnly")
    }
    assert writable == set(WRITABLE)
    actions = {(thing, name) for thing, td in tds.items() for name in td["actions"]}
    assert set(ACTIONS) == actions


def _prepare(client: httpx.Client, thing: str, name: str) -> None:
    """Put the meter in the function whose limits the TD states (see the module doc)."""
    if thing == "meter" and name == "range":
        assert client.put("things/meter/properties/function", json="RES").status_code == 204
    elif thing == "meter" and name == "nplc":
        assert client.put("things/meter/properties/function", json="VOLT:DC").status_code == 204


@pytest.mark.parametrize(("thing", "name"), WRITABLE)
def test_td_valid_property_values_are_never_400(served: Any, thing: str, name: str) -> None:
    client, tds = served
    schema = schema_of(tds[thing]["properties"][name])
    _prepare(client, thing, name)

    @FUZZ
    @given(from_schema(schema, allow_x00=False))
    def check(value: Any) -> None:
        answer = send(client, "PUT", f"things/{thing}/properties/{name}", value)
        assert answer.status_code == 204, (value, answer.text)

    check()


@pytest.mark.parametrize(("thing", "name"), WRITABLE)
def test_td_invalid_property_values_are_always_400(served: Any, thing: str, name: str) -> None:
    client, tds = served
    validator = Draft7Validator(schema_of(tds[thing]["properties"][name]))

    @FUZZ
    @given(JSON.filter(lambda value: not validator.is_valid(value)))
    def check(value: Any) -> None:
        answer = send(client, "PUT", f"things/{thing}/properties/{name}", value)
        assert answer.status_code == 400, (value, answer.text)

    check()


def _cancel(client: httpx.Client, answer: httpx.Response) -> None:
    if answer.status_code == 201:
        client.delete(answer.headers["Location"])


@pytest.mark.parametrize(("thing", "name"), ACTIONS)
def test_td_valid_action_inputs_are_never_400(served: Any, thing: str, name: str) -> None:
    client, tds = served
    entry = tds[thing]["actions"][name]
    inputs = from_schema(entry["input"], allow_x00=False) if "input" in entry else st.just(None)

    @FUZZ
    @given(inputs)
    def check(value: Any) -> None:
        path = f"things/{thing}/actions/{name}"
        headers = {"Prefer": "respond-async"}
        if value is None:  # no input in the TD: no body
            answer = client.post(path, headers=headers)
        else:
            answer = send(client, "POST", path, value, headers=headers)
        try:
            assert answer.status_code in (200, 201, 204), (value, answer.text)
        finally:
            _cancel(client, answer)

    check()


@pytest.mark.parametrize(("thing", "name"), ACTIONS)
def test_td_invalid_action_inputs_are_always_400(served: Any, thing: str, name: str) -> None:
    client, tds = served
    entry = tds[thing]["actions"][name]
    if "input" in entry:
        validator = Draft7Validator(entry["input"])
        invalid = JSON.filter(lambda value: not validator.is_valid(value))
    else:  # no input in the TD: any body but nothing (or {}) is refused
        invalid = JSON.filter(lambda value: value not in (None, {}))

    @FUZZ
    @given(invalid)
    def check(value: Any) -> None:
        answer = send(client, "POST", f"things/{thing}/actions/{name}", value)
        try:
            assert answer.status_code == 400, (value, answer.text)
        finally:
            _cancel(client, answer)

    check()


def test_range_beyond_the_present_function_is_400_before_sending(served: Any) -> None:
    client, _ = served
    assert client.put("things/meter/properties/function", json="CURR:DC").status_code == 204
    answer = client.put("things/meter/properties/range", json=500)
    assert answer.status_code == 400
    assert "largest CURR:DC range (3 A)" in answer.json()["detail"]


def test_a_multi_property_write_says_what_was_applied(served: Any) -> None:
    client, _ = served
    assert client.put("things/meter/properties/function", json="VOLT:DC").status_code == 204
    refused = client.put("things/meter/properties", json={"autorange": False, "range": 1e300})
    assert refused.status_code == 400  # validated first: nothing was written
    assert client.get("things/meter/properties/autorange").json() is True
    # valid by the TD, refused by the driver for the function just set
    answer = client.put(
        "things/meter/properties", json={"function": "CURR:AC", "range": 100, "autorange": False}
    )
    assert answer.status_code == 400
    problem = answer.json()
    assert problem["applied"] == ["function"]
    assert "already applied: function" in problem["detail"]
    assert "not written: range, autorange" in problem["detail"]
    assert client.get("things/meter/properties/function").json() == "CURR:AC"
    assert client.get("things/meter/properties/autorange").json() is True


def test_config_path_is_not_in_any_td(served: Any) -> None:
    _, tds = served
    text = str(tds)
    assert "fuzz.toml" not in text and "/dev/pts" not in text and "simulator:" not in text
    assert Path.cwd().as_posix() not in text
