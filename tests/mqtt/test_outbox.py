"""The outbox against a real mosquitto: order, the window, and what paho rejects."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiomqtt
import pytest

from wot_labthing._mqtt.outbox import WINDOW, Outbox

from ..waiting import eventually
from .broker import Mosquitto
from .test_binding import subscriber


@contextlib.asynccontextmanager
async def publishing(outbox: Outbox, broker: Mosquitto) -> AsyncIterator[None]:
    """Run ``outbox.publish`` on a fresh connection for the duration of the block."""
    async with aiomqtt.Client("127.0.0.1", broker.port) as client:
        task = asyncio.create_task(outbox.publish(client))
        try:
            yield
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task


async def test_more_messages_than_the_window_arrive_in_order(mosquitto: Mosquitto) -> None:
    outbox = Outbox(10_000, qos=1)
    count = 3 * WINDOW + 7
    async with subscriber(mosquitto, "t/#") as received, publishing(outbox, mosquitto):
        for n in range(count):
            outbox.put("t/seq", str(n).encode(), retain=False)
        await eventually(lambda: len(received) == count, "every message")
        await eventually(lambda: outbox.published == count, "every acknowledgement")
    assert [value for _, _, value in received] == list(range(count))
    assert len(outbox) == 0 and outbox.drained.is_set()


async def test_a_message_paho_rejects_is_dropped_and_the_rest_go_out(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = Outbox(100, qos=1)
    async with subscriber(mosquitto, "t/#") as received, publishing(outbox, mosquitto):
        outbox.put("t/+", b"1", retain=False)  # a wildcard: no topic to publish to
        outbox.put("t/ok", b"2", retain=False)
        await eventually(lambda: len(received) == 1, "the message behind it")
    assert received == [("t/ok", False, 2)]
    assert outbox.dropped == 1
    assert "cannot publish to 't/+'" in caplog.text


async def test_messages_put_while_away_go_out_after_the_connection_with_retained_first(
    mosquitto: Mosquitto,
) -> None:
    outbox = Outbox(100, qos=1)
    outbox.put("t/value", b"1", retain=True)
    outbox.put("t/event", b"2", retain=False)
    assert len(outbox) == 2 and not outbox.drained.is_set()
    async with subscriber(mosquitto, "t/#") as received, publishing(outbox, mosquitto):
        await eventually(lambda: len(received) == 2, "both messages")
        await eventually(outbox.drained.is_set, "the outbox drained")
    assert [value for _, _, value in received] == [1, 2]
    assert outbox.published == 2
    # a new connection publishes the retained value again (a restarted broker lost it)
    async with publishing(outbox, mosquitto):
        await eventually(lambda: outbox.published == 3, "the retained value published again")


async def test_qos_0_messages_are_counted_once_written(mosquitto: Mosquitto) -> None:
    """QoS 0 has no acknowledgement: paho reports each message once it is on the wire."""
    outbox = Outbox(10_000, qos=0)
    count = 2 * WINDOW + 3
    async with subscriber(mosquitto, "t/#") as received, publishing(outbox, mosquitto):
        for n in range(count):
            outbox.put("t/seq", str(n).encode(), retain=False)
        await eventually(lambda: outbox.published == count, "every message written")
        await eventually(lambda: len(received) == count, "every message")
    assert [value for _, _, value in received] == list(range(count))
