"""Item 3: polled observables, writes that publish, writable properties observable by default."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import wot_labthing as wl
from wot_labthing._events import Topic
from wot_labthing._td import interaction_model


class Thermometer(wl.Thing):
    """A thermometer whose temperature changes on its own."""

    step_delay: float = wl.property(default=0.001, minimum=0)
    hidden: int = wl.property(default=0, observable=False)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reads = 0
        self.temperature_now = 20.0
        self.lock = threading.Lock()

    @wl.property(observable=True, poll=0.01)
    def temperature(self) -> float:
        """Polled while observed."""
        with self.lock:
            self.reads += 1
            return self.temperature_now

    @wl.property
    def serial(self) -> str:
        """Read-only and not polled: not observable."""
        return "T-1"


async def wait_for(predicate: Any, what: str, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - a condition with a deadline
            await asyncio.sleep(0.005)


def test_writable_properties_are_observable_unless_opted_out() -> None:
    model = interaction_model(Thermometer())
    observable = {name: entry["observable"] for name, entry in model["properties"].items()}
    assert observable == {
        "step_delay": True,
        "hidden": False,
        "temperature": True,
        "serial": False,
    }


def test_poll_is_checked_at_definition() -> None:
    with pytest.raises(wl.DefinitionError, match="positive"):
        wl.property(poll=0)
    with pytest.raises(wl.DefinitionError, match="observable"):
        wl.property(poll=1, observable=False)
    with pytest.raises(wl.DefinitionError, match="getter"):

        class Bad(wl.Thing):
            x: int = wl.property(default=0, poll=1)


async def test_polls_only_while_observed_and_publishes_changes_only() -> None:
    thermometer = Thermometer(name="t")
    async with wl.Servient([thermometer]) as servient:
        # Nobody observes: several poll periods pass without one read.
        await asyncio.sleep(0.1)
        assert thermometer.reads == 0
        topic = Topic.of("t", "property", ["temperature"])
        with servient.hub.subscribe(topic) as subscription:
            first = await subscription.next(5)
            assert first is not None and first.message.data == 20.0
            await wait_for(lambda: thermometer.reads >= 5, "five more polls")
            assert subscription.drain() == []  # unchanged values are not published
            with thermometer.lock:
                thermometer.temperature_now = 21.5
            changed = await subscription.next(5)
            assert changed is not None and changed.message.data == 21.5
        await asyncio.sleep(0.05)  # let a poll in flight finish
        stopped_at = thermometer.reads
        await asyncio.sleep(0.1)
        assert thermometer.reads == stopped_at  # unobserved again: no more reads


async def test_polling_over_http_sse(serve: Any) -> None:
    thermometer = Thermometer(name="t")
    async with serve([thermometer]) as (server, client):
        async with client.stream("GET", "things/t/properties/temperature/sse") as stream:
            assert stream.status_code == 200
            lines = stream.aiter_lines()
            async with asyncio.timeout(5):
                async for line in lines:
                    if line.startswith("data:"):
                        assert float(line.removeprefix("data:")) == 20.0
                        break
        await wait_for(lambda: server.servient.hub.subscriber_count == 0, "unsubscribed")


async def test_writes_through_the_servient_publish(serve: Any) -> None:
    thermometer = Thermometer(name="t")
    async with serve([thermometer]) as (server, client):
        hub = server.servient.hub
        with hub.subscribe(Topic.of("t", "property", ["step_delay", "hidden"])) as subscription:
            assert (await client.put("things/t/properties/step_delay", json=2)).status_code < 300
            via_http = await subscription.next(5)
            assert via_http is not None
            assert (via_http.message.name, via_http.message.data) == ("step_delay", 2.0)
            await server.servient.run_sync(setattr, thermometer, "step_delay", 0.5)
            via_python = await subscription.next(5)
            assert via_python is not None and via_python.message.data == 0.5
            thermometer.hidden = 3  # opted out: not published
            await server.servient.write_property("t", "hidden", 4)
            await asyncio.sleep(0.05)
            assert [d.message.name for d in subscription.drain()] == []
