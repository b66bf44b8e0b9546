"""Observation over HTTP: long polling (node-wot) and Server-Sent Events (WoT SSE Profile).

node-wot observes over long polling and its SSE client drops named events, while
the WoT HTTP SSE Profile requires ``event: <name>``; so every observable
affordance offers both, long polling first (see ``forms.py``).

Long polling: ``HEAD`` answers 202 at once (node-wot's 1 s probe); ``GET`` is held
until the next change and answers that one value. So that a client re-polling at
once loses nothing, each poller keeps a buffered subscription between its
requests, keyed by the client's address, user agent and the affordance, for
:data:`LONGPOLL_GRACE` seconds after its last request. Two pollers on one host
with the same user agent share that buffer; they can tell themselves apart with
a ``client`` query parameter.

SSE: ``text/event-stream`` with ``id``, ``event`` and ``data`` per message,
replay after ``Last-Event-ID`` from the hub's bounded history, and keep-alive
comments every :data:`KEEPALIVE` seconds. No response timeout applies.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from quart import Blueprint, Response, current_app, request

from .._errors import NotFoundError
from .._events import Delivery, Filter, Subscription, topic_filter
from .._jsonutil import dumps
from .._servient import Servient

__all__ = ["KEEPALIVE", "LONGPOLL_GRACE", "blueprint"]

blueprint = Blueprint("observe", __name__)

#: Seconds between SSE keep-alive comments.
KEEPALIVE = 15.0
#: Seconds a long-poll buffer outlives its client's last request.
LONGPOLL_GRACE = 30.0
#: Seconds a long-poll GET is held before answering 204 (the client polls again).
LONGPOLL_HOLD = 300.0


def _servient() -> Servient:
    servient: Servient = current_app.config["SERVIENT"]
    return servient


# Long polling -------------------------------------------------------------------


class _Poller:
    def __init__(self, subscription: Subscription) -> None:
        self.subscription = subscription
        self.last_seen = time.monotonic()
        self.lock = asyncio.Lock()


def _pollers() -> dict[tuple[str, ...], _Poller]:
    pollers: dict[tuple[str, ...], _Poller] = current_app.config.setdefault("LONGPOLLERS", {})
    return pollers


def _sweep_pollers(pollers: dict[tuple[str, ...], _Poller]) -> None:
    now = time.monotonic()
    for key, poller in list(pollers.items()):
        if not poller.lock.locked() and now - poller.last_seen > LONGPOLL_GRACE:
            poller.subscription.close()
            del pollers[key]


def longpoll_count() -> int:
    """Long-poll buffers alive now (for tests and monitoring)."""
    return len(_pollers())


async def _long_poll(thing: str, kind: str, name: str) -> Response:
    if request.method == "HEAD":
        return Response(status=202)
    servient = _servient()
    pollers = _pollers()
    _sweep_pollers(pollers)
    key = (
        request.remote_addr or "",
        request.headers.get("User-Agent", ""),
        request.args.get("client", ""),
        thing,
        kind,
        name,
    )
    poller = pollers.get(key)
    if poller is None or poller.subscription.closed:
        subscription = servient.hub.subscribe(topic_filter(thing, kind, [name]))
        poller = pollers[key] = _Poller(subscription)
    async with poller.lock:
        delivery = await poller.subscription.next(LONGPOLL_HOLD)
        poller.last_seen = time.monotonic()
    if delivery is None:
        if poller.subscription.closed:
            pollers.pop(key, None)
            return Response(status=503, headers={"Retry-After": "1"})
        return Response(status=204)
    return Response(dumps(delivery.message.data), status=200, content_type="application/json")


@blueprint.route("/things/<thing>/properties/<name>/observable", methods=["GET"])
async def longpoll_property(thing: str, name: str) -> Response:
    """``observeproperty`` by long polling (HEAD probe, then a held GET)."""
    prop = _servient().property_affordance(thing, name)
    if not prop.observable:
        raise NotFoundError(f"property {name!r} is not observable", kind="properties")
    return await _long_poll(thing, "property", name)


@blueprint.route("/things/<thing>/events/<name>", methods=["GET"])
async def longpoll_event(thing: str, name: str) -> Response:
    """``subscribeevent`` by long polling."""
    _servient().event_affordance(thing, name)
    return await _long_poll(thing, "event", name)


# Server-Sent Events -----------------------------------------------------------


def _last_event_id() -> int | None:
    text = request.headers.get("Last-Event-ID")
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _frame(delivery: Delivery, event: str | None = None) -> bytes:
    lines = []
    if delivery.dropped:
        lines.append(f": dropped {delivery.dropped} messages")
    message = delivery.message
    lines.append(f"id: {message.id}")
    lines.append(f"event: {event or message.name}")
    lines.append(f"data: {dumps(message.data)}")
    return ("\n".join(lines) + "\n\n").encode()


async def _stream(
    subscription: Subscription, *, until: Any = None, first: bytes | None = None
) -> AsyncIterator[bytes]:
    try:
        yield b": stream open\n\n" if first is None else first
        while True:
            delivery = await subscription.next(KEEPALIVE)
            if delivery is None:
                if subscription.closed:
                    return
                yield b": keep-alive\n\n"
                continue
            yield _frame(delivery)
            if until is not None and until(delivery):
                return
    finally:
        subscription.close()


def _sse(matches: Filter, **options: Any) -> Response:
    subscription = _servient().hub.subscribe(matches, after=_last_event_id())
    response = Response(
        _stream(subscription, **options),
        status=200,
        content_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
    response.timeout = None  # streams are long-lived: no Quart response timeout
    return response


@blueprint.route("/things/<thing>/properties/<name>/sse", methods=["GET"])
async def sse_property(thing: str, name: str) -> Response:
    """``observeproperty`` per the WoT HTTP SSE Profile."""
    prop = _servient().property_affordance(thing, name)
    if not prop.observable:
        raise NotFoundError(f"property {name!r} is not observable", kind="properties")
    return _sse(topic_filter(thing, "property", [name]))


@blueprint.route("/things/<thing>/streams/properties", methods=["GET"])
async def sse_all_properties(thing: str) -> Response:
    """``observeallproperties``: every observable property's changes, named by property."""
    servient = _servient()
    names = [name for name, prop in servient.thing(thing).properties.items() if prop.observable]
    return _sse(topic_filter(thing, "property", names))


@blueprint.route("/things/<thing>/events/<name>/sse", methods=["GET"])
async def sse_event(thing: str, name: str) -> Response:
    """``subscribeevent`` per the WoT HTTP SSE Profile."""
    _servient().event_affordance(thing, name)
    return _sse(topic_filter(thing, "event", [name]))


@blueprint.route("/things/<thing>/streams/events", methods=["GET"])
async def sse_all_events(thing: str) -> Response:
    """``subscribeallevents``: every event of the Thing, named by event."""
    _servient().thing(thing)
    return _sse(topic_filter(thing, "event"))


@blueprint.route("/actions/<invocation_id>/events", methods=["GET"])
async def sse_invocation(invocation_id: str) -> Response:
    """Every update of one invocation (status, progress, output) until it ends.

    The first message is the current record; the stream closes after the final one.
    """
    servient = _servient()
    invocation = servient.invocations.get(invocation_id)

    def this_run(message: Any) -> bool:
        return bool(message.kind == "action" and message.data.get("id") == invocation_id)

    subscription = servient.hub.subscribe(this_run)
    record = invocation.as_record(request.host_url)
    current = f"id: {servient.hub.last_id}\nevent: {invocation.action}\ndata: {dumps(record)}\n\n"
    if invocation.is_finished:
        subscription.close()

        async def once() -> AsyncIterator[bytes]:
            yield current.encode()

        body: AsyncIterator[bytes] = once()
    else:
        body = _stream(
            subscription,
            until=lambda delivery: delivery.message.data["status"] in ("completed", "failed"),
            first=current.encode(),
        )
    response = Response(body, status=200, content_type="text/event-stream")
    response.timeout = None
    return response


async def close_longpollers(app: Any) -> None:
    """Release every long-poll buffer (at shutdown)."""
    pollers: dict[tuple[str, ...], _Poller] = app.config.get("LONGPOLLERS", {})
    for poller in pollers.values():
        with contextlib.suppress(Exception):
            poller.subscription.close()
    pollers.clear()
