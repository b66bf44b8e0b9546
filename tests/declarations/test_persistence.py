"""Item 4: persisted settings survive restarts, corrupt files, and SIGKILL mid-write."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import wot_labthing as wl
from wot_labthing._config import load_config
from wot_labthing._settings_store import SettingsStore
from wot_labthing._state import atomic_write_json, resolve_state_dir


class Oven(wl.Thing):
    """An oven with persisted settings."""

    setpoint: float = wl.property(default=20.0, minimum=0, maximum=300, persist=True)
    label: str = wl.property(default="oven", persist=True)
    volatile: int = wl.property(default=0)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seen_at_open: float | None = None
        self._fan = 1
        self.fan_writes: list[int] = []

    def open(self) -> None:
        self.seen_at_open = self.setpoint

    @wl.property(minimum=0, maximum=3, persist=True)
    def fan(self) -> int:
        """Fan speed, kept by the instrument (setter form)."""
        return self._fan

    @fan.setter
    def _set_fan(self, value: int) -> None:
        self.fan_writes.append(value)
        self._fan = value


def settings(tmp_path: Path) -> wl.ServientSettings:
    return wl.ServientSettings(state_dir=str(tmp_path / "state"), state_name="lab")


async def test_settings_survive_a_restart_and_are_restored_before_open(tmp_path: Path) -> None:
    oven = Oven(name="oven")
    async with wl.Servient([oven], settings=settings(tmp_path)) as servient:
        await servient.write_property("oven", "setpoint", 180)
        await servient.run_sync(setattr, oven, "label", "bakery")  # a Python write persists too
        await servient.write_property("oven", "fan", 2)
        await servient.write_property("oven", "volatile", 5)
    saved = json.loads(await asyncio.to_thread((tmp_path / "state" / "lab.json").read_text))
    assert saved == {
        "version": 1,
        "things": {"oven": {"setpoint": 180.0, "label": "bakery", "fan": 2}},
    }
    again = Oven(name="oven")
    async with wl.Servient([again], settings=settings(tmp_path)):
        assert again.seen_at_open == 180.0  # restored before open()
        assert (again.setpoint, again.label, again.fan, again.volatile) == (180.0, "bakery", 2, 0)
        assert again.fan_writes == [2]  # a setter-form value is written to the instrument


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"\xff\xfe", b"[1, 2]", b'{"version": 2, "things": {}}', b""],
)
async def test_a_corrupt_file_is_moved_aside_and_defaults_used(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state" / "lab.json"
    await asyncio.to_thread(path.parent.mkdir)
    await asyncio.to_thread(path.write_bytes, content)
    oven = Oven(name="oven")
    with caplog.at_level(logging.WARNING):
        async with wl.Servient([oven], settings=settings(tmp_path)):
            assert oven.setpoint == 20.0
    aside = await asyncio.to_thread(lambda: list(path.parent.glob("lab.json.corrupt-*")))
    assert len(aside) == 1 and await asyncio.to_thread(aside[0].read_bytes) == content
    assert "moved it to" in caplog.text and str(path) in caplog.text


async def test_a_value_that_no_longer_fits_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state" / "lab.json"
    saved = {"version": 1, "things": {"oven": {"setpoint": 999, "label": "x"}}}
    await asyncio.to_thread(atomic_write_json, path, saved)
    oven = Oven(name="oven")
    with caplog.at_level(logging.WARNING):
        async with wl.Servient([oven], settings=settings(tmp_path)):
            assert (oven.setpoint, oven.label) == (20.0, "x")
    assert "no longer fits" in caplog.text


def test_state_dir_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_state_dir(str(tmp_path)) == tmp_path
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_state_dir("~/s") == tmp_path / "s"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert resolve_state_dir(None) == tmp_path / "xdg" / "wot-labthing"


def test_config_state_dir_is_relative_to_the_config(tmp_path: Path) -> None:
    config = tmp_path / "bench.toml"
    config.write_text('[servient]\nstate_dir = "state"\n')
    loaded = load_config(config)
    assert loaded.settings.state_dir == str(tmp_path / "state")
    assert loaded.settings.state_name == "bench"


THING_MODULE = '''
import wot_labthing as wl


class Dial(wl.Thing):
    """A dial whose position persists."""

    position: int = wl.property(default=0, persist=True)
    note: str = wl.property(default="", persist=True)
'''


@pytest.mark.timeout(600)
def test_sigkill_during_a_storm_of_writes_always_leaves_a_loadable_file(tmp_path: Path) -> None:
    (tmp_path / "dialmod.py").write_text(textwrap.dedent(THING_MODULE))
    config = tmp_path / "dial.toml"
    config.write_text(
        '[servient]\nport = 0\nmdns = false\nstate_dir = "state"\nlog_level = "WARNING"\n\n'
        '[[things]]\nclass = "dialmod:Dial"\nname = "dial"\n'
    )
    path = tmp_path / "state" / "dial.json"
    rounds = int(os.environ.get("WOT_KILL_ROUNDS", "10"))
    highest = -1
    for round_number in range(rounds):
        process = subprocess.Popen(
            [sys.executable, "-m", "wot_labthing", "serve", str(config)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            url = _served_url(process)
            if round_number:  # what the previous (killed) run saved is back
                with httpx.Client(base_url=url) as client:
                    position = client.get("things/dial/properties/position").json()
                    assert position == json.loads(path.read_text())["things"]["dial"]["position"]
            # the kill lands in the middle of the storm, with writes in flight
            attempted, acknowledged = _storm(
                url,
                start=highest + 1,
                kill_after=random.randint(1, 60),
                kill=functools.partial(process.send_signal, signal.SIGKILL),
            )
            process.wait(10)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)
            assert process.stdout is not None
            process.stdout.close()
        assert acknowledged, f"round {round_number}: no write acknowledged of {len(attempted)}"
        loaded = SettingsStore(path).load()  # a torn file would be moved aside: it must not be
        assert not list(path.parent.glob("*.corrupt-*"))
        value = loaded["dial"]["position"]
        # Every acknowledged write was saved first; the file holds one of the last saves
        # (four writers race, and the kill may cut an answer after its save).
        assert value in attempted and value >= max(acknowledged) - 8
        writes = attempted
        highest = max(writes)
        leftovers = [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
        for leftover in leftovers:  # a temporary file a kill left behind is never loaded
            leftover.unlink()


def _served_url(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    for line in process.stdout:
        if line.startswith("wot-labthing serving on "):
            return line.removeprefix("wot-labthing serving on ").strip()
        if time.monotonic() > deadline:
            break
    raise AssertionError("the servient did not start")


def _storm(
    url: str, *, start: int, kill_after: int, kill: Callable[[], None]
) -> tuple[set[int], list[int]]:
    """Write increasing positions from 4 threads; ``kill`` after ``kill_after`` answers.

    The writers go on until the servient is dead.

    Returns every value sent and the values acknowledged (204).
    """
    attempted: set[int] = set()
    acknowledged: list[int] = []
    counter = iter(range(start, start + 10**9))
    lock = threading.Lock()

    def writer() -> None:
        with httpx.Client(base_url=url, timeout=5) as client:
            while True:
                with lock:
                    value = next(counter)
                    attempted.add(value)
                try:
                    answer = client.put("things/dial/properties/position", json=value)
                    client.put("things/dial/properties/note", json=f"note {value}")
                except httpx.HTTPError:
                    return  # killed
                if answer.status_code == 204:
                    with lock:
                        acknowledged.append(value)
                        if len(acknowledged) == kill_after:
                            kill()

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return attempted, acknowledged
