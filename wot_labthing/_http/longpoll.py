"""Long polling (node-wot's observe protocol): held GETs answered from per-client buffers.

``HEAD`` answers 202 at once (node-wot's 1 s probe). ``GET`` is held until the
next change and answers that one value as JSON; a hold that runs out
(``ServientSettings.longpoll_hold``) answers a redirect to poll again (:func:`_expired`).
Between requests a client keeps a *poller*: a buffered subscription that outlives
each request by :data:`LONGPOLL_GRACE` seconds (:data:`LONGPOLL_PROBE_GRACE` after a HEAD that
no GET followed), so changes that happen while the client is between two polls
are answered by its next GETs, oldest first. The buffer holds
:data:`LONGPOLL_BUFFER` changes; beyond that the oldest are dropped and the
next answer carries ``X-Messages-Dropped: N``. The HEAD probe already creates
the poller, so nothing is lost between node-wot's probe and its first GET.
Which poller is the client's, and the known limits of telling cookie-less
clients apart, is told in ``observe.py``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from quart import Quart, Response, current_app, request

from .._events import Delivery, Message, Subscription
from .._jsonutil import dumps
from .._problems import problem_type
from .._servient import Servient
from .problems import problem_response

__all__ = [
    "COOKIE",
    "LONGPOLL_BUFFER",
    "LONGPOLL_GRACE",
    "LONGPOLL_PROBE_GRACE",
    "MAX_REPOLLS",
    "REPOLL",
    "STREAMS_FULL",
    "TOO_MANY_STREAMS",
    "long_poll",
    "longpoll_count",
]

#: Seconds a long-poll buffer outlives its client's last request.
LONGPOLL_GRACE = 30.0
#: Seconds a buffer that only saw a HEAD probe waits for its first GET (repeated
#: probes, e.g. health checks, must not hold subscriber slots for long).
LONGPOLL_PROBE_GRACE = 5.0
#: Query parameter of the redirect that ends an expired hold: how many holds of this
#: client expired in a row (see :func:`_expired`).
REPOLL = "repoll"
#: Expired holds answered by a redirect in a row at most. node-fetch (node-wot) and the
#: Fetch standard follow at most 20 redirects within one request; the next expiry
#: answers 204 instead, which ends that request (a new one starts from zero).
MAX_REPOLLS = 19
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

#: ASGI scope key the guard sets on a long-poll GET from a client that already holds
#: ``[security] max_streams_per_client`` streams: refused here only if it needs a new
#: buffer, never when it continues one (node-wot ends an observation on any refusal).
STREAMS_FULL = "wot_labthing.streams_full"
#: Slug, title and detail of the refusal of one stream too many (here and in the guard).
TOO_MANY_STREAMS = (
    "too-many-streams",
    "Too many streams",
    "this client holds too many streams and long polls; close some",
)

#: Opens the subscription of a new poller: (servient, (thing, kind, name), size).
Subscriber = Callable[[Servient, tuple[str, str, str], int], Subscription]


_Affordance = tuple[str, str, str]
_log = logging.getLogger(__name__)
_TIMED_OUT: Any = object()


class _Refused(Exception):
    """A new buffer for this client is refused (too many streams); becomes a 503 problem."""

    def __init__(self, detail: str, retry_after: float) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after


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

    def find(self, servient: Servient, affordance: _Affordance, subscribe: Subscriber) -> _Poller:
        token = request.cookies.get(COOKIE)
        if token:
            poller = self.by_token.get(token)
            if poller is not None and poller.affordance == affordance and not poller.closed:
                if poller.fallback_key is not None:  # it keeps cookies: stop sharing by address
                    if self.by_fallback.get(poller.fallback_key) is poller:
                        del self.by_fallback[poller.fallback_key]
                    poller.fallback_key = None
                return poller
            return self._new(servient, affordance, None, subscribe)
        fallback = (request.remote_addr or "", request.headers.get("User-Agent", ""), *affordance)
        poller = self.by_fallback.get(fallback)
        if poller is None or poller.closed or request.method == "HEAD":
            # a HEAD probe starts a subscription: a fresh buffer, so cookie clients that
            # probe first never share one even when their probes interleave
            poller = self._new(servient, affordance, fallback, subscribe)
        return poller

    def _new(
        self,
        servient: Servient,
        affordance: _Affordance,
        fallback: tuple[str, ...] | None,
        subscribe: Subscriber,
    ) -> _Poller:
        client = request.remote_addr or ""
        if request.scope.get(STREAMS_FULL):
            raise _Refused(TOO_MANY_STREAMS[2], 5)
        security = current_app.config.get("SECURITY")
        limit = getattr(security, "max_streams_per_client", 0)
        if limit and self.per_client[client] >= limit:
            raise _Refused(
                "this client holds too many long-poll subscriptions; poll with the cookie "
                "you were given, or wait for the old ones to expire",
                LONGPOLL_PROBE_GRACE,
            )
        subscription = subscribe(servient, affordance, LONGPOLL_BUFFER)
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


async def long_poll(
    servient: Servient, affordance: tuple[str, str, str], subscribe: Subscriber
) -> Response:
    """Answer a long-poll HEAD probe or GET on ``affordance`` (thing, kind, name)."""
    pollers = _pollers()
    try:
        poller = pollers.find(servient, affordance, subscribe)
    except _Refused as refused:
        slug, title, _ = TOO_MANY_STREAMS
        problem = {"type": problem_type(slug), "title": title, "detail": refused.detail}
        retry_after = str(max(1, round(refused.retry_after)))
        return problem_response(problem, 503, {"Retry-After": retry_after})
    if request.method == "HEAD":  # Quart routes HEAD to GET handlers: answer at once
        poller.last_seen = time.monotonic()
        response = Response(status=202)
    else:
        delivery = await poller.take(servient.settings.longpoll_hold)
        if delivery is not None and delivery is not _TIMED_OUT:
            await pollers.pacer.turn()
        if delivery is _TIMED_OUT:
            response = await _expired(servient, affordance)
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


async def _expired(servient: Servient, affordance: _Affordance) -> Response:
    """The answer to a hold that ran out without a change: "poll again", carrying no value.

    A ``307 Temporary Redirect`` to the same resource: HTTP clients that follow
    redirects (node-fetch under node-wot, browsers' fetch) poll again by themselves,
    so node-wot never hands its listener an answer without a value (a 204 reached
    its listener as a value whose ``value()`` throws). A client that does not
    follow redirects sees a 3xx without a value and polls again, as it did after
    a 204. The redirect counts the expiries in a row (``?repoll=N``) so that fetch
    clients stay under their 20-redirect limit: the 20th expiry ends the request
    with the property's current value (a value node-wot can read, repeated), or
    204 for an event, which has none (or when the read fails).
    """
    try:
        count = int(request.args.get(REPOLL, "0"))
    except ValueError:
        count = 0
    if 0 <= count < MAX_REPOLLS:
        # a query-only reference: the same path whatever prefix a proxy serves it under
        return Response(status=307, headers={"Location": f"?{REPOLL}={count + 1}"})
    thing, kind, name = affordance
    if kind == "property":
        try:
            value = await servient.read_property(thing, name)
        except Exception:  # an unreachable instrument: nothing to repeat, poll again
            _log.info("long poll: cannot read %s.%s for an expired hold", thing, name)
        else:
            return Response(dumps(value), content_type="application/json")
    return Response(status=204)


def _json(message: Message) -> bytes:
    body = message.encoded.get("json")
    if body is None:  # encoded once per message, shared by every poller
        body = message.encoded["json"] = message.text.encode()
    return body
