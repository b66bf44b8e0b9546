"""A Thing and SSE helpers shared by the observation tests."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
from httpx_sse import aconnect_sse

import wot_labthing as wl


class Sensor(wl.Thing):
    """A sensor whose value changes from Python, from threads and over HTTP."""

    value: int = wl.property(default=0, observable=True, description="The value.")
    level: float = wl.property(default=0.0, observable=True, description="A float level.")
    quiet: int = wl.property(default=0, observable=False, description="Not observable.")
    alarm = wl.event(data=str, description="An alarm message.")
    tick = wl.event(data=int, description="A counter.")

    @wl.action
    def ramp(self, steps: int = 5) -> int:
        """Report progress in ``steps`` steps."""
        for step in range(steps):
            wl.update_task_progress(100 * step / steps)
            wl.cancellable_sleep(0.02)
        return steps

    @wl.action
    def burst(self, count: int = 20) -> int:
        """Change ``value`` and emit ``alarm`` ``count`` times, as fast as possible."""
        for index in range(1, count + 1):
            self.value = index
            self.alarm.emit(f"alarm {index}")
        return count


async def sse_events(
    client: httpx.AsyncClient, path: str, count: int, headers: dict[str, str] | None = None
) -> list[tuple[str, str, Any]]:
    """The first ``count`` SSE messages on ``path`` as (id, event, data) tuples."""
    got: list[tuple[str, str, Any]] = []
    async with aconnect_sse(client, "GET", path, headers=dict(headers or {})) as source:
        assert source.response.status_code == 200
        assert source.response.headers["content-type"].startswith("text/event-stream")
        async for event in source.aiter_sse():
            got.append((event.id, event.event, json.loads(event.data)))
            if len(got) == count:
                break
    return got


async def eventually(predicate: Callable[[], bool], what: str, timeout: float = 5) -> None:
    """Wait until ``predicate()`` holds (no fixed sleeps); fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.01)


def subscribers(server: Any, count: int) -> tuple[Callable[[], bool], str]:
    """Arguments for :func:`eventually`: the server's hub has ``count`` subscribers."""
    return (lambda: server.servient.hub.subscriber_count == count), f"{count} subscribers"
