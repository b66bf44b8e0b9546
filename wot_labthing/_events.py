"""Protocol-neutral publish/subscribe for property changes, events and invocation updates.

Publishers may be on any thread (a driver's worker thread assigning an
observable property); :meth:`EventHub.publish` hands the message to the event
loop thread-safely. Each subscriber has a bounded queue so a slow client never
blocks the publisher or other subscribers.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

__all__ = ["EventHub", "Message"]


@dataclass(frozen=True)
class Message:
    """One change: ``kind`` is ``property``, ``event`` or ``action``; ``id`` is unique."""

    id: int
    thing: str
    kind: str
    name: str
    data: Any


class EventHub:
    """Fan-out of messages to subscribers, with a bounded history per hub."""

    def __init__(self, *, history: int = 1000, queue_size: int = 256) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._history: deque[Message] = deque(maxlen=history)
        self._queues: set[asyncio.Queue[Message | None]] = set()
        self._queue_size = queue_size

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver messages on ``loop`` from now on."""
        self._loop = loop

    def publish(self, thing: str, kind: str, name: str, data: Any) -> None:
        """Publish a message from any thread; does nothing before the hub is bound."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with self._lock:
            message = Message(next(self._ids), thing, kind, name, data)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._deliver(message)
        else:
            loop.call_soon_threadsafe(self._deliver, message)

    def _deliver(self, message: Message) -> None:
        self._history.append(message)
        for queue in list(self._queues):
            if queue.full():
                continue
            queue.put_nowait(message)

    async def subscribe(self) -> AsyncIterator[Message]:
        """Yield every message published from now on, until the hub closes."""
        queue: asyncio.Queue[Message | None] = asyncio.Queue(self._queue_size)
        self._queues.add(queue)
        try:
            while (message := await queue.get()) is not None:
                yield message
        finally:
            self._queues.discard(queue)

    @property
    def subscriber_count(self) -> int:
        """How many subscribers are connected now."""
        return len(self._queues)

    async def close(self) -> None:
        """End every subscription."""
        for queue in list(self._queues):
            while queue.full():
                queue.get_nowait()
            queue.put_nowait(None)
