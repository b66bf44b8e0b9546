"""Protocol-neutral publish/subscribe for property changes, events and invocation updates.

Publishing: :meth:`EventHub.publish` may be called from any thread (a driver's
worker thread assigning an observable property) and never blocks on
subscribers. The payload is serialised to strict JSON in the caller's thread, so
NaN or Infinity fail *at the emitter* with :class:`NotFiniteError`. Messages
enter a small inbox and are delivered on the event loop in publish order; one
loop wake-up carries every message published meanwhile.

Ids: each message gets an integer id, strictly increasing in delivery order and
seeded from the clock (microseconds since the epoch when the hub was created),
so ids stay unique across servient restarts and a client's ``Last-Event-ID``
from an earlier run simply replays everything still kept.

History: the newest :data:`HISTORY_SIZE` messages *per topic* (Thing, kind,
affordance) are kept, so a chatty property cannot push a rare event out of the
replay window. :meth:`EventHub.subscribe` with ``after=`` replays what is newer.

Slow subscribers: each subscription has a bounded queue of :data:`QUEUE_SIZE`.
When it is full the *oldest* queued message is dropped for that subscriber only,
so the newest value of an observed property always gets through. The next
message it receives carries how many were lost just before it
(``Delivery.dropped``), and the total is in :attr:`Subscription.dropped`;
bindings mark the gap (SSE sends a ``: dropped N`` comment, and the ids jump).
A subscriber is never disconnected for being slow, and the publisher and other
subscribers are never slowed down by it.

Cap and shutdown: ``max_subscribers`` bounds concurrent subscriptions
(:class:`BusyError` beyond it; HTTP answers 503). :meth:`EventHub.close` ends
every subscription: consumers receive what is still queued, then the end.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ._errors import BusyError, NotFiniteError
from ._jsonutil import dumps

__all__ = ["Delivery", "EventHub", "Message", "Subscription", "Topic"]

_log = logging.getLogger(__name__)

#: Messages a subscriber may lag behind before its oldest queued ones are dropped.
QUEUE_SIZE = 256
#: Messages kept per topic (Thing, kind, affordance) for ``Last-Event-ID`` replay.
HISTORY_SIZE = 100

_Key = tuple[str, str, str]


@dataclass(frozen=True, eq=False)
class Message:
    """One change: ``kind`` is ``property``, ``event`` or ``action``; ``id`` is unique.

    ``id`` increases and is the change time in microseconds since the epoch
    (bumped by one when two changes share a microsecond), so bindings can offer
    it as a timestamp (the SSE Profile's recommended event id).

    ``data`` is the JSON value and ``text`` its strict JSON serialisation.
    ``encoded`` lets a binding memoise its wire form of the message once for all
    subscribers (e.g. an SSE frame).
    """

    id: int
    thing: str
    kind: str
    name: str
    data: Any
    text: str
    encoded: dict[str, bytes] = field(default_factory=dict, repr=False)

    @property
    def key(self) -> _Key:
        """The topic key ``(thing, kind, name)``."""
        return (self.thing, self.kind, self.name)


@dataclass(frozen=True)
class Delivery:
    """A message as one subscriber receives it, with how many it lost just before it."""

    message: Message
    dropped: int = 0


@dataclass(frozen=True)
class Topic:
    """What a subscriber wants: None matches anything; ``where`` is an extra predicate."""

    thing: str | None = None
    kind: str | None = None
    names: frozenset[str] | None = None
    where: Callable[[Message], bool] | None = None

    @classmethod
    def of(
        cls,
        thing: str | None = None,
        kind: str | None = None,
        names: Iterable[str] | None = None,
        where: Callable[[Message], bool] | None = None,
    ) -> Topic:
        """A topic for one Thing, one kind and (optionally) some affordance names."""
        return cls(thing, kind, None if names is None else frozenset(names), where)

    def covers(self, key: _Key) -> bool:
        """True when messages with topic ``key`` may match (``where`` is not consulted)."""
        thing, kind, name = key
        return (
            (self.thing is None or thing == self.thing)
            and (self.kind is None or kind == self.kind)
            and (self.names is None or name in self.names)
        )

    def matches(self, message: Message) -> bool:
        """True when ``message`` is wanted."""
        return self.covers(message.key) and (self.where is None or self.where(message))

    @property
    def exact_key(self) -> _Key | None:
        """The single topic key this topic is limited to, if any (for fast fan-out)."""
        if self.thing is None or self.kind is None or self.names is None or len(self.names) != 1:
            return None
        (name,) = self.names
        return (self.thing, self.kind, name)


class Subscription:
    """A subscriber's bounded queue, consumed by one reader on the event loop.

    Iterate it (``async for delivery in subscription``), or use :meth:`next`,
    :meth:`wait` and :meth:`drain`. Close it when done (also a context manager).
    """

    def __init__(self, hub: EventHub, topic: Topic, size: int) -> None:
        self._hub = hub
        self.topic = topic
        self._size = max(1, size)
        self._queue: deque[Message] = deque()
        #: Message id -> how many were dropped just before it (rare, so kept aside).
        self._gaps: dict[int, int] = {}
        self._gap = 0
        self._waiter: asyncio.Future[None] | None = None
        #: Messages lost to this subscriber because it lagged (total).
        self.dropped = 0
        #: True when a replay could not reach back to the requested id (history too short).
        self.replay_incomplete = False
        #: No further messages will be queued (closed by the reader or ended by the hub).
        self.ended = False
        #: Called on the loop after each queued message or the end (for multiplexing readers).
        self.on_message: Callable[[], None] | None = None

    # Producer side (the hub, on the loop) ---------------------------------------

    def offer(self, message: Message) -> None:
        """Queue ``message``; when the queue is full the oldest queued one is dropped."""
        if self.ended:
            return
        queue = self._queue
        if len(queue) >= self._size:
            self._drop_oldest()
        queue.append(message)
        if self._gap:
            self._gaps[message.id] = self._gap
            self._gap = 0
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self.on_message is not None:
            self.on_message()

    def _drop_oldest(self) -> None:
        lost = self._queue.popleft()
        self.dropped += 1
        gap = 1 + (self._gaps.pop(lost.id, 0) if self._gaps else 0)
        if self._queue:
            head = self._queue[0].id
            self._gaps[head] = self._gaps.get(head, 0) + gap
        else:
            self._gap += gap

    def _replay(self, messages: Iterable[Message]) -> None:
        # the replay may exceed the queue bound once: the reader asked for all of it
        self._queue.extend(messages)

    def end(self) -> None:
        """No more messages: the reader gets what is queued, then the end."""
        self.ended = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self.on_message is not None:
            self.on_message()

    # Reader side ---------------------------------------------------------------

    async def wait(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Wait until a delivery is queued (True) or the end or ``timeout`` comes (False)."""
        if self._queue:
            return True
        if self.ended:
            return False
        waiter = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except TimeoutError:
            pass
        finally:
            self._waiter = None
        return bool(self._queue)

    def _delivery(self, message: Message) -> Delivery:
        if self._gaps:
            return Delivery(message, self._gaps.pop(message.id, 0))
        return Delivery(message)

    def ready(self) -> Delivery | None:
        """The oldest queued delivery, without waiting, or None."""
        return self._delivery(self._queue.popleft()) if self._queue else None

    def drain(self) -> list[Delivery]:
        """Every queued delivery, oldest first, without waiting."""
        deliveries = [self._delivery(message) for message in self._queue]
        self._queue.clear()
        return deliveries

    def drain_messages(self) -> tuple[list[Message], dict[int, int]]:
        """Like :meth:`drain`, cheaper for a busy reader: the messages, and the gaps.

        The gaps map a message id to how many messages were dropped just before it.
        """
        messages = list(self._queue)
        self._queue.clear()
        gaps, self._gaps = self._gaps, {}
        return messages, gaps

    async def next(self, timeout: float | None = None) -> Delivery | None:  # noqa: ASYNC109
        """The next delivery; None at the end or when ``timeout`` passed."""
        await self.wait(timeout)
        return self.ready()

    @property
    def exhausted(self) -> bool:
        """True once the subscription ended and everything queued was read."""
        return self.ended and not self._queue

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Delivery:
        delivery = await self.next()
        if delivery is None:
            raise StopAsyncIteration
        return delivery

    def close(self) -> None:
        """Unsubscribe and free the queue; idempotent."""
        self._queue.clear()
        self._gaps.clear()
        self.on_message = None
        self.end()
        self._hub._remove(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class EventHub:
    """Fan-out of messages to subscribers, with a bounded replay history per topic."""

    def __init__(
        self,
        *,
        history: int = HISTORY_SIZE,
        queue_size: int = QUEUE_SIZE,
        max_subscribers: int = 0,
    ) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._next_id = time.time_ns() // 1000
        self._lock = threading.Lock()
        self._inbox: list[tuple[str, str, str, Any, str]] = []
        self._drain_scheduled = False
        self._history_size = history
        self._history: dict[_Key, deque[Message]] = {}
        #: Per topic, the id of the newest message that fell out of the history.
        self._evicted: dict[_Key, int] = {}
        self._subscriptions: set[Subscription] = set()
        self._exact: dict[_Key, set[Subscription]] = {}
        self._general: set[Subscription] = set()
        self.queue_size = queue_size
        #: Most subscribers at once (0: unlimited); one more raises BusyError.
        self.max_subscribers = max_subscribers
        self._closed = False
        self._last_id = 0

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver messages on ``loop`` from now on; call it from that loop's thread."""
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._closed = False

    # Publishing --------------------------------------------------------------------

    def publish(self, thing: str, kind: str, name: str, data: Any) -> None:
        """Publish a JSON ``data`` message from any thread; never waits for subscribers.

        A no-op before the hub is bound to a loop and after it closed.

        Raises:
            NotFiniteError: ``data`` holds NaN or Infinity (for ``kind="action"``
                records this is logged and the update skipped instead, so an
                invocation's bookkeeping never fails because of its output).
        """
        loop = self._loop
        if loop is None or self._closed:
            return
        try:
            text = dumps(data)
        except NotFiniteError:
            if kind != "action":
                raise
            _log.warning("invocation update of %s.%s is not valid JSON; not published", thing, name)
            return
        with self._lock:
            self._inbox.append((thing, kind, name, data, text))
            if threading.get_ident() != self._loop_thread:
                if self._drain_scheduled:
                    return
                self._drain_scheduled = True
                try:
                    loop.call_soon_threadsafe(self._drain)
                except RuntimeError:  # the loop closed meanwhile
                    self._inbox.clear()
                    self._drain_scheduled = False
                return
        self._drain()  # on the loop: deliver now, after anything other threads queued first

    def flush(self) -> None:
        """Deliver every message published so far; call it on the hub's loop."""
        self._drain()

    def _drain(self) -> None:
        with self._lock:
            items, self._inbox = self._inbox, []
            self._drain_scheduled = False
        for thing, kind, name, data, text in items:
            # the change time in microseconds, bumped so that ids stay unique and increasing
            self._next_id = max(self._next_id + 1, time.time_ns() // 1000)
            self._deliver(Message(self._next_id, thing, kind, name, data, text))

    def _deliver(self, message: Message) -> None:
        key = message.key
        history = self._history.get(key)
        if history is None:
            history = self._history[key] = deque(maxlen=self._history_size)
        if len(history) == history.maxlen:
            self._evicted[key] = history[0].id
        history.append(message)
        self._last_id = message.id
        exact = self._exact.get(key)
        if exact:
            for subscription in tuple(exact):
                try:
                    where = subscription.topic.where
                    if where is None or where(message):
                        subscription.offer(message)
                except Exception:  # one broken reader must not starve the others
                    _log.exception("delivering message %d failed", message.id)
        for subscription in tuple(self._general):
            try:
                if subscription.topic.matches(message):
                    subscription.offer(message)
            except Exception:
                _log.exception("delivering message %d failed", message.id)

    # Subscribing -------------------------------------------------------------------

    def subscribe(
        self, topic: Topic, *, after: int | None = None, size: int | None = None
    ) -> Subscription:
        """Subscribe to messages on ``topic``; with ``after``, first replay newer history.

        ``size`` bounds this subscriber's queue (default :attr:`queue_size`).

        Raises:
            BusyError: the subscriber cap is reached.
        """
        if self.max_subscribers and len(self._subscriptions) >= self.max_subscribers:
            raise BusyError(
                f"too many observers ({self.max_subscribers}); try again later", retry_after=5
            )
        subscription = Subscription(self, topic, size or self.queue_size)
        if after is not None:
            subscription._replay(self._replay(topic, after))
            subscription.replay_incomplete = any(
                evicted > after for key, evicted in self._evicted.items() if topic.covers(key)
            )
        if self._closed:
            subscription.end()
            return subscription
        self._subscriptions.add(subscription)
        exact = topic.exact_key
        if exact is None:
            self._general.add(subscription)
        else:
            self._exact.setdefault(exact, set()).add(subscription)
        return subscription

    def _replay(self, topic: Topic, after: int) -> Iterator[Message]:
        streams = [
            (message for message in history if message.id > after and topic.matches(message))
            for key, history in self._history.items()
            if topic.covers(key)
        ]
        return heapq.merge(*streams, key=lambda message: message.id)

    def _remove(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)
        self._general.discard(subscription)
        exact = subscription.topic.exact_key
        if exact is not None:
            subscribers = self._exact.get(exact)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._exact[exact]

    def observers(self, thing: str, kind: str, name: str) -> int:
        """How many open subscriptions may receive messages on topic ``(thing, kind, name)``.

        Lets a producer (the servient's property poller) work only while someone listens.
        """
        key = (thing, kind, name)
        exact = len(self._exact.get(key, ()))
        return exact + sum(1 for sub in self._general if sub.topic.covers(key))

    @property
    def subscriber_count(self) -> int:
        """How many subscriptions are open now."""
        return len(self._subscriptions)

    @property
    def last_id(self) -> int:
        """The id of the newest message delivered, 0 if none yet."""
        return self._last_id

    async def close(self) -> None:
        """Deliver what is pending, then end every subscription; new ones end at once."""
        if self._loop is not None and threading.get_ident() == self._loop_thread:
            self._drain()
        self._closed = True
        for subscription in list(self._subscriptions):
            subscription.end()
            self._remove(subscription)
