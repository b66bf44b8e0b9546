"""The MQTT binding against a real mosquitto: retained values, changes, events, run
updates, TD forms, a broker that is away at start, and a broker restart mid-stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiomqtt
import httpx
import pytest

import wot_labthing as wl
from wot_labthing._mqtt import MqttBinding, MqttSettings

from ..waiting import eventually
from .broker import Mosquitto, running


class Lamp(wl.Thing):
    """A Thing with an observable property, an event and an action."""

    level: int = wl.property(default=0, observable=True, minimum=0, maximum=1000)
    flashed = wl.event(data=int, description="The level after a flash.")

    @wl.action
    def flash(self, times: int = 1) -> int:
        """Flash ``times`` times; emits ``flashed``."""
        for index in range(times):
            wl.update_task_progress(100 * (index + 1) / times)
        self.flashed.emit(times)
        return times


@asynccontextmanager
async def lamp_servient(
    broker_url: str, **options: Any
) -> AsyncIterator[tuple[wl.HttpServer, MqttBinding, httpx.AsyncClient]]:
    servient = wl.Servient([Lamp(name="lamp")])
    server = wl.HttpServer(servient, host="127.0.0.1", port=0)
    binding = MqttBinding(servient, MqttSettings(broker=broker_url, prefix="lab/a", **options))
    async with servient, httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield server, binding, client


@asynccontextmanager
async def subscriber(broker: Mosquitto, topic: str) -> AsyncIterator[list[Any]]:
    """An aiomqtt subscriber collecting (topic, retain, value) of every message."""
    received: list[Any] = []
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:
        await client.subscribe(topic, qos=1)

        async def collect() -> None:
            async for message in client.messages:
                payload = message.payload
                assert isinstance(payload, bytes)
                received.append((str(message.topic), message.retain, json.loads(payload)))

        task = asyncio.create_task(collect())
        try:
            yield received
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task


def values(received: list[Any]) -> list[Any]:
    return [value for _, _, value in received]


async def test_a_new_subscriber_gets_the_retained_value_at_once_then_changes(
    mosquitto: Mosquitto,
) -> None:
    async with lamp_servient(mosquitto.url) as (_, binding, client):
        assert await binding.wait_connected(10)
        response = await client.put("/things/lamp/properties/level", json=7)
        assert response.status_code == 204
        await eventually(lambda: binding.published >= 1 and binding.pending == 0, "publish")
        async with subscriber(mosquitto, "lab/a/lamp/properties/level") as received:
            first = await eventually(lambda: received, "the retained value")
            assert first[0] == ("lab/a/lamp/properties/level", True, 7)
            for level in (8, 9):
                response = await client.put("/things/lamp/properties/level", json=level)
                assert response.status_code == 204
            await eventually(lambda: values(received)[-1] == 9, "the changes")
            assert values(received) == [7, 8, 9]
            assert [retain for _, retain, _ in received[1:]] == [False, False]


async def test_events_and_run_updates_have_their_topics(mosquitto: Mosquitto) -> None:
    async with lamp_servient(mosquitto.url) as (_, binding, client):
        assert await binding.wait_connected(10)
        async with subscriber(mosquitto, "lab/a/lamp/#") as received:
            await eventually(lambda: received, "the retained level")
            response = await client.post("/things/lamp/actions/flash", json={"times": 2})
            assert response.status_code in (200, 201)
            await eventually(
                lambda: any(topic.endswith("/events/flashed") for topic, _, _ in received),
                "the event",
            )
            event = next(r for r in received if r[0] == "lab/a/lamp/events/flashed")
            assert event[2] == 2
            runs = [r for r in received if r[0].startswith("lab/a/lamp/actions/flash/")]
            await eventually(
                lambda: any(
                    r[2].get("status") == "completed"
                    for r in received
                    if r[0].startswith("lab/a/lamp/actions/flash/")
                ),
                "the completed run",
            )
            runs = [r for r in received if r[0].startswith("lab/a/lamp/actions/flash/")]
            run_id = runs[-1][2]["id"]
            assert {topic for topic, _, _ in runs} == {f"lab/a/lamp/actions/flash/{run_id}"}
            assert runs[-1][2]["output"] == 2


async def test_the_td_offers_mqtt_forms_next_to_http_and_stays_valid(
    mosquitto: Mosquitto, assert_valid_td: Callable[[dict[str, Any]], None]
) -> None:
    async with lamp_servient(mosquitto.url) as (_, _binding, client):
        td = (await client.get("/things/lamp")).json()
        assert_valid_td(td)
        assert {"mqv": "http://www.example.org/mqtt-binding#"} in [
            {k: v for k, v in item.items() if k == "mqv"}
            for item in td["@context"]
            if isinstance(item, dict)
        ]
        forms = td["properties"]["level"]["forms"]
        assert forms[0]["href"].startswith("properties/")  # HTTP first, unchanged
        mqtt = [form for form in forms if form["href"].startswith("mqtt://")]
        topic = "lab/a/lamp/properties/level"
        assert mqtt == [
            {
                "href": f"mqtt://127.0.0.1:{mosquitto.port}/{topic}",
                "op": ["observeproperty", "unobserveproperty"],
                "contentType": "application/json",
                "mqv:controlPacket": "subscribe",
                "mqv:filter": topic,
                "mqv:qos": "1",
                "mqv:retain": True,
                "security": ["mqtt_nosec_sc"],  # the broker's own: anonymous
            }
        ]
        # the Thing's (HTTP) security is untouched; the broker's is a definition of its own
        assert td["security"] == "nosec_sc"
        assert td["securityDefinitions"]["mqtt_nosec_sc"]["scheme"] == "nosec"
        event_forms = td["events"]["flashed"]["forms"]
        assert event_forms[-1]["mqv:filter"] == "lab/a/lamp/events/flashed"
        assert event_forms[-1]["security"] == ["mqtt_nosec_sc"]
        listing = (await client.get("/things")).json()
        assert listing[0]["properties"]["level"]["forms"][-1]["mqv:filter"] == topic


async def test_a_broker_away_at_start_neither_blocks_http_nor_loses_the_current_value(
    tmp_path: Any,
) -> None:
    broker = Mosquitto(tmp_path)  # not started yet
    async with lamp_servient(broker.url, queue_size=3, reconnect_max=0.5) as (_, binding, client):
        for level in range(1, 11):
            response = await client.put("/things/lamp/properties/level", json=level)
            assert response.status_code == 204
        assert not binding.connected
        assert binding.dropped >= 10 + 1 - 3  # the initial value and ten changes, three kept
        await asyncio.to_thread(broker.start)
        try:
            assert await binding.wait_connected(15)
            await eventually(lambda: binding.pending == 0, "the outbox to drain")
            async with subscriber(broker, "lab/a/lamp/properties/level") as received:
                await eventually(lambda: received, "the retained value")
                assert received[0][1:] == (True, 10)
        finally:
            await asyncio.to_thread(broker.stop)


async def test_a_broker_restart_mid_stream_is_reconnected(tmp_path: Any) -> None:
    async with running(Mosquitto(tmp_path)) as broker:
        async with lamp_servient(broker.url, reconnect_max=0.5) as (_, binding, client):
            assert await binding.wait_connected(10)
            await client.put("/things/lamp/properties/level", json=1)
            async with subscriber(broker, "lab/a/lamp/properties/level") as received:
                await eventually(lambda: 1 in values(received), "the value before the restart")
            await asyncio.to_thread(broker.stop)
            await eventually(lambda: not binding.connected, "the binding to notice")
            response = await client.put("/things/lamp/properties/level", json=2)
            assert response.status_code == 204  # HTTP does not wait for the broker
            await asyncio.to_thread(broker.start)
            assert await binding.wait_connected(15)
            assert binding.connections >= 2
            await eventually(lambda: binding.pending == 0, "the outbox to drain")
            async with subscriber(broker, "lab/a/lamp/properties/level") as received:
                # the restarted broker had no retained value; the binding published it again
                await eventually(lambda: received, "the retained value after the restart")
                assert received[0][1:] == (True, 2)
                await client.put("/things/lamp/properties/level", json=3)
                await eventually(lambda: values(received)[-1] == 3, "a change after restart")


def test_broker_urls_are_checked() -> None:
    servient = wl.Servient()
    for bad in ("http://x:1", "mqtt://", "mqtt://host:99999", "mqtt://host/path"):
        with pytest.raises(wl.ConfigError, match="broker URL"):
            MqttBinding(servient, MqttSettings(broker=bad))
    with pytest.raises(wl.ConfigError, match="qos"):
        MqttBinding(servient, MqttSettings(broker="mqtt://h", qos=3))


async def test_our_client_prefers_the_broker_and_falls_back_to_http(
    mosquitto: Mosquitto, tmp_path: Any
) -> None:
    async with lamp_servient(mosquitto.url) as (server, binding, client):
        assert await binding.wait_connected(10)
        assert (await client.put("/things/lamp/properties/level", json=3)).status_code == 204
        await eventually(lambda: binding.pending == 0, "the outbox to drain")
        async with await wl.consume(server.url + "things/lamp") as lamp:
            subscription = await lamp.observe_property("level")
            assert subscription.subprotocol == "mqtt"
            assert await subscription.next(10) == 3  # the retained value first
            await lamp.write_property("level", 4)
            assert await subscription.next(10) == 4
            await subscription.close()
            events = await lamp.subscribe_event("flashed")
            assert events.subprotocol == "mqtt"
            await lamp.invoke_action("flash", {"times": 5})
            assert await events.next(10) == 5
            await events.close()
    away = Mosquitto(tmp_path)  # never started: the broker is unreachable
    async with lamp_servient(away.url) as (server, binding, client):
        async with await wl.consume(server.url + "things/lamp") as lamp:
            subscription = await lamp.observe_property("level")
            assert subscription.subprotocol == "sse"
            await lamp.write_property("level", 6)
            assert await subscription.next(10) == 6
            with pytest.raises(wl.ConsumerError, match="cannot subscribe"):
                await lamp.observe_property("level", subprotocol="mqtt")
