"""The MQTT binding's outbox: messages waiting for the broker, and those in flight.

The HTTP side never waits for the broker: :meth:`Outbox.put` only appends to a
bounded queue (the oldest message is dropped, counted and logged when it is
full), and one task per connection (:meth:`Outbox.publish`) sends from it.

Publishes go straight to the paho client under aiomqtt, and acknowledgements
come back through paho's ``on_publish`` callback. aiomqtt's own ``publish``
coroutine needs a task, an event and several loop turns per message: at 100
changes a second that was most of the servient's CPU for the broker path
(``benchmarks/events.py``), for nothing the binding uses (it never waits for one
particular acknowledgement, only for room in the window).
"""

from __future__ import annotations

import asyncio
import logging
import typing
from collections import deque
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

__all__ = ["Outbox"]

_log = logging.getLogger(__name__)

#: Publishes in flight (sent, not yet acknowledged) at most.
WINDOW = 100

#: One message for the broker: topic, payload, retain, MQTT 5 properties (replies).
_Outgoing = tuple[str, bytes, bool, Properties | None]


class Outbox:
    """A bounded queue of messages for the broker, published in order over a window."""

    def __init__(self, size: int, qos: int) -> None:
        self.size = size
        self.qos = qos
        self._queue: deque[_Outgoing] = deque()
        #: Published, not yet acknowledged: each message with its MQTT packet id.
        self._window: deque[tuple[_Outgoing, int]] = deque()
        #: Packet ids acknowledged out of order, waiting for the window's head.
        self._acked: set[int] = set()
        #: paho under the current connection's aiomqtt client; None while disconnected.
        self._engine: paho.Client | None = None
        #: paho's error code of a refused publish, for the publishing task to raise.
        self._refused: int | None = None
        self._wake = asyncio.Event()
        #: Set while nothing is queued or in flight.
        self.drained = asyncio.Event()
        self.drained.set()
        #: The last payload of every retained topic, published again after a reconnect.
        self.retained: dict[str, bytes] = {}
        #: Messages the broker has acknowledged (QoS > 0) or taken (QoS 0).
        self.published = 0
        #: Messages dropped from the full queue since the last :meth:`reset`.
        self.dropped = 0
        self._dropped_reported = 0

    def __len__(self) -> int:
        """Messages not yet acknowledged: queued or in flight."""
        return len(self._queue) + len(self._window)

    def reset(self) -> None:
        """Forget every message and count (a binding opened again)."""
        self._queue.clear()
        self._window.clear()
        self.retained.clear()
        self.dropped = self._dropped_reported = 0
        self.drained.set()

    def put(
        self, topic: str, payload: bytes, *, retain: bool, properties: Properties | None = None
    ) -> None:
        """Queue one message, and publish it at once when connected; never waits.

        Call it on the loop (the hub and the invoker do).
        """
        if retain:
            self.retained[topic] = payload
        if len(self._queue) >= self.size:
            self._queue.popleft()
            self.count_dropped(1)
        self._queue.append((topic, payload, retain, properties))
        self.drained.clear()
        if self._engine is not None:
            self._send()
        else:
            self._wake.set()

    def count_dropped(self, count: int) -> None:
        """Count ``count`` lost messages; the first loss of a run is logged."""
        if self.dropped == self._dropped_reported:
            _log.warning(
                "MQTT: the outbox is full (%d messages) while the broker is away; "
                "dropping the oldest messages",
                self.size,
            )
        self.dropped += count

    def report_dropped(self) -> None:
        """Log what was dropped since the last report (after a reconnect)."""
        if self.dropped > self._dropped_reported:
            _log.warning(
                "MQTT: %d messages were dropped while the broker was away",
                self.dropped - self._dropped_reported,
            )
            self._dropped_reported = self.dropped

    def _send(self) -> None:
        """Publish from the queue while the window has room.

        A refused publish (the connection is gone) stays queued, and the publishing
        task is woken to end the connection. A message paho rejects outright (over
        MQTT's 256 MiB, a wildcard in its topic) is logged and dropped: kept at the
        head, it would stop every message behind it.
        """
        engine, queue, window = self._engine, self._queue, self._window
        assert engine is not None
        while queue and len(window) < WINDOW:
            item = queue[0]
            try:
                info = engine.publish(item[0], item[1], self.qos, item[2], item[3])
            except (ValueError, TypeError) as exc:
                queue.popleft()
                self.dropped += 1
                _log.error("MQTT: cannot publish to %r (%s); message dropped", item[0], exc)
                continue
            if info.rc != paho.MQTT_ERR_SUCCESS:
                self._refused = info.rc
                self._wake.set()
                return
            queue.popleft()
            window.append((item, info.mid))

    def _acknowledged(self, mid: int) -> None:
        """Retire (from paho's ``on_publish``) acknowledged messages from the window's head."""
        acked, window = self._acked, self._window
        acked.add(mid)
        while window and window[0][1] in acked:
            acked.discard(window.popleft()[1])
            self.published += 1
        if self._queue:
            self._send()
        elif not window:
            self.drained.set()

    async def publish(self, client: aiomqtt.Client) -> None:
        """Republish the retained values, then the queue, up to ``WINDOW`` unacknowledged.

        Publishes are started in order (the wire keeps it) without waiting for each
        acknowledgement, so throughput is not one broker round trip per message; a
        message put while connected is published at once, and each acknowledgement
        makes room for the next. This task only holds the connection's state and
        puts unacknowledged messages back at the front of the queue when it ends
        (the connection broke), to be published again after the reconnect. A slow
        acknowledgement (a broker busy fanning out) is waited for without limit: a
        dead connection is noticed by the keepalive, not by a publish timeout.

        Raises:
            aiomqtt.MqttCodeError: paho refused a publish (the connection is gone).
        """
        engine: paho.Client = client._client  # aiomqtt's engine (see the module docstring)
        # aiomqtt's own callback, with paho's version 2 signature (aiomqtt asks for it)
        chained = typing.cast("paho.CallbackOnPublish_v2 | None", engine.on_publish)

        def on_publish(
            client: paho.Client,
            userdata: Any,
            mid: int,
            reason_code: ReasonCode,
            properties: Properties,
        ) -> None:
            if chained is not None:
                chained(client, userdata, mid, reason_code, properties)
            self._acknowledged(mid)

        queued = {item[0] for item in self._queue}
        for topic, payload in self.retained.items():
            if topic not in queued:  # a newer value is queued: that one goes out
                self._queue.appendleft((topic, payload, True, None))
        engine.on_publish = on_publish
        self._engine, self._refused = engine, None
        try:
            self._send()
            while True:
                self._wake.clear()
                if self._refused is not None:
                    raise aiomqtt.MqttCodeError(self._refused, "Could not publish message")
                await self._wake.wait()
        finally:
            engine.on_publish = chained
            self._engine = None
            self._acked.clear()
            window = self._window
            while window:  # newest first, each to the queue's front: the order is kept
                self._queue.appendleft(window.pop()[0])
