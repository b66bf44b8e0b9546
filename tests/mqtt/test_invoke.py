"""Invoking actions over MQTT (``[mqtt] invoke_actions``) against a real mosquitto: bad
payloads are refused without breaking the binding, the pending cap answers like HTTP's 503,
MQTT 5 requesters get a reply, and nothing is subscribed or offered unless enabled."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

import wot_labthing as wl
from wot_labthing._mqtt import MqttBinding, MqttSettings

from ..waiting import eventually
from .broker import Mosquitto, running, write_passwords
from .test_binding import Lamp, lamp_servient, subscriber

INVOKE = "lab/a/lamp/actions/flash"


async def runs_of(client: httpx.AsyncClient, status: str | None = None) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = (await client.get("/actions")).json()
    return [run for run in runs if status is None or run["status"] == status]


async def publish(broker: Mosquitto, *messages: tuple[str, bytes], retain: bool = False) -> None:
    """Publish each (topic, payload) with QoS 1, in order, from one client."""
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:
        for topic, payload in messages:
            await client.publish(topic, payload, qos=1, retain=retain)


async def test_bad_invocations_are_refused_and_a_later_good_one_still_runs(
    mosquitto: Mosquitto,
) -> None:
    await publish(mosquitto, (INVOKE, b'{"times": 9}'), retain=True)  # left on the broker
    async with (
        lamp_servient(mosquitto.url, invoke_actions=True) as (_, binding, client),
        subscriber(mosquitto, f"{INVOKE}/problems") as problems,
    ):
        assert binding.invoker is not None
        invoker = binding.invoker
        assert await binding.wait_connected(10)
        await eventually(lambda: binding.invoke_topics == {INVOKE}, "the invoke subscription")
        # the retained message arrives on subscribing: refused, it would rerun at every reconnect
        await eventually(lambda: invoker.refused == 1, "the retained invocation refused")
        too_big = b'{"times": 1, "pad": "' + b"x" * (1024 * 1024) + b'"}'
        await publish(
            mosquitto,
            (INVOKE, b"not json"),
            (INVOKE, b'{"times": "many"}'),
            (INVOKE, b"\xff\xfe{"),
            (INVOKE, b'{"times": 1, "extra": true}'),
            (INVOKE, too_big),
            (INVOKE, b"null"),
            (INVOKE, b'{"times": 2}'),  # a good one after all that
        )
        await eventually(lambda: invoker.invoked == 1, "the good invocation")
        assert invoker.refused == 7
        assert invoker.received == 8
        assert invoker.refusals == {"not-allowed": 1, "invalid-input": 6}
        done = await eventually(lambda: runs_of(client, "completed"), "the good run to complete")
        assert [(run["input"], run["output"]) for run in done] == [({"times": 2}, 2)]
        assert len(await runs_of(client)) == 1, "nothing recorded for a refused invocation"
        await eventually(lambda: len(problems) == 7, "a problem record per refusal")
        records = [value for _, _, value in problems]
        assert all(record["status"] == 400 for record in records[1:])
        assert records[0]["status"] == 405 and "retained" in records[0]["detail"]
        assert "malformed JSON" in records[1]["detail"]
        assert records[2]["pointer"] == "/times"
        assert "UTF-8" in records[3]["detail"]
        assert "larger than the limit" in records[5]["detail"]
        assert {record["topic"] for record in records} == {INVOKE}
        assert all(record["type"].startswith("urn:wot-labthing:problem:") for record in records)
        # a topic nobody routes to (a Thing removed meanwhile): refused, nothing published
        invoker.handle("lab/a/gone/actions/x", b"{}", retain=False, properties=None)
        assert invoker.refusals["not-found"] == 1
        assert binding.connected


class Gate(wl.Thing):
    """An exclusive action that holds the Thing until released."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.release = asyncio.Event()

    @wl.action(exclusive=True)
    async def hold(self) -> None:
        """Wait until released."""
        await self.release.wait()


@asynccontextmanager
async def gate_servient(
    broker: Mosquitto,
) -> AsyncIterator[tuple[Gate, MqttBinding, httpx.AsyncClient]]:
    gate = Gate(name="gate")
    settings = wl.ServientSettings(action_max_pending_per_thing=1)
    servient = wl.Servient([gate], settings=settings)
    server = wl.HttpServer(servient, host="127.0.0.1", port=0)
    mqtt = MqttSettings(broker=broker.url, prefix="lab/a", invoke_actions=True)
    binding = MqttBinding(servient, mqtt)
    async with servient, httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        assert await binding.wait_connected(10)
        await eventually(lambda: binding.invoke_topics, "the invoke subscription")
        yield gate, binding, client


async def test_the_pending_cap_refuses_like_http_503(mosquitto: Mosquitto) -> None:
    topic = "lab/a/gate/actions/hold"
    async with (
        gate_servient(mosquitto) as (gate, binding, client),
        subscriber(mosquitto, f"{topic}/problems") as problems,
    ):
        assert binding.invoker is not None
        await publish(mosquitto, (topic, b""))
        await eventually(lambda: runs_of(client, "running"), "the first run to hold the Thing")
        await publish(mosquitto, (topic, b""), (topic, b""))  # one waits, one is refused
        await eventually(lambda: problems, "the refusal")
        busy = problems[0][2]
        assert (busy["status"], busy["type"]) == (503, "urn:wot-labthing:problem:busy")
        assert busy["retryAfter"] > 0
        assert binding.invoker.refusals == {"busy": 1}
        assert len(await runs_of(client)) == 2
        gate.release.set()
        done = await eventually(
            lambda: _all_completed(client, 2), "both accepted runs to complete", timeout=20
        )
        assert len(done) == 2


async def _all_completed(client: httpx.AsyncClient, count: int) -> list[dict[str, Any]]:
    done = await runs_of(client, "completed")
    return done if len(done) == count else []


def _request(response_topic: str, correlation: bytes) -> Properties:
    properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    properties.ResponseTopic = response_topic
    properties.CorrelationData = correlation
    return properties


async def test_an_mqtt5_requester_gets_the_run_or_the_problem_on_its_response_topic(
    mosquitto: Mosquitto,
) -> None:
    replies = "clients/c1/replies"
    async with (
        lamp_servient(mosquitto.url, invoke_actions=True) as (_, binding, client),
        subscriber(mosquitto, f"{INVOKE}/problems") as problems,
        aiomqtt.Client(
            "127.0.0.1", mosquitto.port, protocol=aiomqtt.ProtocolVersion.V5
        ) as requester,
    ):
        assert await binding.wait_connected(10)
        await eventually(lambda: binding.invoke_topics, "the invoke subscription")
        await requester.subscribe(replies, qos=1)
        await requester.publish(
            INVOKE, b'{"times": 5}', qos=1, properties=_request(replies, b"req-1")
        )
        await requester.publish(INVOKE, b'{"times": -', qos=1, properties=_request(replies, b"2"))
        received = []
        async with asyncio.timeout(20):
            async for message in requester.messages:
                assert isinstance(message.payload, bytes)
                received.append((message.properties.CorrelationData, json.loads(message.payload)))  # type: ignore[union-attr]
                if len(received) == 2:
                    break
        (first, record), (second, problem) = received
        assert first == b"req-1" and record["action"] == "flash"
        assert record["status"] in ("pending", "running", "completed")
        assert record["input"] == {"times": 5}
        run = (await client.get(f"/actions/{record['id']}")).json()  # the TD's queryaction
        assert run["id"] == record["id"]
        assert second == b"2" and problem["status"] == 400
        assert problems == [], "a requester with a response topic gets its problem there"


async def test_invoking_is_off_by_default_no_forms_no_subscription(
    tmp_path: Path, assert_valid_td: Callable[[dict[str, Any]], None]
) -> None:
    async with running(Mosquitto(tmp_path, extra="sys_interval 1\n")) as broker:
        counts: list[int] = []
        async with aiomqtt.Client("127.0.0.1", broker.port) as probe:
            await probe.subscribe("$SYS/broker/subscriptions/count")

            async def read_counts() -> None:
                async for message in probe.messages:
                    assert isinstance(message.payload, bytes)
                    counts.append(int(message.payload))

            reader = asyncio.create_task(read_counts())
            try:
                for enabled, expected in ((False, 1), (True, 2)):
                    options = {"invoke_actions": True} if enabled else {}
                    async with lamp_servient(broker.url, **options) as (_, binding, client):
                        assert await binding.wait_connected(10)
                        td = (await client.get("/things/lamp")).json()
                        assert_valid_td(td)
                        forms = td["actions"]["flash"]["forms"]
                        mqtt = [form for form in forms if form["href"].startswith("mqtt://")]
                        if enabled:
                            await eventually(lambda: binding.invoke_topics, "subscribed")
                            assert mqtt == [
                                {
                                    "href": f"mqtt://127.0.0.1:{broker.port}/{INVOKE}",
                                    "op": ["invokeaction"],
                                    "contentType": "application/json",
                                    "mqv:controlPacket": "publish",
                                    "mqv:topic": INVOKE,
                                    "mqv:qos": "1",
                                    "mqv:retain": False,
                                    "security": ["mqtt_nosec_sc"],
                                }
                            ]
                        else:
                            assert mqtt == [] and binding.invoker is None
                            assert binding.invoke_topics == frozenset()
                        # the broker's own count (published when it changes): the probe's
                        # subscription, the servient's if enabled, and a marker's made now
                        async with aiomqtt.Client("127.0.0.1", broker.port) as marker:
                            await marker.subscribe("marker")

                            def counted(expected: int = expected) -> list[int] | bool:
                                return counts and counts[-1] == expected + 1

                            await eventually(
                                counted,
                                f"{expected + 1} subscriptions on the broker",
                                20,
                            )
            finally:
                reader.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await reader


async def test_things_added_later_are_subscribed_and_removed_ones_dropped(
    mosquitto: Mosquitto,
) -> None:
    async with lamp_servient(mosquitto.url, invoke_actions=True) as (server, binding, client):
        await eventually(lambda: binding.invoke_topics == {INVOKE}, "the lamp's topic")
        server.servient.add(Lamp(name="spare"))
        spare = "lab/a/spare/actions/flash"
        await eventually(lambda: binding.invoke_topics == {INVOKE, spare}, "the spare's topic")
        await publish(mosquitto, (spare, b'{"times": 6}'))
        done = await eventually(lambda: runs_of(client, "completed"), "the spare's run")
        assert (done[0]["thing"], done[0]["output"]) == ("spare", 6)
        server.servient.remove("spare")
        await eventually(lambda: binding.invoke_topics == {INVOKE}, "the spare's topic dropped")


class Adder(wl.Thing):
    """A synchronous action: its answer is its output."""

    @wl.action(synchronous=True)
    async def add(self, a: int, b: int) -> int:
        """``a + b``, after a moment."""
        await asyncio.sleep(0.05)
        return a + b


async def test_a_synchronous_action_answers_its_requester_once_ended(
    mosquitto: Mosquitto,
) -> None:
    servient = wl.Servient([Adder(name="adder")])
    binding = MqttBinding(
        servient, MqttSettings(broker=mosquitto.url, prefix="lab/a", invoke_actions=True)
    )
    async with (
        servient,
        aiomqtt.Client(
            "127.0.0.1", mosquitto.port, protocol=aiomqtt.ProtocolVersion.V5
        ) as requester,
    ):
        assert await binding.wait_connected(10)
        await eventually(lambda: binding.invoke_topics, "the invoke subscription")
        await requester.subscribe("replies/adder", qos=1)
        await requester.publish(
            "lab/a/adder/actions/add",
            b'{"a": 2, "b": 3}',
            qos=1,
            properties=_request("replies/adder", b"sum"),
        )
        async with asyncio.timeout(20):
            message = await anext(aiter(requester.messages))
        assert message.properties is not None
        assert getattr(message.properties, "CorrelationData", None) == b"sum"
        assert isinstance(message.payload, bytes)
        record = json.loads(message.payload)
        assert (record["status"], record["output"]) == ("completed", 5)


async def test_our_client_keeps_invoking_over_http_next_to_the_mqtt_form(
    mosquitto: Mosquitto,
) -> None:
    """It needs the answer (output, errors, a handle to cancel), which only HTTP gives."""
    async with lamp_servient(mosquitto.url, invoke_actions=True) as (server, binding, _):
        assert await binding.wait_connected(10)
        await eventually(lambda: binding.invoke_topics, "the invoke subscription")
        async with await wl.consume(server.url + "things/lamp") as lamp:
            assert await lamp.invoke_action("flash", {"times": 2}) == 2
        assert binding.invoker is not None and binding.invoker.received == 0


async def test_the_broker_acl_decides_who_may_invoke(tmp_path: Path) -> None:
    """What guards MQTT invocations: the broker's users and ACL, not the servient."""
    passwords, acl = tmp_path / "passwd", tmp_path / "acl"
    # as root mosquitto drops to its own user, who cannot read pytest's tmp_path (0700);
    # "user root" keeps it (and means nothing to a broker started by another user)
    broker = Mosquitto(
        tmp_path,
        extra=f"user root\npassword_file {passwords}\nacl_file {acl}\n",
    )
    broker.config.write_text(
        broker.config.read_text().replace("allow_anonymous true", "allow_anonymous false")
    )
    await asyncio.to_thread(write_passwords, passwords, ("servient", "alice", "olga"))
    acl.write_text(
        "user servient\ntopic readwrite lab/#\n\n"
        "user alice\ntopic read lab/#\ntopic write lab/+/+/actions/+\n\n"
        "user olga\ntopic read lab/#\n"
    )
    await asyncio.to_thread(broker.start)
    try:
        login = {"username": "servient", "password": "servient-pw", "invoke_actions": True}
        async with lamp_servient(broker.url, **login) as (_, binding, client):
            assert binding.invoker is not None
            await eventually(lambda: binding.invoke_topics == {INVOKE}, "subscribed")
            for user, times in (("olga", 8), ("alice", 9)):  # in this order, one at a time
                async with aiomqtt.Client(
                    "127.0.0.1", broker.port, username=user, password=f"{user}-pw"
                ) as publisher:
                    await publisher.publish(INVOKE, json.dumps({"times": times}), qos=1)
            # the broker routes each publish before acknowledging it: had olga's gone
            # through, it would have reached the servient before alice's
            done = await eventually(lambda: runs_of(client, "completed"), "alice's run")
            assert [run["input"] for run in done] == [{"times": 9}]
            assert (binding.invoker.received, binding.invoker.invoked) == (1, 1)
    finally:
        await asyncio.to_thread(broker.stop)


async def test_invoke_topics_are_subscribed_again_after_a_broker_restart(tmp_path: Path) -> None:
    async with running(Mosquitto(tmp_path)) as broker:
        async with lamp_servient(broker.url, invoke_actions=True, reconnect_max=0.5) as (
            _,
            binding,
            client,
        ):
            await eventually(lambda: binding.invoke_topics == {INVOKE}, "subscribed")
            await asyncio.to_thread(broker.stop)
            await eventually(lambda: not binding.connected, "the binding to notice")
            assert binding.invoke_topics == frozenset()
            await asyncio.to_thread(broker.start)
            await eventually(lambda: binding.invoke_topics == {INVOKE}, "subscribed again", 20)
            await publish(broker, (INVOKE, b'{"times": 7}'))
            done = await eventually(lambda: runs_of(client, "completed"), "the run")
            assert done[0]["output"] == 7
