"""Observe and subscribe forms: long poll first (node-wot), then SSE; TDs stay valid."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin

import wot_labthing as wl
from wot_labthing._http import longpoll as observe_module

from ..conftest import Serve
from .conftest import Sensor, eventually, sse_events

LONGPOLL = {"subprotocol": "longpoll"}


async def test_observe_and_subscribe_forms(
    serve: Serve, assert_valid_td: Callable[[dict[str, Any]], None]
) -> None:
    async with serve([Sensor(name="s")]) as (_, client):
        td = (await client.get("things/s")).json()
    assert_valid_td(td)
    value_forms = td["properties"]["value"]["forms"]
    observe = [form for form in value_forms if "observeproperty" in form["op"]]
    assert [form["subprotocol"] for form in observe] == ["longpoll", "sse"]
    longpoll, sse = observe
    assert longpoll["op"] == sse["op"] == ["observeproperty", "unobserveproperty"]
    assert "htv:methodName" not in longpoll, "node-wot would send its HEAD probe as GET"
    assert longpoll["href"] == "properties/value/observable"
    assert sse["htv:methodName"] == "GET" and sse["href"] == "properties/value/sse"
    assert sse["response"]["contentType"] == "text/event-stream"
    assert td["properties"]["value"]["observable"] is True
    quiet = td["properties"]["quiet"]
    assert not quiet.get("observable")
    assert all("observeproperty" not in form["op"] for form in quiet["forms"])
    alarm = td["events"]["alarm"]
    assert alarm["data"] == {"type": "string"}
    assert [form["subprotocol"] for form in alarm["forms"]] == ["longpoll", "sse"]
    assert [form["href"] for form in alarm["forms"]] == ["events/alarm", "events/alarm/sse"]
    assert all(f["op"] == ["subscribeevent", "unsubscribeevent"] for f in alarm["forms"])
    assert "htv:methodName" not in alarm["forms"][0]
    root = {form["op"][0]: form for form in td["forms"] if isinstance(form["op"], list)}
    assert root["observeallproperties"]["href"] == "streams/properties"
    assert root["observeallproperties"]["subprotocol"] == "sse"
    assert root["subscribeallevents"]["href"] == "streams/events"
    assert root["subscribeallevents"]["htv:methodName"] == "GET"


async def test_every_observe_form_works_from_the_td_alone(serve: Serve) -> None:
    sensor = Sensor(name="s")
    async with serve([sensor]) as (server, client):
        td = (await client.get("things/s")).json()
        forms = [
            form
            for table in ("properties", "events")
            for affordance in td.get(table, {}).values()
            for form in affordance["forms"]
            if "subprotocol" in form
        ] + [form for form in td["forms"] if "subprotocol" in form]
        assert len(forms) == 2 * 2 * 2 + 2
        for form in forms:
            url = urljoin(td["base"], form["href"])
            if form["subprotocol"] == "longpoll":
                head = await client.head(url)
                assert head.status_code == 202, url
            else:
                async with client.stream(form.get("htv:methodName", "GET"), url) as response:
                    assert response.status_code == 200, url
                    assert response.headers["content-type"].startswith("text/event-stream")
        hub = server.servient.hub

        def streams() -> int:  # the probes above left one long-poll buffer per longpoll form
            return hub.subscriber_count - observe_module.longpoll_count(server.app)

        await eventually(lambda: streams() == 0, "the streams above are closed")
        listener = asyncio.create_task(
            sse_events(client, urljoin(td["base"], "streams/properties"), 1)
        )
        await eventually(lambda: streams() == 1, "the stream subscribed")
        sensor.value = 3
        assert [(name, data) for _, name, data in await listener] == [("value", 3)]


async def test_a_thing_without_observables_offers_no_observe_root_forms(serve: Serve) -> None:
    class Plain(wl.Thing):
        """Nothing to observe."""

        x: int = wl.property(default=0, observable=False, description="A plain value.")

    async with serve([Plain(name="p")]) as (_, client):
        td = (await client.get("things/p")).json()
        ops = [op for form in td["forms"] for op in ops_of(form)]
        assert "observeallproperties" not in ops and "subscribeallevents" not in ops
        assert (await client.get("things/p/streams/properties")).status_code == 404
        assert (await client.get("things/p/streams/events")).status_code == 404


def ops_of(form: dict[str, Any]) -> list[str]:
    op = form["op"]
    return op if isinstance(op, list) else [op]
