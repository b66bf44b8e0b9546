"""Nothing is lost: unread finished records outlive bursts; read ones are evicted first."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest

import wot_labthing as wl

from ..conftest import Serve
from .conftest import Lab


async def finish_all(servient: wl.Servient, invocations: list[wl.Invocation]) -> None:
    for invocation in invocations:
        assert await servient.invocations.wait(invocation, 20)


async def test_read_records_are_evicted_before_unread_ones(serve: Serve, lab: Lab) -> None:
    settings = wl.ServientSettings(action_max_records=4)
    async with serve([lab], settings) as (server, client):
        hrefs = [
            (await client.post("things/lab/actions/double", json={"x": x})).json()["href"]
            for x in range(4)
        ]
        # the POSTs answered completed records: those clients have read them; run two more
        # via the API (nobody reads them) and two of the read ones must make room
        servient = server.servient
        unread = [servient.invoke_action("lab", "double", {"x": 9}) for _ in range(2)]
        await finish_all(servient, unread)
        statuses = [(await client.get(href)).status_code for href in hrefs]
        assert statuses == [404, 404, 200, 200], "the oldest read records went first"
        for invocation in unread:
            assert (await client.get(f"actions/{invocation.id}")).status_code == 200


async def test_evicting_unread_records_is_logged_once(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    settings = wl.ServientSettings(action_max_records=3)
    async with wl.Servient([lab], settings=settings) as servient:
        runs = []
        for x in range(6):  # one after the other: each sync run has its own thread
            runs.append(servient.invoke_action("lab", "double", {"x": x}))
            await finish_all(servient, runs[-1:])
        kept = [run.id for run in servient.invocations.list()]
        assert kept == [run.id for run in reversed(runs[3:])], "the oldest went first"
    warnings = [r for r in caplog.records if "no client has read" in r.getMessage()]
    assert len(warnings) == 1


async def test_unread_records_are_kept_until_the_retention_time(lab: Lab) -> None:
    settings = wl.ServientSettings(action_retention=60)
    async with wl.Servient([lab], settings=settings) as servient:
        runs = [servient.invoke_action("lab", "double", {"x": x}) for x in range(3)]
        await finish_all(servient, runs)
        manager = servient.invocations
        ended = max(run.time_ended for run in runs if run.time_ended is not None)
        assert manager.expire(ended + timedelta(seconds=59)) == 0
        assert len(manager.list()) == 3
        assert manager.expire(ended + timedelta(seconds=60)) == 3
        assert manager.list() == []
        with pytest.raises(wl.NotFoundError):
            manager.get(runs[0].id)


async def test_pending_and_running_records_are_never_evicted(lab: Lab) -> None:
    settings = wl.ServientSettings(action_max_records=2)
    async with wl.Servient([lab], settings=settings) as servient:
        lab.release.clear()
        long = [servient.invoke_action("lab", "guarded", None) for _ in range(3)]
        quick = servient.invoke_action("lab", "double", {"x": 1})
        await finish_all(servient, [quick])
        ids = {run.id for run in servient.invocations.list()}
        assert {run.id for run in long} <= ids
        lab.release.set()
        await finish_all(servient, long)


async def test_default_settings_hold_a_10000_run_burst_with_nothing_lost(lab: Lab) -> None:
    async with wl.Servient([lab]) as servient:
        runs = [servient.invoke_action("lab", "sleeper", {"seconds": 0}) for _ in range(10_000)]
        await finish_all(servient, runs)
        for run in runs:
            assert servient.invocations.get(run.id).status == "completed"


async def test_a_finished_record_drops_what_it_does_not_show(lab: Lab) -> None:
    async with wl.Servient([lab]) as servient:
        run = servient.invoke_action("lab", "fail", None)
        await finish_all(servient, [run])
        await asyncio.sleep(0)  # let the task's done callback run
        assert run.task is None and run.arguments is None
        assert run._finished_event is None and run._abort_hooks is None
        assert run.exception is not None and run.exception.__traceback__ is None
        assert run.as_record()["error"]["detail"] == "kaput"


async def test_eviction_keeps_at_most_max_records_whatever_the_burst(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    settings = wl.ServientSettings(action_max_records=100)
    async with wl.Servient([lab], settings=settings) as servient:
        runs = [servient.invoke_action("lab", "sleeper", {"seconds": 0}) for _ in range(1000)]
        await finish_all(servient, runs)
        manager = servient.invocations
        assert len(manager.list()) == 100
        assert len(manager._retention.finished) == 100 and len(manager._retention.read) == 0
