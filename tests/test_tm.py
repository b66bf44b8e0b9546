"""Thing Models: one per class, valid against the official TM schema, extending the base's."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

import things
import wot_labthing as wl
from wot_labthing._cli import main
from wot_labthing._http.forms import model_path, served_model, thing_description
from wot_labthing._tm import (
    TM_JSON,
    class_path,
    model_base,
    model_classes,
    model_version,
    official_tm_schema,
    validate_tm,
)

from .playground.support import TM_SCHEMA, ensure_playground

ROOT = Path(__file__).parent.parent
BASE = "http://localhost:8080/"


def _shipped_classes() -> list[type[wl.Thing]]:
    """Every Thing class in things/ and examples/simulated.py."""
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        modules = [importlib.import_module("simulated")]
    finally:
        sys.path.remove(str(ROOT / "examples"))
    modules += [
        importlib.import_module(info.name)
        for info in pkgutil.walk_packages(things.__path__, prefix="things.")
        if not info.name.startswith("things.simulators")
    ]
    found = {
        class_path(value): value
        for module in modules
        for _, value in inspect.getmembers(module, inspect.isclass)
        if issubclass(value, wl.Thing) and value.__module__ == module.__name__
    }
    return [found[key] for key in sorted(found)]


SHIPPED = _shipped_classes()


@pytest.fixture(scope="module")
def tm_validator() -> Draft7Validator:
    """The TM 1.1 schema of the pinned npm package wot-thing-model-types, formats on."""
    ensure_playground()
    schema = json.loads(TM_SCHEMA.read_text("utf-8"))
    assert schema["version"] == "1.1-12-March-2025"
    assert schema == official_tm_schema()  # the copy the wheel ships is the same
    return Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)


def test_the_shipped_classes_are_all_there() -> None:
    assert {cls.__name__ for cls in SHIPPED} >= {
        "Sangaboard",
        "ScpiInstrument",
        "Keysight34401A",
        "SimulatedStage",
        "SimulatedMeter",
    }


@pytest.mark.parametrize("cls", SHIPPED, ids=lambda cls: cls.__qualname__)
def test_every_shipped_tm_is_valid(cls: type[wl.Thing], tm_validator: Draft7Validator) -> None:
    tm = served_model(cls, BASE)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in tm_validator.iter_errors(tm)]
    assert errors == []
    assert validate_tm(tm) == []
    assert tm["@type"] == "tm:ThingModel"
    assert "id" not in tm and "forms" not in tm and "title" not in tm
    assert tm["version"] == {"model": model_version(cls)}
    assert tm["description"]
    assert "{{" not in json.dumps(tm)  # node-wot cannot extend a model with placeholders


def test_the_tm_schema_rejects_what_a_tm_must_not_be(tm_validator: Draft7Validator) -> None:
    tm = served_model(things.scpi.ScpiInstrument, BASE)
    assert not tm_validator.is_valid({**tm, "version": {"instance": "1"}})
    assert not tm_validator.is_valid({**tm, "@type": "Thing"})
    assert validate_tm({**tm, "id": "urn:x"}) == [
        "/id: a Thing Model identifies no Thing, so it has no id"
    ]


def test_a_subclass_tm_extends_its_base_and_shows_only_what_it_adds() -> None:
    from things.keysight.dmm34401a import Keysight34401A
    from things.scpi import ScpiInstrument

    assert model_base(Keysight34401A) is ScpiInstrument
    assert model_base(ScpiInstrument) is None
    base = served_model(ScpiInstrument, BASE)
    meter = served_model(Keysight34401A, BASE)
    assert "links" not in base
    assert meter["links"] == [
        {
            "rel": "tm:extends",
            "href": "http://localhost:8080/models/things.scpi:ScpiInstrument",
            "type": TM_JSON,
        }
    ]
    assert set(base["properties"]) == {"identity"}
    assert set(base["actions"]) == {"reset", "clear_status"}
    assert "identity" not in meter["properties"]  # inherited unchanged
    assert "actions" in meter and set(meter["actions"]) == {"take_readings"}
    assert {"function", "range", "nplc", "reading"} <= set(meter["properties"])
    # extending base by the subclass's model gives exactly the TD's affordances
    td = thing_description(Keysight34401A("loop://"), BASE)
    for table in ("properties", "actions"):
        merged = {**base.get(table, {}), **meter.get(table, {})}
        assert set(merged) == set(td[table])
        for name, entry in merged.items():
            assert {k: v for k, v in td[table][name].items() if k in entry} == entry


def test_an_overridden_affordance_is_shown_again() -> None:
    class Lamp(wl.Thing):
        """A lamp."""

        level: int = wl.property(default=0, minimum=0, maximum=10)

        @wl.action
        def blink(self) -> None:
            """Blink once."""

    class DimmerLamp(Lamp):
        """A lamp with a finer dimmer."""

        level: int = wl.property(default=0, minimum=0, maximum=100)

    tm = served_model(DimmerLamp, BASE)
    assert set(tm["properties"]) == {"level"} and tm["properties"]["level"]["maximum"] == 100
    assert "actions" not in tm
    assert set(model_classes([DimmerLamp])) == {class_path(DimmerLamp), class_path(Lamp)}


def test_configuration_dependent_affordances_are_tm_optional() -> None:
    from things.openflexure.sangaboard import Sangaboard

    tm = served_model(Sangaboard, BASE)
    assert tm["tm:optional"] == ["/properties/led_brightness"]
    assert "led_brightness" in tm["properties"]


def test_model_version_comes_from_the_class_or_its_distribution() -> None:
    class Versioned(wl.Thing):
        """Has its own model version."""

        model_version = "2.1.0"

    assert served_model(Versioned, BASE)["version"] == {"model": "2.1.0"}
    from importlib.metadata import version

    assert model_version(things.scpi.ScpiInstrument) == version("wot-labthing")


@pytest.mark.parametrize("cls", SHIPPED, ids=lambda cls: cls.__qualname__)
def test_every_td_links_its_model_once(cls: type[wl.Thing], assert_valid_td: Any) -> None:
    arguments = {} if cls.__module__ == "simulated" else {"port": "loop://"}
    td = thing_description(cls(**arguments), BASE)
    assert_valid_td(td)
    typed = [link for link in td["links"] if link["rel"] == "type"]
    assert typed == [{"rel": "type", "href": BASE + model_path(cls).lstrip("/"), "type": TM_JSON}]


def test_the_cli_prints_a_tm(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tm", "things.keysight.dmm34401a:Keysight34401A", "--base", "http://h:1/"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == served_model(
        importlib.import_module("things.keysight.dmm34401a").Keysight34401A, "http://h:1/"
    )
    assert main(["tm", "things.scpi:NoSuchClass"]) == 2
    assert "has no 'NoSuchClass'" in capsys.readouterr().err


def test_validate_checks_a_tm_file_against_the_tm_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "meter.tm.json"
    good.write_text(json.dumps(served_model(things.scpi.ScpiInstrument, BASE)))
    bad = tmp_path / "bad.tm.json"
    bad.write_text(json.dumps({**served_model(things.scpi.ScpiInstrument, BASE), "id": "urn:x"}))
    assert main(["validate", str(good)]) == 0
    assert capsys.readouterr().out == f"{good}: valid TM 1.1\n"
    assert main(["validate", str(bad)]) == 1
    assert "a Thing Model identifies no Thing" in capsys.readouterr().out


def test_stop_and_identify_style_actions_declare_safe_and_idempotent() -> None:
    from things.openflexure.sangaboard import Sangaboard
    from things.scpi import ScpiInstrument

    simulated = {cls.__name__: cls for cls in SHIPPED}
    identify = served_model(simulated["SimulatedMeter"], BASE)["actions"]["identify"]
    assert (identify["safe"], identify["idempotent"]) == (True, True)
    stage = served_model(Sangaboard, BASE)["actions"]
    assert (stage["stop"]["safe"], stage["stop"]["idempotent"]) == (False, True)
    assert stage["move_relative"]["idempotent"] is False  # moving twice moves twice
    scpi = served_model(ScpiInstrument, BASE)["actions"]
    assert scpi["reset"]["idempotent"] is True and scpi["clear_status"]["idempotent"] is True
