"""node-wot 0.9.2 across expired long-poll holds: it polls again, its listener sees only values.

The servient's hold is short (``longpoll_hold``), so node-wot's GETs expire several
times before anything changes. An expired hold answers a redirect to poll again
(``_http/longpoll.py``), which node-fetch follows by itself: the listener is only
called for real values. (A 204 reached the listener as a value whose ``value()``
throws.)
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from quart import Response, request

import wot_labthing as wl
from wot_labthing._http import longpoll

from ..conftest import INTEROP_DIR, ensure_node_modules, require_node, serving
from ..waiting import eventually

#: Seconds each held GET lasts here (the default is 3000).
HOLD = 0.3
#: Expired holds per affordance to see before changing anything.
EXPIRIES = 3


class Counter(wl.Thing):
    """A count that only the test changes."""

    count: int = wl.property(default=0, minimum=0, observable=True, description="The count.")
    counted = wl.event(data=int, description="Emitted with the new count.")


async def test_nodewot_polls_again_after_expired_holds_and_sees_only_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    node = require_node()
    ensure_node_modules()
    expired: list[str] = []
    answer = longpoll._expired

    async def counted(*args: Any) -> Response:  # the real answer; only noting which ran out
        expired.append(request.path)
        return await answer(*args)

    monkeypatch.setattr(longpoll, "_expired", counted)
    counter = Counter(name="counter")
    settings = wl.ServientSettings(longpoll_hold=HOLD)
    async with serving([counter], settings) as (server, _):
        process = await asyncio.create_subprocess_exec(
            node,
            str(INTEROP_DIR / "observe_hold_nodewot.js"),
            server.url + "things/counter",
            "count",
            "counted",
            cwd=INTEROP_DIR,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            assert process.stdout is not None and process.stderr is not None
            first = await asyncio.wait_for(process.stdout.readline(), 60)
            assert first == b"subscribed\n", first + await process.stderr.read()

            def each_expired() -> bool:
                property_path = "/things/counter/properties/count/observable"
                event_path = "/things/counter/events/counted"
                return (
                    expired.count(property_path) >= EXPIRIES
                    and expired.count(event_path) >= EXPIRIES
                )

            def ended() -> bool:  # a listener call for an expired hold ends the script early
                return process.returncode is not None

            await eventually(
                lambda: each_expired() or ended(), f"{EXPIRIES} expired holds of each", timeout=30
            )
            counter.count = 5
            counter.counted.emit(5)
            output, errors = await asyncio.wait_for(process.communicate(), 60)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    lines = [json.loads(line) for line in output.decode().splitlines() if line.startswith("{")]
    assert process.returncode == 0 and len(lines) == 1, (output, errors[-2000:])
    (report,) = lines
    assert report == {"values": [{"value": 5}], "events": [{"value": 5}], "errors": []}
