from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import wot_labthing as wl
from wot_labthing._config import build_things, load_config
from wot_labthing._http.forms import thing_description
from wot_labthing._td import check_td, official_td_schema

from .conftest import AssertValidTd

ROOT = Path(__file__).parent.parent


def demo_things() -> list[wl.Thing]:
    return build_things(load_config(ROOT / "examples" / "simulated.toml"))


@pytest.mark.parametrize("thing", demo_things(), ids=lambda thing: thing.thing_name)
def test_every_example_td_is_valid_and_described(
    thing: wl.Thing, assert_valid_td: AssertValidTd
) -> None:
    td = thing_description(thing, "http://127.0.0.1:8080/")
    assert_valid_td(td)
    assert td["@context"][0] == "https://www.w3.org/2022/wot/td/v1.1"
    assert td["base"].endswith("/")
    assert td["id"].startswith("urn:uuid:")
    for table in ("properties", "actions", "events"):
        for name, affordance in td.get(table, {}).items():
            assert affordance.get("description"), f"{table}/{name} has no description"
            for form in affordance["forms"]:
                assert "op" in form and "contentType" in form
                if form.get("subprotocol") != "longpoll":
                    assert "htv:methodName" in form
                else:
                    assert "htv:methodName" not in form
    for action in td.get("actions", {}).values():
        assert isinstance(action["synchronous"], bool)


def test_id_is_stable_and_configurable() -> None:
    first = thing_description(demo_things()[0], "http://a/")["id"]
    again = thing_description(demo_things()[0], "http://b/")["id"]
    assert first == again
    configured = wl.Thing(name="x", id="urn:uuid:00000000-0000-4000-8000-000000000001")
    assert thing_description(configured, "http://a/")["id"].endswith("0001")


def test_shipped_schema_equals_the_pinned_npm_package(official_td_schema: dict[str, Any]) -> None:
    assert official_td_schema_from_wheel() == official_td_schema


def official_td_schema_from_wheel() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(json.dumps(official_td_schema()))
    return schema


def test_check_td_catches_what_the_schema_misses() -> None:
    td: dict[str, Any] = {
        "@context": "https://www.w3.org/2022/wot/td/v1.1",
        "title": "t",
        "base": "http://h/things/t",
        "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
        "security": ["nosec_sc", "basic_sc"],
        "properties": {
            "p": {
                "type": "integer",
                "readOnly": True,
                "forms": [
                    {"href": "p", "op": "writeproperty", "htv:methodName": "FETCHX"},
                    {"href": "p/{id}", "op": "observeproperty"},
                ],
            }
        },
        "links": [{"rel": "type", "href": "a"}, {"rel": "type", "href": "b"}],
    }
    problems = "\n".join(check_td(td))
    assert "'basic_sc' is not in securityDefinitions" in problems
    assert "should end with '/'" in problems
    assert "readOnly property offers writeproperty" in problems
    assert "'FETCHX' is not an HTTP method" in problems
    assert "URI variable 'id' is not declared" in problems
    assert "not marked observable" in problems
    assert "more than one link" in problems


def test_validate_td_uses_format_checking() -> None:
    td = {
        "@context": "https://www.w3.org/2022/wot/td/v1.1",
        "title": "t",
        "id": "not a uri",
        "created": "yesterday",
        "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
        "security": "nosec_sc",
    }
    problems = "\n".join(wl.validate_td(td))
    assert "/id" in problems and "/created" in problems


def test_plain_python_use_without_a_server() -> None:
    (stage, meter) = demo_things()
    assert stage.position == [0, 0, 0]  # type: ignore[attr-defined]
    stage.speed = 50000  # type: ignore[attr-defined]
    assert stage.move_to(10, 20) == [10, 20, 0]  # type: ignore[attr-defined]
    with pytest.raises(wl.InputError):
        stage.speed = 0  # type: ignore[attr-defined]
    with pytest.raises(wl.NotAllowedError):
        stage.position = [1, 2, 3]  # type: ignore[attr-defined]
    assert meter.identify().startswith("wot-labthing")  # type: ignore[attr-defined]


def test_observable_assignment_notifies_the_listener() -> None:
    class Dial(wl.Thing):
        """A dial."""

        level: int = wl.property(default=0, observable=True, description="Level.")

    dial = Dial()
    seen: list[tuple[str, str, Any]] = []
    dial._wot_attach(lambda kind, name, value: seen.append((kind, name, value)))
    dial.level = 4
    dial.notify_property_changed("level")
    assert seen == [("property", "level", 4), ("property", "level", 4)]
