"""Observation over HTTP: long polling (node-wot) and Server-Sent Events (WoT SSE Profile).

node-wot observes over long polling and its SSE client drops named events, while
the WoT HTTP SSE Profile requires ``event: <name>``; so every observable
affordance offers both, long polling first (see ``forms.py``).

Long polling (``.../properties/{p}/observable``, ``.../events/{e}``)
    ``HEAD`` answers 202 at once (node-wot's 1 s probe). ``GET`` is held until the
    next change and answers that one value as JSON. Between requests a client
    keeps a *poller*: a buffered subscription that outlives each request by
    :data:`LONGPOLL_GRACE` seconds (:data:`LONGPOLL_PROBE_GRACE` after a HEAD
    that no GET followed), so changes that happen while the client is between
    two polls are answered by its next GETs, oldest first. The buffer holds
    :data:`LONGPOLL_BUFFER` changes; beyond that the oldest are dropped and the
    next answer carries ``X-Messages-Dropped: N``. The HEAD probe already
    creates the poller, so nothing is lost between node-wot's probe and its
    first GET.

    Which poller is the client's? Every answer sets a cookie (``wot-longpoll``,
    scoped to the affordance's path) naming the poller; clients that keep cookies
    (browsers, httpx, requests sessions) are therefore told apart, even many on
    one host. Clients that keep no cookies (node-wot 0.9.2 sends none and opens a
    new connection per request) are matched by (address, User-Agent, affordance);
    a cookie-less HEAD always starts a fresh poller under that key. Known limits:
    two cookie-less clients on one host observing the same affordance share a
    poller (when both are waiting each receives every change, but a change that
    arrives while only one is waiting, or a backlog, goes to whichever asks
    first); and two cookie clients that skip the HEAD probe and send their first
    GETs at the same moment may end up sharing one too. Use SSE, or one such
    client per host, when that matters.

    A GET held for :data:`LONGPOLL_HOLD` seconds without a change answers 204;
    at shutdown held GETs answer 503 with ``Retry-After``.

Server-Sent Events (``.../sse``, ``/streams/properties``, ``/streams/events``)
    ``text/event-stream`` with ``id``, ``event`` and ``data`` per message, replay
    after ``Last-Event-ID`` from the hub's bounded history, keep-alive comments
    every :data:`KEEPALIVE` seconds, and no response timeout. A lagging reader's
    lost messages are marked with a ``: dropped N messages`` comment before the
    next event (ids jump too); a replay that cannot reach back far enough starts
    with a ``: history incomplete`` comment. Unsubscribing is closing the stream.

Invocation updates (``/actions/{id}/events``)
    The current record first, then every update of that one invocation (status,
    progress, data, output), each an SSE message named after the action; the
    stream ends after the record that reports ``completed`` or ``failed``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from quart import Blueprint, Quart, Response, current_app, request

from .._errors import BusyError, NotFoundError
from .._events import Delivery, Message, Subscription, Topic
from .._invocations import FINISHED
from .._jsonutil import dumps
from .._servient import Servient

__all__ = [
    "KEEPALIVE",
    "LONGPOLL_GRACE",
    "LONGPOLL_HOLD",
    "RAW_BODY",
    "RawBody",
    "blueprint",
    "longpoll_count",
]

_log = logging.getLogger(__name__)

blueprint = Blueprint("observe", __name__)

#: Seconds between SSE keep-alive comments on an idle stream.
KEEPALIVE = 15.0
#: Seconds a long-poll buffer outlives its client's last request.
LONGPOLL_GRACE = 30.0
#: Seconds a buffer that only saw a HEAD probe waits for its first GET (repeated
#: probes, e.g. health checks, must not hold subscriber slots for long).
LONGPOLL_PROBE_GRACE = 5.0
#: Seconds a long-poll GET is held before answering 204 (the client polls again).
#: Below node-wot 0.9.2's one-hour fetch timeout, which would end its subscription.
LONGPOLL_HOLD = 3000.0
#: Changes a long-poll buffer keeps for a client between its polls: enough for a
#: burst of changes faster than any client can poll. A client that stays further
#: behind loses the oldest (counted), so what it gets is at most this many changes old.
LONGPOLL_BUFFER = 256
#: The cookie that names a long-poll client's buffer.
COOKIE = "wot-longpoll"
#: Long-poll answers started per event-loop iteration at most. Each is a whole
#: HTTP response, and they come in bursts (every poller that waited for a change,
#: or a thousand that are behind); pacing them keeps each loop iteration short,
#: so event streams and other requests do not wait behind all of them.
LONGPOLL_ANSWERS_PER_TICK = 20

EVENT_STREAM = "text/event-stream"
#: The ASGI scope extension by which a server offers direct writes to a response
#: body: a callable, called once the body has started, that returns a
#: :class:`RawBody` or None (see ``server.py``).
RAW_BODY = "wot_labthing.raw_body"
_STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class RawBody(Protocol):
    """A started response body that the application writes to without ASGI sends."""

    def write(self, data: bytes) -> None:
        """Queue ``data`` on the connection (framed as the response requires); never waits."""

    @property
    def blocked(self) -> bool:
        """True while the connection's write buffer is over its high-water mark."""

    @property
    def closing(self) -> bool:
        """True once the connection is closing or closed."""

    async def drain(self) -> None:
        """Wait until the write buffer is below its low-water mark."""


def _servient() -> Servient:
    servient: Servient = current_app.config["SERVIENT"]
    return servient


# Long polling -------------------------------------------------------------------

_Affordance = tuple[str, str, str]
_TIMED_OUT: Any = object()


class _Poller:
    """One long-poll client's buffered subscription to one affordance."""

    def __init__(
        self,
        registry: _Pollers,
        affordance: _Affordance,
        subscription: Subscription,
        fallback_key: tuple[str, ...] | None,
    ) -> None:
        self.registry = registry
        self.affordance = affordance
        self.subscription = subscription
        self.fallback_key = fallback_key
        self.token = secrets.token_urlsafe(16)
        self.waiters: set[asyncio.Future[Delivery | None]] = set()
        self.last_seen = time.monotonic()
        self.closed = False
        self.polled = False
        self.client = ""
        subscription.on_message = self._flush
        self._timer = asyncio.get_running_loop().call_later(self.grace, self._expire)

    @property
    def grace(self) -> float:
        return LONGPOLL_GRACE if self.polled else min(LONGPOLL_PROBE_GRACE, LONGPOLL_GRACE)

    def _flush(self) -> None:
        """Answer every waiting GET with the oldest queued change (or the end)."""
        live = [waiter for waiter in self.waiters if not waiter.done()]
        if not live:
            if self.subscription.exhausted:
                self.close()
            return
        delivery = self.subscription.ready()
        if delivery is None and not self.subscription.exhausted:
            return
        for waiter in live:
            waiter.set_result(delivery)
        self.waiters.clear()
        if self.subscription.exhausted:
            self.close()

    async def take(self, hold: float) -> Delivery | None:
        """The next change for this client; None at shutdown; ``_TIMED_OUT`` after ``hold``."""
        self.last_seen = time.monotonic()
        self.polled = True
        delivery = self.subscription.ready()
        if delivery is not None or self.subscription.exhausted:
            return delivery
        waiter: asyncio.Future[Delivery | None] = asyncio.get_running_loop().create_future()
        self.waiters.add(waiter)
        try:
            async with asyncio.timeout(hold):
                return await waiter
        except TimeoutError:
            return _TIMED_OUT  # type: ignore[no-any-return]
        finally:
            self.waiters.discard(waiter)
            self.last_seen = time.monotonic()

    def _expire(self) -> None:
        if self.closed:
            return
        idle, grace = time.monotonic() - self.last_seen, self.grace
        if self.waiters or idle < grace:
            delay = grace if self.waiters else grace - idle
            self._timer = asyncio.get_running_loop().call_later(delay, self._expire)
            return
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._timer.cancel()
        self.subscription.close()
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.waiters.clear()
        self.registry.forget(self)


class _Pacer:
    """Lets at most :data:`LONGPOLL_ANSWERS_PER_TICK` answers start per loop iteration."""

    def __init__(self) -> None:
        self.queue: deque[asyncio.Future[None]] = deque()
        self.granted = 0
        self.scheduled = False

    async def turn(self) -> None:
        if not self.queue and self.granted < LONGPOLL_ANSWERS_PER_TICK:
            self.granted += 1
            self._schedule()
            return
        waiter = asyncio.get_running_loop().create_future()
        self.queue.append(waiter)
        self._schedule()
        await waiter

    def _schedule(self) -> None:
        if not self.scheduled:
            self.scheduled = True
            asyncio.get_running_loop().call_soon(self._tick)

    def _tick(self) -> None:
        self.scheduled = False
        self.granted = 0
        while self.queue and self.granted < LONGPOLL_ANSWERS_PER_TICK:
            waiter = self.queue.popleft()
            if not waiter.done():  # not cancelled (the client went away)
                waiter.set_result(None)
                self.granted += 1
        if self.queue or self.granted:
            self._schedule()


class _Pollers:
    """Every live poller of one app, found by cookie token or by the cookie-less key."""

    def __init__(self) -> None:
        self.by_token: dict[str, _Poller] = {}
        self.by_fallback: dict[tuple[str, ...], _Poller] = {}
        self.pacer = _Pacer()
        #: Live buffers per client address: one client may not take every subscriber slot.
        self.per_client: Counter[str] = Counter()

    def find(self, servient: Servient, affordance: _Affordance) -> _Poller:
        token = request.cookies.get(COOKIE)
        if token:
            poller = self.by_token.get(token)
            if poller is not None and poller.affordance == affordance and not poller.closed:
                if poller.fallback_key is not None:  # it keeps cookies: stop sharing by address
                    if self.by_fallback.get(poller.fallback_key) is poller:
                        del self.by_fallback[poller.fallback_key]
                    poller.fallback_key = None
                return poller
            return self._new(servient, affordance, None)
        fallback = (request.remote_addr or "", request.headers.get("User-Agent", ""), *affordance)
        poller = self.by_fallback.get(fallback)
        if poller is None or poller.closed or request.method == "HEAD":
            # a HEAD probe starts a subscription: a fresh buffer, so cookie clients that
            # probe first never share one even when their probes interleave
            poller = self._new(servient, affordance, fallback)
        return poller

    def _new(
        self, servient: Servient, affordance: _Affordance, fallback: tuple[str, ...] | None
    ) -> _Poller:
        thing, kind, name = affordance
        client = request.remote_addr or ""
        security = current_app.config.get("SECURITY")
        limit = getattr(security, "max_streams_per_client", 0)
        if limit and self.per_client[client] >= limit:
            raise BusyError(
                "this client holds too many long-poll subscriptions; poll with the cookie "
                "you were given, or wait for the old ones to expire",
                retry_after=LONGPOLL_PROBE_GRACE,
            )
        topic = Topic.of(thing, kind, [name])
        subscription = servient.hub.subscribe(
            topic, size=min(LONGPOLL_BUFFER, servient.hub.queue_size)
        )
        poller = _Poller(self, affordance, subscription, fallback)
        poller.client = client
        self.per_client[client] += 1
        self.by_token[poller.token] = poller
        if fallback is not None:
            self.by_fallback[fallback] = poller
        return poller

    def forget(self, poller: _Poller) -> None:
        if self.by_token.pop(poller.token, None) is not None:
            self.per_client[poller.client] -= 1
            if self.per_client[poller.client] <= 0:
                del self.per_client[poller.client]
        if poller.fallback_key is not None and self.by_fallback.get(poller.fallback_key) is poller:
            del self.by_fallback[poller.fallback_key]

    def close(self) -> None:
        for poller in list(self.by_token.values()):
            poller.close()


def _pollers(app: Quart | None = None) -> _Pollers:
    config = (app or current_app).config
    pollers = config.get("LONGPOLLERS")
    if pollers is None:
        pollers = config["LONGPOLLERS"] = _Pollers()
    assert isinstance(pollers, _Pollers)
    return pollers


def longpoll_count(app: Quart | None = None) -> int:
    """Long-poll buffers alive now (for tests and monitoring)."""
    return len(_pollers(app).by_token)


async def _long_poll(thing: str, kind: str, name: str) -> Response:
    servient = _servient()
    pollers = _pollers()
    poller = pollers.find(servient, (thing, kind, name))
    if request.method == "HEAD":  # Quart routes HEAD to GET handlers: answer at once
        poller.last_seen = time.monotonic()
        response = Response(status=202)
    else:
        delivery = await poller.take(LONGPOLL_HOLD)
        if delivery is not None and delivery is not _TIMED_OUT:
            await pollers.pacer.turn()
        if delivery is _TIMED_OUT:
            response = Response(status=204)
        elif delivery is None:
            response = Response(status=503, headers={"Retry-After": "1"})
        else:
            response = Response(_json(delivery.message), content_type="application/json")
            if delivery.dropped:
                response.headers["X-Messages-Dropped"] = str(delivery.dropped)
    response.timeout = None  # a held GET may outlast Quart's RESPONSE_TIMEOUT
    response.headers["Cache-Control"] = "no-store"
    if request.cookies.get(COOKIE) != poller.token:
        response.set_cookie(
            COOKIE, poller.token, path=request.path, httponly=True, samesite="Strict"
        )
    return response


def _json(message: Message) -> bytes:
    body = message.encoded.get("json")
    if body is None:  # encoded once per message, shared by every poller
        body = message.encoded["json"] = message.text.encode()
    return body


def _observable(thing: str, name: str) -> None:
    prop = _servient().property_affordance(thing, name)
    if not prop.observable:
        raise NotFoundError(f"property {name!r} is not observable", kind="properties", name=name)


@blueprint.route("/things/<thing>/properties/<name>/observable", methods=["GET"])
async def longpoll_property(thing: str, name: str) -> Response:
    """``observeproperty`` by long polling (HEAD probe, then held GETs)."""
    _observable(thing, name)
    return await _long_poll(thing, "property", name)


@blueprint.route("/things/<thing>/events/<name>", methods=["GET"])
async def longpoll_event(thing: str, name: str) -> Response:
    """``subscribeevent`` by long polling."""
    _servient().event_affordance(thing, name)
    return await _long_poll(thing, "event", name)


# Server-Sent Events -----------------------------------------------------------


def _last_event_id() -> int | None:
    text = request.headers.get("Last-Event-ID", "").strip()
    return int(text) if text.isdigit() else None


def _encode(message: Message) -> bytes:
    frame = message.encoded.get("sse")
    if frame is None:  # built once per message, shared by every stream
        frame = f"id: {message.id}\nevent: {message.name}\ndata: {message.text}\n\n".encode()
        message.encoded["sse"] = frame
    return frame


def _frame(delivery: Delivery, encode: Callable[[Message], bytes] = _encode) -> bytes:
    if delivery.dropped:
        return f": dropped {delivery.dropped} messages\n".encode() + encode(delivery.message)
    return encode(delivery.message)


def _frames(messages: list[Message], gaps: dict[int, int]) -> bytes:
    if gaps:
        return b"".join([_frame(Delivery(m, gaps.get(m.id, 0))) for m in messages])
    if len(messages) == 1:
        return _encode(messages[0])
    return b"".join([_encode(message) for message in messages])


async def _stream(
    subscription: Subscription,
    first: bytes,
    until: Callable[[Message], bool] | None = None,
    encode: Callable[[Message], bytes] = _encode,
    direct: tuple[Callable[[], RawBody | None], _Fanout] | None = None,
) -> AsyncIterator[bytes]:
    try:
        yield first
        raw = direct[0]() if direct is not None else None
        if raw is not None and direct is not None:  # we may write the body ourselves
            await _DirectStream(subscription, raw, direct[1]).run()
            return
        while True:
            if not await subscription.wait(KEEPALIVE):
                if subscription.exhausted:
                    return
                yield b": keep-alive\n\n"
                continue
            messages, gaps = subscription.drain_messages()  # everything queued, in one write
            if until is None and not gaps:
                yield b"".join([encode(message) for message in messages])
                continue
            chunk = []
            for message in messages:
                chunk.append(_frame(Delivery(message, gaps.get(message.id, 0)), encode))
                if until is not None and until(message):
                    yield b"".join(chunk)
                    return
            yield b"".join(chunk)
    finally:
        subscription.close()


class _DirectStream:
    """An SSE stream whose messages the fan-out writes straight to the connection.

    Its response task sleeps while messages flow (no wake-up per message); it
    wakes only to send a keep-alive, to wait while the client reads too slowly,
    or to end. While the connection's write buffer is over its high-water mark
    nothing more is written: messages wait in the subscription's bounded queue,
    which drops the oldest (marked ``: dropped N``) as on the ASGI path.
    """

    def __init__(self, subscription: Subscription, raw: RawBody, fanout: _Fanout) -> None:
        self.subscription = subscription
        self.raw = raw
        self.fanout = fanout
        self.loop = asyncio.get_running_loop()
        self.last_write = self.loop.time()
        self.blocked = False
        self.waiter: asyncio.Future[None] | None = None
        subscription.on_message = self._queued

    def _queued(self) -> None:
        if not self.blocked:
            self.fanout.mark(self)

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def flush(self, now: float) -> None:
        """Write everything queued, unless the client is behind (then wake the task)."""
        raw = self.raw
        if raw.closing or raw.blocked:
            self.blocked = True
            self._wake()
            return
        messages, gaps = self.subscription.drain_messages()
        if messages:
            raw.write(_frames(messages, gaps))
            self.last_write = now
        if self.subscription.exhausted:
            self._wake()

    async def run(self) -> None:
        """Until the subscription ends or the connection closes."""
        raw, subscription = self.raw, self.subscription
        try:
            self.flush(self.loop.time())  # a replay, or what came since the first write
            while not subscription.exhausted:
                if raw.closing:
                    return
                if self.blocked:
                    try:
                        await raw.drain()
                    except (ConnectionError, RuntimeError):
                        return
                    self.blocked = False
                    self.flush(self.loop.time())
                    continue
                idle = self.loop.time() - self.last_write
                if idle >= KEEPALIVE:
                    raw.write(b": keep-alive\n\n")
                    self.last_write = self.loop.time()
                    continue
                self.waiter = self.loop.create_future()
                try:
                    async with asyncio.timeout(KEEPALIVE - idle):
                        await self.waiter
                except TimeoutError:
                    pass
                finally:
                    self.waiter = None
        finally:
            self.fanout.forget(self)


class _Fanout:
    """Writes the queued messages of every direct SSE stream in one pass.

    A stream is marked when a message is queued for it; one callback per loop
    iteration then writes each marked stream's whole queue as one chunk. A
    message's frame is encoded once for all streams, and a batch of several
    messages is joined once for every stream that receives the same batch.
    """

    def __init__(self) -> None:
        self.marked: dict[_DirectStream, None] = {}
        self.scheduled = False

    def mark(self, stream: _DirectStream) -> None:
        self.marked[stream] = None
        if not self.scheduled:
            self.scheduled = True
            stream.loop.call_soon(self.flush)

    def forget(self, stream: _DirectStream) -> None:
        self.marked.pop(stream, None)

    def flush(self) -> None:
        self.scheduled = False
        marked, self.marked = self.marked, {}
        if not marked:
            return
        now = asyncio.get_running_loop().time()
        for stream in marked:
            try:
                stream.flush(now)
            except Exception:  # one broken connection must not starve the others
                _log.exception("writing to an event stream failed")


def _fanout() -> _Fanout:
    config = current_app.config
    fanout = config.get("SSE_FANOUT")
    if fanout is None:
        fanout = config["SSE_FANOUT"] = _Fanout()
    assert isinstance(fanout, _Fanout)
    return fanout


def _direct_body() -> tuple[Callable[[], RawBody | None], _Fanout] | None:
    """The server's offer to write this response's body directly, if it makes one."""
    if request.method != "GET":  # a HEAD response has no body
        return None
    extensions = request.scope.get("extensions") or {}
    factory = extensions.get(RAW_BODY)
    return (factory, _fanout()) if callable(factory) else None


def _event_stream(body: AsyncIterator[bytes]) -> Response:
    response = Response(body, status=200, content_type=EVENT_STREAM, headers=_STREAM_HEADERS)
    response.timeout = None  # streams are long-lived: no Quart response timeout
    return response


def _sse(topic: Topic) -> Response:
    subscription = _servient().hub.subscribe(topic, after=_last_event_id())
    first = b": history incomplete\n\n" if subscription.replay_incomplete else b": open\n\n"
    return _event_stream(_stream(subscription, first, direct=_direct_body()))


@blueprint.route("/things/<thing>/properties/<name>/sse", methods=["GET"])
async def sse_property(thing: str, name: str) -> Response:
    """``observeproperty`` per the WoT HTTP SSE Profile."""
    _observable(thing, name)
    return _sse(Topic.of(thing, "property", [name]))


@blueprint.route("/things/<thing>/streams/properties", methods=["GET"])
async def sse_all_properties(thing: str) -> Response:
    """``observeallproperties``: every observable property's changes, named by property."""
    properties = _servient().thing(thing).properties
    names = [name for name, prop in properties.items() if prop.observable]
    if not names:
        raise NotFoundError(f"Thing {thing!r} has no observable property", kind="properties")
    return _sse(Topic.of(thing, "property", names))


@blueprint.route("/things/<thing>/events/<name>/sse", methods=["GET"])
async def sse_event(thing: str, name: str) -> Response:
    """``subscribeevent`` per the WoT HTTP SSE Profile."""
    _servient().event_affordance(thing, name)
    return _sse(Topic.of(thing, "event", [name]))


@blueprint.route("/things/<thing>/streams/events", methods=["GET"])
async def sse_all_events(thing: str) -> Response:
    """``subscribeallevents``: every event of the Thing, named by event."""
    if not _servient().thing(thing).events:
        raise NotFoundError(f"Thing {thing!r} has no events", kind="events")
    return _sse(Topic.of(thing, "event"))


def _finished(message: Message) -> bool:
    return bool(message.data.get("status") in FINISHED)


@blueprint.route("/actions/<invocation_id>/events", methods=["GET"])
async def sse_invocation(invocation_id: str) -> Response:
    """Every update of one invocation (status, progress, data, output) until it ends.

    The first message is the current record (without an ``id``, as it is a
    snapshot, not a change); with ``Last-Event-ID`` the missed updates are
    replayed instead. The stream closes after the final record.
    """
    servient = _servient()
    invocation = servient.invocations.get(invocation_id)
    servient.hub.flush()  # so no update queued before the snapshot arrives after it
    snapshot = dumps(invocation.as_record(request.host_url))
    current = f"event: {invocation.action}\ndata: {snapshot}\n\n".encode()
    if invocation.is_finished:

        async def once() -> AsyncIterator[bytes]:
            yield current

        return _event_stream(once())

    def this_run(message: Message) -> bool:
        return bool(message.data.get("id") == invocation_id)

    base = request.host_url.rstrip("/")

    def encode(message: Message) -> bytes:
        record = _absolute(message.data, base)
        return f"id: {message.id}\nevent: {message.name}\ndata: {dumps(record)}\n\n".encode()

    after = _last_event_id()
    topic = Topic.of(invocation.thing_name, "action", [invocation.action], where=this_run)
    subscription = servient.hub.subscribe(topic, after=after)
    first = current if after is None else b": replay\n\n"
    return _event_stream(_stream(subscription, first, _finished, encode))


def _absolute(record: dict[str, Any], base: str) -> dict[str, Any]:
    """The record with its root-relative hrefs (as the core publishes them) made absolute."""

    def fix(href: Any) -> Any:
        return base + href if isinstance(href, str) and href.startswith("/") else href

    fixed = {**record, "href": fix(record.get("href"))}
    if isinstance(record.get("links"), list):
        fixed["links"] = [
            {**link, "href": fix(link.get("href"))} if isinstance(link, dict) else link
            for link in record["links"]
        ]
    return fixed
