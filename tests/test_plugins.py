"""Drivers and simulators named as module:Class next to a config, or by entry-point name."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import wot_labthing as wl
from wot_labthing._config import build_things, load_config
from wot_labthing._plugins import SIMULATORS_GROUP, THINGS_GROUP, installed, load_class
from wot_labthing._simulators import start_simulators, stop_simulators

LAB_MODULE = '''
from collections.abc import Callable

import wot_labthing as wl


class Echo(wl.LineSimulator):
    """Answers every line with itself, upper-cased."""

    name = "echo"

    def handle(self, line: str, reply: Callable[[str], None]) -> None:
        reply(line.upper())


class Shouter(wl.SerialThing):
    """Sends a word, reads it back louder."""

    @wl.property
    def loud(self) -> str:
        """The echoed word."""
        return self.transport.query("hello")


class NotASimulator:
    pass
'''


def test_config_names_its_own_simulator_and_driver_as_module_class(tmp_path: Path) -> None:
    (tmp_path / "lab_echo.py").write_text(textwrap.dedent(LAB_MODULE))
    (tmp_path / "lab.toml").write_text(
        '[[simulators]]\nname = "e"\nsimulator = "lab_echo:Echo"\n'
        '[[things]]\nclass = "lab_echo:Shouter"\nname = "shout"\n'
        'kwargs = { port = "simulator:e" }\n'
    )
    config = load_config(tmp_path / "lab.toml")
    endpoints = start_simulators(config)
    try:
        (thing,) = build_things(config)
        try:
            assert thing.loud == "HELLO"  # type: ignore[attr-defined]
        finally:
            thing.close()
    finally:
        stop_simulators(endpoints)


def test_a_class_of_the_wrong_kind_is_refused(tmp_path: Path) -> None:
    (tmp_path / "lab_echo2.py").write_text(textwrap.dedent(LAB_MODULE))
    with pytest.raises(wl.ConfigError, match=r"is not a wot_labthing\.LineSimulator subclass"):
        load_class(
            "lab_echo2:NotASimulator",
            group=SIMULATORS_GROUP,
            base=wl.LineSimulator,
            directory=tmp_path,
        )


def test_unknown_names_list_the_installed_ones() -> None:
    with pytest.raises(wl.ConfigError, match=r"no driver named 'nope' is installed \(installed: "):
        load_class("nope", group=THINGS_GROUP, base=wl.Thing, directory=None)


def test_the_shipped_package_registers_its_drivers_and_simulators() -> None:
    drivers = {plugin.name: plugin.target for plugin in installed(THINGS_GROUP)}
    simulators = {plugin.name: plugin.target for plugin in installed(SIMULATORS_GROUP)}
    assert drivers["sangaboard"] == "things.openflexure.sangaboard:Sangaboard"
    assert drivers["keysight-34401a"] == "things.keysight.dmm34401a:Keysight34401A"
    assert simulators["34401a"] == "things.simulators.dmm34401a:Dmm34401aSimulator"
    cls = load_class("sangaboard", group=THINGS_GROUP, base=wl.Thing, directory=None)
    assert cls.__name__ == "Sangaboard"


def test_the_library_does_not_import_things() -> None:
    """Every library module loads without the things package (its only link is pyproject)."""
    code = (
        "import importlib, pkgutil, sys, wot_labthing\n"
        "for info in pkgutil.walk_packages(wot_labthing.__path__, 'wot_labthing.'):\n"
        "    if not info.name.endswith('__main__'): importlib.import_module(info.name)\n"
        "from wot_labthing._cli import build_parser; build_parser()\n"
        "leaked = sorted(name for name in sys.modules if name.split('.')[0] == 'things')\n"
        "assert not leaked, leaked\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
