"""docs/writing-a-driver.md, run block by block in order, as a reader would follow it.

The guide's fenced blocks are of four kinds, told apart by their info string and
first line:

- a ``python``/``toml`` block whose first line is ``# NAME`` (a file name) is saved
  as that file in a fresh directory; ``# NAME, continued`` appends to it (a class
  built up step by step);
- a ``pycon`` block is a Python session, run with :mod:`doctest` (sessions share
  their names until the next file changes; ``...`` in an output matches anything,
  and an exception matches by its class name);
- a ``console`` block holds ``$ command`` lines, each followed by what it prints
  (``...`` matches anything; lines it prints that are not shown may come in
  between). ``wot-labthing serve`` starts the servient in the background on a
  free port (``--port 0 --no-mdns`` are added) and waits until it is ready, and
  so does ``wot-labthing simulate``; the next of either stops what runs (Ctrl-C,
  as the guide says). The guide's
  ``http://127.0.0.1:8080/`` means the running servient's URL.

Any other block (``text``, ``sh`` without a prompt...) is prose. A command that
fails, a doctest mismatch or a pytest failure fails this test, naming the block.
"""

from __future__ import annotations

import doctest
import inspect
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import wot_labthing as wl

GUIDE = Path(__file__).parents[2] / "docs" / "writing-a-driver.md"
GUIDE_URL = "http://127.0.0.1:8080/"
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.M | re.S)
_FILE_LINE = re.compile(r"^# ([\w.-]+\.(?:py|toml))(, continued)?\s*$")


@dataclass
class Block:
    """One fenced block of the guide."""

    language: str
    text: str
    line: int

    @property
    def label(self) -> str:
        return f"{GUIDE.name}:{self.line} ({self.language} block)"


def blocks() -> list[Block]:
    source = GUIDE.read_text("utf-8")
    return [
        Block(match.group(1), match.group(2), source.count("\n", 0, match.start()) + 1)
        for match in _FENCE.finditer(source)
    ]


def _has_declarations() -> bool:
    """Whether polled observables and persisted settings (branch h-decl) are here."""
    from wot_labthing._affordances import PropertyAffordance

    parameters = inspect.signature(PropertyAffordance.__init__).parameters
    return "poll" in parameters and "persist" in parameters


class Background:
    """``wot-labthing serve`` or ``simulate`` in the background, as the guide's reader runs it."""

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str]) -> None:
        extra = ["--port", "0", "--no-mdns"] if command[1] == "serve" else []
        self.process = subprocess.Popen(
            [*command, *extra],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.printed: list[str] = []
        self.url = ""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.printed.append(line.rstrip("\n"))
            if line.startswith("wot-labthing serving on "):
                self.url = line.removeprefix("wot-labthing serving on ").strip()
            if line.startswith("ready"):
                break
        else:
            self.process.wait(timeout=20)
            raise AssertionError(f"{command} did not start:\n" + "\n".join(self.printed))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        finally:
            if self.process.stdout is not None:
                self.process.stdout.close()
        assert self.process.returncode == 0, f"{self.process.args!s} did not stop cleanly"


def _matches(expected: list[str], printed: str) -> bool:
    """Every expected line appears in order in ``printed`` (``...`` matches anything)."""
    lines = printed.splitlines()
    position = 0
    for wanted in expected:
        pattern = re.compile(".*".join(re.escape(part) for part in wanted.strip().split("...")))
        while position < len(lines) and not pattern.fullmatch(lines[position].strip()):
            position += 1
        if position == len(lines):
            return False
        position += 1
    return True


def _commands(block: Block) -> Iterator[tuple[str, list[str]]]:
    """``($ command, [expected output lines])`` pairs of a console block."""
    command: str | None = None
    expected: list[str] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            if command is not None:
                yield command, expected
            command, expected = line[2:], []
        elif line.strip() and command is not None:
            expected.append(line)
    if command is not None:
        yield command, expected


class Reader:
    """Follows the guide: a working directory, files, sessions, commands, a servient."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        bin_dir = str(Path(sys.executable).parent)
        self.env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
        self.servient: Background | None = None
        self.simulator: Background | None = None
        self.globs: dict[str, object] = {}

    def url(self, text: str) -> str:
        return text.replace(GUIDE_URL, self.servient.url) if self.servient else text

    def file(self, block: Block, name: str, continued: bool) -> None:
        path = self.directory / name
        body = block.text.split("\n", 1)[1] if "\n" in block.text else ""
        if continued:
            assert path.exists(), f"{block.label}: continues {name}, which no block started"
            body = path.read_text("utf-8") + "\n" + body
        path.write_text(body, "utf-8")
        # a changed module is imported afresh by the next session
        self.globs = {}
        sys.modules.pop(Path(name).stem, None)

    def session(self, block: Block) -> None:
        test = doctest.DocTestParser().get_doctest(
            self.url(block.text), self.globs, block.label, str(GUIDE), block.line
        )
        runner = doctest.DocTestRunner(
            optionflags=doctest.ELLIPSIS
            | doctest.IGNORE_EXCEPTION_DETAIL
            | doctest.NORMALIZE_WHITESPACE
        )
        report: list[str] = []
        runner.run(test, out=report.append)
        self.globs = test.globs
        assert runner.failures == 0, f"{block.label}:\n" + "".join(report)

    def console(self, block: Block) -> None:
        for command, expected in _commands(block):
            words = shlex.split(self.url(command))
            if words[:2] == ["wot-labthing", "serve"]:
                self.stop()
                self.servient = Background(words, self.directory, self.env)
                printed = "\n".join(self.servient.printed)
                ok = True
            elif words[:2] == ["wot-labthing", "simulate"]:
                self.stop()
                self.simulator = Background(words, self.directory, self.env)
                printed = "\n".join(self.simulator.printed)
                ok = True
            else:
                result = subprocess.run(
                    words,
                    cwd=self.directory,
                    env=self.env,
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                printed = result.stdout + result.stderr
                ok = result.returncode == 0 or any(line.startswith("error:") for line in expected)
            assert ok, f"{block.label}: `{command}` failed:\n{printed}"
            expected = [self.url(line) for line in expected]
            assert _matches(expected, printed), (
                f"{block.label}: `{command}` printed\n{printed}\nexpected\n" + "\n".join(expected)
            )

    def stop(self) -> None:
        """Ctrl-C whatever runs in the background."""
        for name in ("servient", "simulator"):
            running = getattr(self, name)
            setattr(self, name, None)
            if running is not None:
                running.stop()


def test_the_guide_has_every_kind_of_block() -> None:
    kinds = {block.language for block in blocks()}
    assert {"python", "toml", "pycon", "console"} <= kinds


def test_every_block_of_the_guide_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not _has_declarations():
        message = "the guide uses wl.property(poll=, persist=) from branch h-decl"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    reader = Reader(tmp_path)
    try:
        for block in blocks():
            first = block.text.split("\n", 1)[0]
            named = _FILE_LINE.match(first)
            if block.language in ("python", "toml") and named:
                reader.file(block, named.group(1), bool(named.group(2)))
            elif block.language == "pycon":
                reader.session(block)
            elif block.language == "console":
                reader.console(block)
    finally:
        reader.stop()
        for name in ("heater", "heater_sim", "test_heater"):
            sys.modules.pop(name, None)
    assert wl  # the guide's `import wot_labthing as wl` is the library under test
