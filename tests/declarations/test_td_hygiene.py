"""Item 8: TD description from the docstring without Args:, and ``td`` without the instrument."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import wot_labthing as wl
from wot_labthing._td import interaction_model, validate_td


class Documented(wl.Thing):
    """A heater controller on a serial line.

    It ramps and holds a temperature; the setpoint
    is kept in EEPROM.

    Args:
        port: the serial device, e.g. /dev/ttyUSB7.
        baudrate: bits per second.

    Attributes:
        secret_path: /srv/internal/heater.cfg

    Units are degrees Celsius.
    """

    def __init__(self, port: str, baudrate: int = 9600, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.port = port


def test_description_is_summary_and_body_without_args_or_attributes() -> None:
    description = interaction_model(Documented("/dev/ttyUSB7"))["description"]
    assert description == (
        "A heater controller on a serial line.\n\n"
        "It ramps and holds a temperature; the setpoint is kept in EEPROM.\n\n"
        "Units are degrees Celsius."
    )


def test_constructor_arguments_never_appear_in_a_td() -> None:
    text = json.dumps(interaction_model(Documented("/dev/ttyUSB7")))
    assert "ttyUSB7" not in text and "/srv/internal" not in text and "baudrate" not in text


MODULE = '''
import wot_labthing as wl


class Probe(wl.Thing):
    """A probe that would need its port to be built.

    Args:
        port: where it is.
    """

    def __init__(self, port: str) -> None:
        raise RuntimeError("the constructor must not run for a TD")

    @wl.property
    def value(self) -> float:
        """The value."""
        raise RuntimeError("nothing may be read for a TD")
'''


def run_td(target: str, cwd: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-m", "wot_labthing", "td", target],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    td: dict[str, object] = json.loads(done.stdout)
    assert validate_td(td) == []
    return td


def test_td_of_a_shipped_driver_from_any_directory_without_the_instrument(tmp_path: Path) -> None:
    td = run_td("things.openflexure.sangaboard:Sangaboard", tmp_path)
    assert td["title"] == "Sangaboard" and "Args" not in str(td["description"])
    td = run_td("things.keysight.dmm34401a:Keysight34401A", tmp_path)
    assert "port" not in str(td["description"])


def test_td_of_a_file_elsewhere_without_running_its_constructor(tmp_path: Path) -> None:
    folder = tmp_path / "lab"
    folder.mkdir()
    (folder / "probe.py").write_text(textwrap.dedent(MODULE))
    td = run_td("lab/probe.py:Probe", tmp_path)
    assert td["description"] == "A probe that would need its port to be built."
    td = run_td("probe:Probe", folder)
    assert td["title"] == "Probe"
