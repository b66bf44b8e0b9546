"""Every Thing class shipped in things/: a valid TD, and every affordance described."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from typing import Any

import pytest

import things
import wot_labthing as wl
from wot_labthing._http.forms import thing_description


def _shipped_thing_classes() -> list[type[wl.Thing]]:
    found: dict[str, type[wl.Thing]] = {}
    for module_info in pkgutil.walk_packages(things.__path__, prefix="things."):
        if module_info.name.startswith("things.simulators"):
            continue
        module = importlib.import_module(module_info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, wl.Thing) and value.__module__ == module.__name__:
                found[f"{value.__module__}:{value.__qualname__}"] = value
    return [found[key] for key in sorted(found)]


SHIPPED = _shipped_thing_classes()


def test_things_ships_the_drivers() -> None:
    names = {cls.__name__ for cls in SHIPPED}
    assert {"Sangaboard", "ScpiInstrument", "Keysight34401A"} <= names


@pytest.mark.parametrize("cls", SHIPPED, ids=lambda cls: cls.__qualname__)
def test_td_is_valid_and_described(
    cls: type[wl.Thing], assert_valid_td: Callable[[dict[str, Any]], None]
) -> None:
    # Building a driver does no I/O: the port opens on first use, so loop:// is enough.
    thing = cls(port="loop://")  # type: ignore[call-arg]
    td = thing_description(thing, "http://localhost:8080/")
    assert_valid_td(td)
    assert td.get("description"), f"{cls.__qualname__} has no description (class docstring)"
    for kind in ("properties", "actions", "events"):
        for name, affordance in td.get(kind, {}).items():
            assert affordance.get("description"), f"{kind}.{name} of {cls.__qualname__}"
