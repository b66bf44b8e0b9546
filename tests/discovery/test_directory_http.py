"""Discovery's directory reading against the real HTTP binding (loopback, no mDNS)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import wot_labthing as wl
from wot_labthing._discovery.browser import _Discovery, _merge, _Service


class Lamp(wl.Thing):
    """A lamp on the bench."""

    on: bool = wl.property(default=False, description="Whether it is lit.")


async def test_the_servient_directory_yields_each_thing_with_its_td_url(
    serve: Callable[..., Any],
) -> None:
    things = [Lamp(name="left", title="Left lamp"), Lamp(name="right", title="Right lamp")]
    async with serve(things) as (server, client):
        discovery = _Discovery(client)
        await discovery.service(_Service("Directory", [f"{server.url}.well-known/wot"]))
        listed = _merge(discovery.found)
        assert [(t.title, t.td_url, t.via) for t in listed] == [
            ("Left lamp", f"{server.url}things/left", f"{server.url}.well-known/wot"),
            ("Right lamp", f"{server.url}things/right", f"{server.url}.well-known/wot"),
        ]
        assert all(t.problems == [] and t.description == "A lamp on the bench." for t in listed)
        # the same Things advertised directly as well: still one entry each, the direct one
        await discovery.service(_Service("Thing", [f"{server.url}things/left"]))
        merged = _merge(discovery.found)
        assert [(t.title, t.via) for t in merged] == [
            ("Left lamp", None),
            ("Right lamp", listed[1].via),
        ]
