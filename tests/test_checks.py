"""The suite's own guards (tests/conftest.py): a leaked thread or a blocked loop fails a test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent

CASES = """
import asyncio
import threading
import time

import pytest

import tests.conftest
import wot_labthing._context as context

tests.conftest.THREAD_GRACE = 0.5


def test_leaks_a_thread():
    threading.Thread(target=time.sleep, args=(3,), name="leaky", daemon=False).start()


def test_joins_its_thread():
    thread = threading.Thread(target=time.sleep, args=(0.01,), daemon=False)
    thread.start()


async def test_blocks_the_loop():
    context.cancellable_sleep(0.01)  # library code sleeping on the event loop


@pytest.mark.allow_blocking
async def test_blocks_the_loop_on_purpose():
    context.cancellable_sleep(0.01)


async def test_sleeps_in_a_worker():
    await asyncio.to_thread(context.cancellable_sleep, 0.01)
"""


def test_the_guards_catch_leaked_threads_and_blocking_calls(tmp_path: Path) -> None:
    (tmp_path / "test_cases.py").write_text(CASES)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.conftest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-n",
            "0",
            "--rootdir",
            str(ROOT),
            "-c",
            str(ROOT / "pyproject.toml"),
            "-o",
            "timeout=60",
            "-o",
            "python_files=test_*.py",
            str(tmp_path / "test_cases.py"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = done.stdout
    assert "ERROR" in out and "test_leaks_a_thread" in out, out
    assert "non-daemon threads running: ['leaky']" in out, out
    assert "FAILED" in out and "test_blocks_the_loop " in out + " ", out
    assert "BlockingError: Blocking call to time.sleep" in out, out
    assert "4 passed" in out and "1 failed" in out and "1 error" in out, out


def test_scripts_check_lints_and_types_every_python_script() -> None:
    """A script without a .py suffix is Python all the same: scripts/check must cover it."""
    scripts = [
        path
        for path in sorted((ROOT / "scripts").iterdir())
        if path.suffix != ".py" and path.read_text().startswith("#!/usr/bin/env python")
    ]
    assert scripts, "scripts/security-check at least"
    linted = subprocess.run(
        [str(ROOT / ".venv/bin/ruff"), "check", "--show-files", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    check = (ROOT / "scripts" / "check").read_text()
    mypy = next(line for line in check.splitlines() if line.startswith(".venv/bin/mypy "))
    for script in scripts:
        assert str(script) in linted, f"ruff does not lint {script.name}"
        assert f"scripts/{script.name}" in mypy.split(), f"mypy does not check {script.name}"
