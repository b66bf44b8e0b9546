from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse

import wot_labthing as wl
from wot_labthing import _events
from wot_labthing._events import EventHub, topic_filter
from wot_labthing._http import observe


class Sensor(wl.Thing):
    """A sensor whose value changes from Python, from threads and over HTTP."""

    value: int = wl.property(default=0, observable=True, description="The value.")
    quiet: int = wl.property(default=0, description="Not observable.")
    alarm = wl.event(data=str, description="An alarm message.")

    @wl.action
    def ramp(self, steps: int = 5) -> int:
        """Set progress in steps."""
        for step in range(steps):
            wl.update_task_progress(100 * step / steps)
            wl.cancellable_sleep(0.02)
        return steps


async def sse_events(
    client: httpx.AsyncClient, path: str, count: int, headers: dict[str, str] | None = None
) -> list[Any]:
    got: list[Any] = []
    async with aconnect_sse(client, "GET", path, headers=dict(headers or {})) as source:
        assert source.response.headers["content-type"].startswith("text/event-stream")
        async for event in source.aiter_sse():
            got.append((event.id, event.event, json.loads(event.data)))
            if len(got) == count:
                break
    return got


async def test_sse_profile_framing_for_python_http_and_thread_changes(serve) -> None:
    sensor = Sensor(name="s")
    async with serve([sensor]) as (_, client):
        listener = asyncio.create_task(sse_events(client, "things/s/properties/value/sse", 3))
        await asyncio.sleep(0.2)
        sensor.value = 1
        await client.put("things/s/properties/value", json=2)
        thread = threading.Thread(target=lambda: setattr(sensor, "value", 3))
        thread.start()
        thread.join()
        events = await asyncio.wait_for(listener, 5)
        assert [(name, data) for _, name, data in events] == [
            ("value", 1),
            ("value", 2),
            ("value", 3),
        ]
        ids = [int(event_id) for event_id, _, _ in events]
        assert ids == sorted(set(ids))


async def test_last_event_id_replays_missed_changes(serve) -> None:
    sensor = Sensor(name="s")
    async with serve([sensor]) as (_, client):
        first = asyncio.create_task(sse_events(client, "things/s/properties/value/sse", 1))
        await asyncio.sleep(0.2)
        sensor.value = 10
        ((last_id, _, _),) = await first
        sensor.value = 11
        sensor.value = 12
        await asyncio.sleep(0.05)
        replay = await sse_events(
            client, "things/s/properties/value/sse", 2, headers={"Last-Event-ID": last_id}
        )
        assert [data for _, _, data in replay] == [11, 12]


async def test_events_and_all_properties_streams(serve) -> None:
    sensor = Sensor(name="s")
    async with serve([sensor]) as (_, client):
        alarms = asyncio.create_task(sse_events(client, "things/s/streams/events", 1))
        props = asyncio.create_task(sse_events(client, "things/s/streams/properties", 1))
        await asyncio.sleep(0.2)
        sensor.quiet = 5  # not observable: never streamed
        sensor.alarm.emit("too hot")
        sensor.value = 7
        assert [(n, d) for _, n, d in await alarms] == [("alarm", "too hot")]
        assert [(n, d) for _, n, d in await props] == [("value", 7)]
        with pytest.raises(wl.InputError):
            sensor.alarm.emit(42)
        assert (await client.get("things/s/properties/quiet/sse")).status_code == 404


async def test_long_poll_head_is_quick_and_get_loses_nothing(serve) -> None:
    sensor = Sensor(name="s")
    async with serve([sensor]) as (_, client):
        started = time.monotonic()
        head = await client.head("things/s/properties/value/observable")
        assert head.status_code == 202 and time.monotonic() - started < 0.5
        poll = asyncio.create_task(client.get("things/s/properties/value/observable"))
        await asyncio.sleep(0.2)
        assert not poll.done(), "GET is held until the next change"
        for value in range(1, 21):  # rapid changes while the client is between polls
            sensor.value = value
        received = [(await poll).json()]
        while len(received) < 20:
            received.append((await client.get("things/s/properties/value/observable")).json())
        assert received == list(range(1, 21))


async def test_event_long_poll(serve) -> None:
    sensor = Sensor(name="s")
    async with serve([sensor]) as (_, client):
        poll = asyncio.create_task(client.get("things/s/events/alarm"))
        await asyncio.sleep(0.2)
        sensor.emit_event("alarm", "smoke")
        response = await poll
        assert response.status_code == 200 and response.json() == "smoke"


async def test_invocation_update_stream_ends_with_the_run(serve) -> None:
    sensor = Sensor(name="s")
    async with serve([sensor]) as (_, client):
        created = await client.post(
            "things/s/actions/ramp", json={"steps": 5}, headers={"Prefer": "respond-async"}
        )
        records = []
        async with aconnect_sse(client, "GET", created.headers["Location"] + "/events") as source:
            async for event in source.aiter_sse():
                records.append(json.loads(event.data))
        assert all(record["id"] == created.json()["id"] for record in records)
        assert records[-1]["status"] == "completed"
        progress = [record["progress"] for record in records if record["progress"] is not None]
        assert progress == sorted(progress) and progress[-1] == 100 and len(set(progress)) >= 4


async def test_subscriber_cap_answers_503_and_disconnects_free_everything(serve) -> None:
    sensor = Sensor(name="s")
    settings = wl.ServientSettings(max_subscribers=2)
    async with serve([sensor], settings) as (server, client):
        hub = server.servient.hub
        before = hub.subscriber_count
        streams = [
            asyncio.create_task(sse_events(client, "things/s/properties/value/sse", 1))
            for _ in range(2)
        ]
        await asyncio.sleep(0.3)
        assert hub.subscriber_count == before + 2
        refused = await client.get("things/s/properties/value/sse")
        assert refused.status_code == 503
        assert refused.headers["content-type"] == "application/problem+json"
        sensor.value = 1
        await asyncio.gather(*streams)
        await asyncio.sleep(0.1)
        assert hub.subscriber_count == before


async def test_shutdown_closes_streams_cleanly() -> None:
    sensor = Sensor(name="s")
    server = wl.HttpServer(wl.Servient([sensor]), port=0)
    await server.start()
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        stream = asyncio.create_task(sse_events(client, "things/s/properties/value/sse", 5))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await server.stop()
        assert await asyncio.wait_for(stream, 5) == []
        assert time.monotonic() - started < 3


async def test_keep_alive_comments(serve, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(observe, "KEEPALIVE", 0.05)
    async with serve([Sensor(name="s")]) as (_, client):
        async with client.stream("GET", "things/s/properties/value/sse") as response:
            chunks = []
            async for chunk in response.aiter_text():
                chunks.append(chunk)
                if sum(c.count(": keep-alive") for c in chunks) >= 2:
                    break
        assert response.headers["content-type"].startswith("text/event-stream")


async def test_slow_subscriber_never_blocks_and_gets_the_gap_marked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_events, "QUEUE_SIZE", 4)
    hub = EventHub(queue_size=4)
    hub.bind_loop(asyncio.get_running_loop())
    slow = hub.subscribe(topic_filter("t"))
    fast = hub.subscribe(topic_filter("t"))
    received = []
    for value in range(10):
        hub.publish("t", "property", "v", value)
        delivery = fast.ready()
        assert delivery is not None
        received.append(delivery.message.data)
    assert received == list(range(10)), "the fast subscriber sees everything"
    assert slow.dropped == 6
    drained = [slow.ready() for _ in range(4)]
    assert [d.message.data for d in drained if d] == [0, 1, 2, 3]
    hub.publish("t", "property", "v", 10)
    marked = slow.ready()
    assert marked is not None and marked.dropped == 6 and marked.message.data == 10
    slow.close()
    fast.close()
    assert hub.subscriber_count == 0


async def test_publish_from_many_threads_is_safe() -> None:
    hub = EventHub(queue_size=10000)
    hub.bind_loop(asyncio.get_running_loop())
    subscription = hub.subscribe(topic_filter("t"))
    threads = [
        threading.Thread(target=lambda: [hub.publish("t", "property", "v", i) for i in range(500)])
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = []
    while len(ids) < 2000:
        delivery = await subscription.next(2)
        assert delivery is not None
        ids.append(delivery.message.id)
    assert len(set(ids)) == 2000 and ids == sorted(ids)
