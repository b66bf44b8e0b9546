"""Sync runs get a thread each (up to ``action_threads``); properties never wait for actions."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import wot_labthing as wl
from wot_labthing._problems import problem_type

from ..conftest import Serve
from ..waiting import eventually
from .conftest import assert_record, wait_status


class Hold(wl.Thing):
    """Sync actions and properties that block until released (an instrument that hangs)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.release = threading.Event()
        self.started = threading.Semaphore(0)
        self.getters_in = threading.Semaphore(0)

    @wl.action
    def hold(self) -> int:
        """Block (cancellably) until released."""
        self.started.release()
        while not self.release.is_set():
            wl.cancellable_sleep(0.01)
        return threading.get_ident()

    @wl.property
    def stuck(self) -> int:
        """A read that hangs on a silent device until released."""
        self.getters_in.release()
        self.release.wait(30)
        return 1

    @wl.property
    def ping(self) -> str:
        """Answers at once."""
        return "pong"

    @wl.action
    def instrument_times_out(self) -> None:
        """The instrument's own timeout, raised by a sync driver."""
        raise wl.InstrumentTimeoutError("no reply from the meter within 2 s")

    @wl.action
    async def instrument_times_out_async(self) -> None:
        """The same from an ``async def`` action."""
        raise wl.InstrumentTimeoutError("no reply within 2 s")


async def acquire(semaphore: threading.Semaphore, count: int, timeout: float = 20) -> None:
    for _ in range(count):
        assert await asyncio.to_thread(semaphore.acquire, True, timeout)


async def test_every_running_sync_run_has_its_own_thread(serve: Serve) -> None:
    """50 long sync runs at once: none waits for another (the old pool ran 8)."""
    thing = Hold(name="h")
    async with serve([thing]) as (_, client):
        runs = [
            (await client.post("things/h/actions/hold", headers={"Prefer": "respond-async"}))
            for _ in range(50)
        ]
        await acquire(thing.started, 50)  # all 50 bodies are running at the same time
        listing = (await client.get("actions", params={"action": "hold"})).json()
        assert [run["status"] for run in listing] == ["running"] * 50
        thing.release.set()
        names = set()
        for run in runs:
            record = await wait_status(client, run.headers["Location"], {"completed"})
            names.add(record["output"])
        assert len(names) == 50, "one thread per run"


async def test_past_the_thread_cap_a_run_is_pending_and_starts_when_a_thread_frees(
    serve: Serve,
) -> None:
    thing = Hold(name="h")
    async with serve([thing], wl.ServientSettings(action_threads=3)) as (server, client):
        servient = server.servient
        runs = [
            (await client.post("things/h/actions/hold", headers={"Prefer": "respond-async"}))
            for _ in range(4)
        ]
        await acquire(thing.started, 3)
        fourth = assert_record((await client.get(runs[3].headers["Location"])).json())
        assert fourth["status"] == "pending"
        assert "timeStarted" not in fourth
        assert servient.invocations.thread_count == 3
        assert servient.invocations.pending_count == 1
        # cancel one running run: its thread ends and the pending one gets it
        await client.delete(runs[0].headers["Location"])
        await acquire(thing.started, 1)
        assert (await client.get(runs[3].headers["Location"])).json()["status"] == "running"
        thing.release.set()
        for run in runs[1:]:
            await wait_status(client, run.headers["Location"], {"completed"})
        assert servient.invocations.pending_count == 0


async def test_a_thing_whose_instrument_hangs_never_delays_another_things_properties(
    serve: Serve,
) -> None:
    stuck, other = Hold(name="stuck"), Hold(name="other")
    settings = wl.ServientSettings(property_workers=2)
    async with serve([stuck, other], settings) as (_, client):
        hung = [asyncio.create_task(client.get("things/stuck/properties/stuck")) for _ in range(3)]
        await acquire(stuck.getters_in, 2)  # both of stuck's workers are blocked
        # another Thing answers at once, while every worker of the stuck one still hangs
        answer = await asyncio.wait_for(client.get("things/other/properties/ping"), 10)
        assert answer.json() == "pong"
        assert not any(task.done() for task in hung)
        stuck.release.set()
        assert [(await task).json() for task in hung] == [1, 1, 1]


async def test_a_flood_of_long_actions_never_delays_a_property_read(serve: Serve) -> None:
    thing = Hold(name="h")
    async with serve([thing], wl.ServientSettings(property_workers=1)) as (_, client):
        for _ in range(20):
            await client.post("things/h/actions/hold", headers={"Prefer": "respond-async"})
        await acquire(thing.started, 20)
        answer = await asyncio.wait_for(client.get("things/h/properties/ping"), 10)
        assert answer.json() == "pong"
        thing.release.set()


@pytest.mark.parametrize("action", ["instrument_times_out", "instrument_times_out_async"])
async def test_an_instruments_own_timeout_keeps_its_problem_type(serve: Serve, action: str) -> None:
    async with serve([Hold(name="h")]) as (_, client):
        response = await client.post(f"things/h/actions/{action}")
        record = assert_record(await wait_status(client, response.headers["Location"], {"failed"}))
        assert record["error"]["type"] == problem_type("instrument-timeout")
        assert "None" not in record["error"]["detail"]


class Ident(wl.Thing):
    """A quick sync action that says which thread ran it."""

    @wl.action
    def ident(self) -> int:
        """The id of the thread running this run."""
        return threading.get_ident()


async def test_quick_sync_runs_reuse_an_idle_thread_that_ends_at_shutdown() -> None:
    """A thread start per run blocked the loop; an idle thread takes the next run instead."""
    async with wl.Servient([Ident(name="i")]) as servient:
        runs = []
        for _ in range(3):  # one after the other: each finds the previous run's thread idle
            run = servient.invoke_action("i", "ident", {})
            assert await servient.invocations.wait(run, 20)
            assert run.status == "completed"
            runs.append(run)
        idents = {run.output for run in runs}
        assert len(idents) == 1, "a sync run after another ran on a new thread"
        thread = next(t for t in threading.enumerate() if t.ident in idents)
        assert thread.name.startswith("wot-action-") and thread.daemon
        assert thread.is_alive(), "the idle thread waits for the next run"
    await eventually(lambda: not thread.is_alive(), "the idle action thread to end at shutdown")
