"""node-wot 0.9.2's observeProperty and subscribeEvent receive every change, in order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import wot_labthing as wl

from ..conftest import serving


class Counter(wl.Thing):
    """A counter that changes as fast as Python can change it."""

    count: int = wl.property(default=0, minimum=0, observable=True, description="The count.")
    counted = wl.event(data=int, description="Emitted after each change with the new count.")

    @wl.action
    def burst(self, count: int = 20) -> int:
        """Set ``count`` to 1..N and emit ``counted`` each time, without pausing."""
        for value in range(1, count + 1):
            self.count = value
            self.counted.emit(value)
        return count


async def test_nodewot_observes_and_subscribes_without_losing_a_change(
    run_node: Callable[..., Any],
) -> None:
    async with serving([Counter(name="counter")]) as (server, _):
        result = await asyncio.to_thread(
            run_node,
            "observe_nodewot.js",
            server.url + "things/counter",
            "count",
            "counted",
            "burst",
            "30",
        )
        assert server.servient.hub.subscriber_count <= 2, "buffers only linger for the grace"
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert result.returncode == 0 and len(lines) == 1, (result.stdout, result.stderr[-2000:])
    (report,) = lines
    assert report["forms"] == {
        "property": [None, None, "longpoll", "sse"],
        "event": ["longpoll", "sse"],
    }
    assert report["errors"] == []
    assert report["values"] == [*range(1, 31), 1000, 1001], "every change, in order"
    assert report["events"] == list(range(1, 31))
