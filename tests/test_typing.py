"""Type checkers see what a Thing's user sees: property values and plain methods."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent

SAMPLE = '''
import wot_labthing as wl

class Stage(wl.Thing):
    """A stage."""

    speed: float = wl.property(default=1.0, minimum=0)

    @wl.property(observable=True)
    def position(self) -> list[int]:
        """Where it is."""
        return [0, 0, 0]

    @wl.property
    def label(self) -> str:
        """A label."""
        return "x"

    @label.setter
    def _set_label(self, value: str) -> None:
        self.written = value

    @wl.action
    def move(self, x: int) -> list[int]:
        """Move."""
        return [x, 0, 0]

    @wl.action(exclusive=True)
    def home(self) -> None:
        """Home."""

stage = Stage()
reveal_type(stage.speed)
reveal_type(stage.position)
reveal_type(stage.label)
reveal_type(stage.move)
reveal_type(stage.home)
stage.label = "y"
'''


def test_a_setter_under_its_own_name_is_the_same_property() -> None:
    namespace: dict[str, object] = {}
    exec(SAMPLE.replace("reveal_type", "print"), namespace)
    stage, cls = namespace["stage"], namespace["Stage"]
    assert stage.written == "y"  # type: ignore[attr-defined]
    assert list(cls.properties) == ["speed", "position", "label"]  # type: ignore[attr-defined]
    assert not cls.properties["label"].read_only  # type: ignore[attr-defined]


def test_mypy_strict_sees_value_types_and_methods(tmp_path: Path) -> None:
    # a misspelled name is an error, not Any (the lazy-import __getattr__ is hidden)
    (tmp_path / "sample.py").write_text(SAMPLE + "wl.Thingg\n")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "sample.py"],
        cwd=tmp_path,
        env={**os.environ, "MYPYPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    revealed = [
        line.split("Revealed type is ", 1)[1]
        for line in result.stdout.splitlines()
        if "Revealed type is" in line
    ]
    assert revealed == [
        '"float"',
        '"list[int]"',
        '"str"',
        '"def (x: int) -> list[int]"',
        '"def ()"',
    ], result.stdout
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1 and 'has no attribute "Thingg"' in errors[0], errors
