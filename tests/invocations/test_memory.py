"""What a run keeps alive: neither its caller's context nor the HTTP request that started it.

A burst of 2,000 POSTs of long runs once held every request's objects (request,
contexts, hypercorn stream) for as long as the runs went on, or until a full garbage
collection: tens of MiB of peak RSS that the actions benchmark showed.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import weakref
from collections.abc import Iterator

import pytest
import quart
from hypercorn.protocol.http_stream import HTTPStream

import wot_labthing as wl

from ..conftest import Serve
from ..waiting import eventually
from .conftest import Lab

_caller = contextvars.ContextVar[object]("caller")


class _Marker:
    """Something only the caller's context refers to."""


@pytest.fixture
def no_cycle_collection() -> Iterator[None]:
    """Objects in reference cycles stay until a full collection: keep them, to see them."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _alive(kind: type) -> int:
    return sum(isinstance(thing, kind) for thing in gc.get_objects())


@pytest.mark.parametrize("action", ["guarded", "wait_async"])
async def test_a_running_run_does_not_keep_its_callers_context_alive(action: str) -> None:
    lab = _HeldLab(name="lab")
    async with wl.Servient([lab]) as servient:
        alive: list[weakref.ref[_Marker]] = []

        def invoke() -> wl.Invocation:
            marker = _Marker()
            alive.append(weakref.ref(marker))
            _caller.set(marker)
            return servient.invoke_action("lab", action, None)

        run = contextvars.copy_context().run(invoke)
        gc.collect()
        assert run.status in ("pending", "running")
        assert alive[0]() is None, "the run holds its caller's context"
        lab.release.set()
        await servient.wait_for_invocation(run, 10)
        assert run.status == "completed"


async def test_posted_runs_hold_no_request_objects_while_they_run(
    serve: Serve, no_cycle_collection: None
) -> None:
    lab = _HeldLab(name="lab")
    async with serve([lab]) as (server, client):
        for _ in range(20):
            answer = await client.post(
                "things/lab/actions/guarded", json=None, headers={"Prefer": "respond-async"}
            )
            assert answer.status_code == 201
        await client.aclose()  # no connection keeps a stream open either
        record = answer.json()
        assert record["status"] in ("pending", "running")
        # the closed connection's objects go when hypercorn has seen it close
        await eventually(lambda: _alive(HTTPStream) == 0, "no hypercorn stream alive")
        assert _alive(quart.Request) == 0
        lab.release.set()
        run = server.servient.query_action(record["id"])
        assert await server.servient.wait_for_invocation(run, 10)
        assert run.status == "completed"


class _HeldLab(Lab):
    @wl.action
    async def wait_async(self) -> None:
        """Wait for release without a thread."""
        while not self.release.is_set():  # noqa: ASYNC110 - a threading.Event, set by the test
            await asyncio.sleep(0.01)
