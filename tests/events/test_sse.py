"""SSE per the WoT HTTP SSE Profile: framing, replay, streams, keep-alive, cap, shutdown."""

from __future__ import annotations

import asyncio
import math
import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest

import wot_labthing as wl
from wot_labthing._events import Delivery, Message
from wot_labthing._http import sse as observe

from ..conftest import Serve
from .conftest import Sensor, eventually, sse_events, subscribers


async def test_profile_framing_for_python_http_and_thread_changes(serve: Serve) -> None:
    sensor = Sensor(name="s")
    async with serve([sensor]) as (server, client):
        listener = asyncio.create_task(sse_events(client, "things/s/properties/value/sse", 3))
        await eventually(*subscribers(server, 1))
        sensor.value = 1
        assert (await client.put("things/s/properties/value", json=2)).status_code == 204
        thread = threading.Thread(target=lambda: setattr(sensor, "value", 3))
        thread.start()
        thread.join()
        events = await asyncio.wait_for(listener, 5)
        assert [(name, data) for _, name, data in events] == [
            ("value", 1),
            ("value", 2),
            ("value", 3),
        ]
        ids = [datetime.fromisoformat(event_id) for event_id, _, _ in events]
        assert ids == sorted(set(ids)), "a unique, increasing timestamp per change"


async def test_raw_frames_are_id_event_data_lines(serve: Serve) -> None:
    sensor = Sensor(name="s")
    async with serve([sensor]) as (_, client):
        async with client.stream("GET", "things/s/properties/level/sse") as response:
            assert response.headers["cache-control"] == "no-cache"
            lines = response.aiter_lines()
            assert (await anext(lines)).startswith(":"), "a comment opens the stream at once"
            sensor.level = 0.5
            frame: list[str] = []
            async for line in lines:
                if line == "" and frame:
                    break
                if line:
                    frame.append(line)
        assert frame[0].startswith("id: ")
        # the HTTP SSE Profile's recommended id: the change time, RFC 3339 UTC
        changed = datetime.fromisoformat(frame[0][4:])
        assert frame[0].endswith("Z") and abs(changed - datetime.now(UTC)) < timedelta(minutes=1)
        assert frame[1:] == ["event: level", "data: 0.5"]


def test_a_gap_is_marked_by_a_comment_before_the_next_event() -> None:
    message = Message(7, "s", "property", "value", 3, "3")
    framed = observe._frame(Delivery(message, dropped=5)).decode()
    stamp = "1970-01-01T00:00:00.000007Z"
    assert framed == f": dropped 5 messages\nid: {stamp}\nevent: value\ndata: 3\n\n"
    assert observe._frame(Delivery(message)) == f"id: {stamp}\nevent: value\ndata: 3\n\n".encode()


async def test_last_event_id_replays_missed_changes(serve: Serve) -> None:
    sensor = Sensor(name="s")
    async with serve([sensor]) as (server, client):
        first = asyncio.create_task(sse_events(client, "things/s/properties/value/sse", 1))
        await eventually(*subscribers(server, 1))
        sensor.value = 10
        ((last_id, _, _),) = await first
        sensor.value = 11  # nobody is listening now
        sensor.level = 1.5  # another property: not replayed on this stream
        sensor.value = 12
        replay = await sse_events(
            client, "things/s/properties/value/sse", 2, headers={"Last-Event-ID": last_id}
        )
        assert [data for _, _, data in replay] == [11, 12]
        assert all(event_id > last_id for event_id, _, _ in replay)  # RFC 3339: sortable


async def test_events_and_all_properties_streams(serve: Serve) -> None:
    sensor = Sensor(name="s")
    async with serve([sensor]) as (server, client):
        alarms = asyncio.create_task(sse_events(client, "things/s/events/alarm/sse", 1))
        events = asyncio.create_task(sse_events(client, "things/s/streams/events", 2))
        props = asyncio.create_task(sse_events(client, "things/s/streams/properties", 2))
        await eventually(*subscribers(server, 3))
        sensor.quiet = 5  # not observable: never streamed
        sensor.tick.emit(1)
        sensor.alarm.emit("too hot")
        sensor.value = 7
        sensor.level = 2.5
        assert [(n, d) for _, n, d in await alarms] == [("alarm", "too hot")]
        assert [(n, d) for _, n, d in await events] == [("tick", 1), ("alarm", "too hot")]
        assert [(n, d) for _, n, d in await props] == [("value", 7), ("level", 2.5)]
        with pytest.raises(wl.InputError):
            sensor.alarm.emit(42)
        assert (await client.get("things/s/properties/quiet/sse")).status_code == 404
        assert (await client.get("things/s/events/nope/sse")).status_code == 404


async def test_keep_alive_comments_on_an_idle_stream(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(observe, "KEEPALIVE", 0.05)
    async with serve([Sensor(name="s")]) as (_, client):
        async with client.stream("GET", "things/s/properties/value/sse") as response:
            text = ""
            async for chunk in response.aiter_text():
                text += chunk
                if text.count(": keep-alive\n\n") >= 2:
                    break
        assert response.headers["content-type"].startswith("text/event-stream")


async def test_stream_outlives_the_response_timeout(serve: Serve) -> None:
    sensor = Sensor(name="s")
    async with serve([sensor]) as (server, client):
        server.app.config["RESPONSE_TIMEOUT"] = 0.2
        listener = asyncio.create_task(sse_events(client, "things/s/properties/value/sse", 1))
        await eventually(*subscribers(server, 1))
        await asyncio.sleep(0.5)  # the point of the test: longer than the response timeout
        sensor.value = 4
        assert [data for _, _, data in await asyncio.wait_for(listener, 5)] == [4]


async def test_subscriber_cap_answers_503_and_disconnects_free_everything(serve: Serve) -> None:
    sensor = Sensor(name="s")
    settings = wl.ServientSettings(max_subscribers=2)
    async with serve([sensor], settings) as (server, client):
        hub = server.servient.hub
        assert hub.subscriber_count == 0
        streams = [
            asyncio.create_task(sse_events(client, "things/s/properties/value/sse", 1))
            for _ in range(2)
        ]
        await eventually(*subscribers(server, 2))
        assert hub.subscriber_count == 2
        refused = await client.get("things/s/properties/value/sse")
        assert refused.status_code == 503
        assert refused.headers["content-type"] == "application/problem+json"
        assert int(refused.headers["retry-after"]) >= 1
        sensor.value = 1
        await asyncio.gather(*streams)  # each client closes after one message
        await eventually(*subscribers(server, 0), timeout=10)
        again = asyncio.create_task(sse_events(client, "things/s/properties/value/sse", 1))
        await eventually(*subscribers(server, 1))
        sensor.value = 2
        assert [data for _, _, data in await asyncio.wait_for(again, 5)] == [2]


async def test_shutdown_closes_streams_cleanly() -> None:
    sensor = Sensor(name="s")
    server = wl.HttpServer(wl.Servient([sensor]), port=0)
    await server.start()
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        stream = asyncio.create_task(sse_events(client, "things/s/properties/value/sse", 5))
        await eventually(*subscribers(server, 1))
        sensor.value = 1
        await server.stop()
        received = await asyncio.wait_for(stream, 30)
        assert [data for _, _, data in received] == [1], "delivered, then a clean end"
        assert server.servient.hub.subscriber_count == 0


async def test_a_lagging_stream_gets_the_newest_values_and_a_marked_gap(serve: Serve) -> None:
    sensor = Sensor(name="s")
    async with serve([sensor]) as (server, client):
        server.servient.hub.queue_size = 2
        async with client.stream("GET", "things/s/properties/value/sse") as response:
            lines = response.aiter_lines()
            assert (await anext(lines)).startswith(":")
            for value in range(1, 11):  # all queued before the stream's task runs again
                sensor.value = value
            seen = []
            async for line in lines:
                if line.startswith((": dropped", "data:")):
                    seen.append(line)
                if line == "data: 10":
                    break
        assert seen == [": dropped 8 messages", "data: 9", "data: 10"]


async def test_a_value_json_cannot_carry_fails_at_the_assignment(serve: Serve) -> None:
    sensor = Sensor(name="s")
    async with serve([sensor]) as (server, client):
        listener = asyncio.create_task(sse_events(client, "things/s/properties/level/sse", 1))
        await eventually(*subscribers(server, 1))
        with pytest.raises(wl.InputError, match="'level'"):
            sensor.level = math.inf
        sensor.level = 1.25  # the stream is unharmed
        assert [data for _, _, data in await asyncio.wait_for(listener, 5)] == [1.25]
