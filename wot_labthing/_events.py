"""Protocol-neutral publish/subscribe for property changes, events and invocation updates.

Publishers may be on any thread (a driver's worker thread assigning an
observable property); :meth:`EventHub.publish` hands each message to the event
loop thread-safely and never blocks. Every message gets a unique, increasing id,
and a bounded history keeps the newest ones so a reconnecting client can replay
what it missed (SSE ``Last-Event-ID``).

Slow subscribers: each subscription has a bounded queue. When it is full, new
messages are dropped *for that subscriber only* and counted in
:attr:`Subscription.dropped`; the next message it receives carries the count
of messages lost before it (``Delivery.dropped``), so a binding can mark the gap
(the SSE binding sends a ``: dropped N`` comment and the ids show the jump). The
publisher and the other subscribers are never slowed down.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ._errors import BusyError

__all__ = ["Delivery", "EventHub", "Message", "Subscription"]

#: Messages a subscriber may lag behind before new ones are dropped for it.
QUEUE_SIZE = 256
#: Messages kept for Last-Event-ID replay.
HISTORY_SIZE = 1000


@dataclass(frozen=True)
class Message:
    """One change: ``kind`` is ``property``, ``event`` or ``action``; ``id`` is unique."""

    id: int
    thing: str
    kind: str
    name: str
    data: Any


@dataclass(frozen=True)
class Delivery:
    """A message as one subscriber receives it, with the count it lost just before it."""

    message: Message
    dropped: int = 0


Filter = Callable[[Message], bool]


def topic_filter(
    thing: str | None = None, kind: str | None = None, names: Iterable[str] | None = None
) -> Filter:
    """A filter for one Thing, one kind of message and (optionally) some affordance names."""
    wanted = None if names is None else frozenset(names)

    def matches(message: Message) -> bool:
        return (
            (thing is None or message.thing == thing)
            and (kind is None or message.kind == kind)
            and (wanted is None or message.name in wanted)
        )

    return matches


class Subscription:
    """A subscriber's bounded queue; iterate it (``async for``) and close it when done."""

    def __init__(self, hub: EventHub, matches: Filter, size: int) -> None:
        self._hub = hub
        self.matches = matches
        self._queue: asyncio.Queue[Delivery | None] = asyncio.Queue(size)
        self.dropped = 0
        self._pending_drops = 0
        self.closed = False

    def offer(self, message: Message) -> None:
        """Queue ``message`` if it matches, dropping it when the queue is full."""
        if self.closed or not self.matches(message):
            return
        if self._queue.full():
            self.dropped += 1
            self._pending_drops += 1
            return
        self._queue.put_nowait(Delivery(message, self._pending_drops))
        self._pending_drops = 0

    def end(self) -> None:
        """End the iteration (the hub is closing)."""
        self.closed = True
        while self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    async def next(self, timeout: float | None = None) -> Delivery | None:  # noqa: ASYNC109
        """The next delivery; None when the subscription ended or ``timeout`` passed."""
        try:
            delivery = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None
        if delivery is None:
            self.closed = True
            self._queue.put_nowait(None)  # later calls end at once too
        return delivery

    def ready(self) -> Delivery | None:
        """A delivery already queued, without waiting, or None."""
        if self._queue.empty():
            return None
        delivery = self._queue.get_nowait()
        if delivery is None:
            self.closed = True
            self._queue.put_nowait(None)
        return delivery

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Delivery:
        delivery = await self.next()
        if delivery is None:
            raise StopAsyncIteration
        return delivery

    def close(self) -> None:
        """Unsubscribe; idempotent."""
        self.closed = True
        self._hub._subscriptions.discard(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class EventHub:
    """Fan-out of messages to subscribers, with a bounded replay history."""

    def __init__(
        self, *, history: int = HISTORY_SIZE, queue_size: int = QUEUE_SIZE, max_subscribers: int = 0
    ) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._history: deque[Message] = deque(maxlen=history)
        self._subscriptions: set[Subscription] = set()
        self.queue_size = queue_size
        #: Most subscribers at once (0: unlimited); one more raises BusyError.
        self.max_subscribers = max_subscribers
        self._closed = False

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver messages on ``loop`` from now on."""
        self._loop = loop
        self._closed = False

    def publish(self, thing: str, kind: str, name: str, data: Any) -> None:
        """Publish a message from any thread; never blocks; a no-op before the hub is bound."""
        loop = self._loop
        if loop is None or loop.is_closed() or self._closed:
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
        for subscription in list(self._subscriptions):
            subscription.offer(message)

    def subscribe(self, matches: Filter, *, after: int | None = None) -> Subscription:
        """Subscribe to messages that ``matches``; with ``after``, replay newer history first.

        Raises:
            BusyError: the subscriber cap is reached.
        """
        if self.max_subscribers and len(self._subscriptions) >= self.max_subscribers:
            raise BusyError(
                f"too many observers ({self.max_subscribers}); try again later", retry_after=5
            )
        subscription = Subscription(self, matches, self.queue_size)
        if after is not None:
            for message in self._history:
                if message.id > after:
                    subscription.offer(message)
        if self._closed:
            subscription.end()
        self._subscriptions.add(subscription)
        return subscription

    @property
    def subscriber_count(self) -> int:
        """How many subscribers are connected now."""
        return len(self._subscriptions)

    @property
    def last_id(self) -> int:
        """The id of the newest message delivered, 0 if none."""
        return self._history[-1].id if self._history else 0

    async def close(self) -> None:
        """End every subscription (streams close cleanly); new ones end at once."""
        self._closed = True
        for subscription in list(self._subscriptions):
            subscription.end()
