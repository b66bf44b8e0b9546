"""The blocking facade, against the servient as users run it (a separate process)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

import wot_labthing as wl
from wot_labthing._consumed import SyncConsumedThing, consume_sync
from wot_labthing._consumed.sync import Portal

from ..conftest import demo_servient


@pytest.fixture(scope="module")
def stage_url() -> Iterator[str]:
    with demo_servient(config="examples/simulated.toml") as (_, urls):
        yield next(url for url in urls if url.endswith("/stage"))


@pytest.fixture
def stage(stage_url: str) -> Iterator[SyncConsumedThing]:
    with consume_sync(stage_url) as thing:
        yield thing


def test_updates_cancel_and_observe(stage: SyncConsumedThing) -> None:
    stage.write_property("speed", 1000)
    start = stage.read_property("position")[0]
    with stage.observe_property("position") as positions:
        handle = stage.start_action("move_to", {"x": start + 20000, "y": 0})
        assert positions.next(10)[0] > start
        records = []
        for record in handle.updates():
            records.append(record)
            if len(records) == 3:
                break
        assert handle.status == "running" and 0 < (handle.progress or 0) < 100
        handle.cancel()
        with pytest.raises(wl.RemoteError, match="cancelled"):
            handle.wait(10)
    assert handle.cancelled
    assert stage.read_property("position")[0] < start + 20000


def test_invoke_action_timeout_and_errors(stage: SyncConsumedThing) -> None:
    stage.write_property("speed", 1000)
    start = stage.read_property("position")[0]
    with pytest.raises(wl.ActionTimeoutError):
        stage.invoke_action("move_to", {"x": start + 5000, "y": 0}, timeout=1.2)
    with pytest.raises(wl.InputError):
        stage.write_property("speed", -1)


@pytest.mark.allow_blocking  # a notebook cell blocks its loop while the facade works
async def test_works_inside_a_running_event_loop(stage_url: str) -> None:
    """Notebooks run a loop in the main thread; the facade keeps its own in a thread."""
    with consume_sync(stage_url) as stage:
        assert isinstance(stage.read_property("speed"), float)


def test_close_is_idempotent_and_stops_the_thread(stage_url: str) -> None:
    before = {thread.name for thread in threading.enumerate()}
    stage = consume_sync(stage_url)
    stage.read_property("position")
    stage.close()
    stage.close()
    assert {thread.name for thread in threading.enumerate()} <= before
    with pytest.raises(RuntimeError, match="closed"):
        stage.read_property("position")


def test_an_interrupted_call_has_stopped_when_it_raises() -> None:
    portal = Portal()
    stopped = threading.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            stopped.set()

    try:
        with pytest.raises(TimeoutError):
            portal.call(slow(), timeout=0.05)
        assert stopped.is_set()
        assert portal.call(asyncio.sleep(0, "still usable")) == "still usable"
    finally:
        portal.close()


def test_a_script_that_never_closes_still_exits(stage_url: str) -> None:
    """The portal thread is a daemon: forgetting close() must not hang the interpreter."""
    code = (
        f"import wot_labthing as wl\nprint(wl.consume_sync({stage_url!r}).read_property('speed'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert float(done.stdout)
