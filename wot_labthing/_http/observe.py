"""Observation routes: long polling (node-wot) and Server-Sent Events (WoT SSE Profile).

The machinery lives in ``longpoll.py`` (buffers per client) and ``sse.py``
(framing and delivery); this module maps each observe operation onto the
servient's protocol-neutral ``observe_properties`` / ``subscribe_events`` /
``subscribe_invocation``.

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

    A GET held for ``longpoll_hold`` seconds (a servient setting) without a change
    answers ``307`` to the same path (``?repoll=N``), which fetch clients follow,
    so node-wot polls again without calling its listener; the 20th in a row answers
    a property's current value (an event's: 204).
    At shutdown held GETs answer 503 with ``Retry-After``.

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

from collections.abc import AsyncIterator
from typing import Any

from quart import Blueprint, Response, current_app

from .._errors import NotFoundError
from .._events import Message, Subscription
from .._invocations import FINISHED
from .._jsonutil import dumps
from .._servient import Servient
from . import routes
from .actions import queryable
from .longpoll import long_poll
from .records import RunLinks
from .sse import direct_body, event_stream, last_event_id, sse_id, stream

__all__ = ["blueprint"]

blueprint = Blueprint("observe", __name__)


def _servient() -> Servient:
    servient: Servient = current_app.config["SERVIENT"]
    return servient


# Long polling -------------------------------------------------------------------


def _poll_subscription(
    servient: Servient, affordance: tuple[str, str, str], size: int
) -> Subscription:
    thing, kind, name = affordance
    if kind == "property":
        return servient.observe_properties(thing, [name], size=size)
    return servient.subscribe_events(thing, [name], size=size)


@blueprint.route(routes.PROPERTY_LONGPOLL, methods=["GET"])
async def longpoll_property(thing: str, name: str) -> Response:
    """``observeproperty`` by long polling (HEAD probe, then held GETs)."""
    servient = _servient()
    if not servient.property_affordance(thing, name).observable:
        raise NotFoundError(f"property {name!r} is not observable", kind="properties", name=name)
    return await long_poll(servient, (thing, "property", name), _poll_subscription)


@blueprint.route(routes.EVENT, methods=["GET"])
async def longpoll_event(thing: str, name: str) -> Response:
    """``subscribeevent`` by long polling."""
    servient = _servient()
    servient.event_affordance(thing, name)
    return await long_poll(servient, (thing, "event", name), _poll_subscription)


# Server-Sent Events -----------------------------------------------------------


def _sse(subscription: Subscription) -> Response:
    first = b": history incomplete\n\n" if subscription.replay_incomplete else b": open\n\n"
    return event_stream(stream(subscription, first, direct=direct_body()))


@blueprint.route(routes.PROPERTY_SSE, methods=["GET"])
async def sse_property(thing: str, name: str) -> Response:
    """``observeproperty`` per the WoT HTTP SSE Profile."""
    return _sse(_servient().observe_properties(thing, [name], after=last_event_id()))


@blueprint.route(routes.PROPERTIES_STREAM, methods=["GET"])
async def sse_all_properties(thing: str) -> Response:
    """``observeallproperties``: every observable property's changes, named by property."""
    return _sse(_servient().observe_properties(thing, after=last_event_id()))


@blueprint.route(routes.EVENT_SSE, methods=["GET"])
async def sse_event(thing: str, name: str) -> Response:
    """``subscribeevent`` per the WoT HTTP SSE Profile."""
    return _sse(_servient().subscribe_events(thing, [name], after=last_event_id()))


@blueprint.route(routes.EVENTS_STREAM, methods=["GET"])
async def sse_all_events(thing: str) -> Response:
    """``subscribeallevents``: every event of the Thing, named by event."""
    return _sse(_servient().subscribe_events(thing, after=last_event_id()))


def _finished(message: Message) -> bool:
    return bool(message.data.get("status") in FINISHED)


@blueprint.route(routes.INVOCATION_EVENTS, methods=["GET"])
async def sse_invocation(invocation_id: str) -> Response:
    """Every update of one invocation (status, progress, data, output) until it ends.

    The first message is the current record (without an ``id``, as it is a
    snapshot, not a change); with ``Last-Event-ID`` the missed updates are
    replayed instead. The stream closes after the final record.
    """
    after = last_event_id()
    queryable(_servient(), invocation_id)  # a synchronous run has no record resource
    invocation, subscription = _servient().subscribe_invocation(invocation_id, after=after)
    links = RunLinks.of(invocation)
    snapshot = dumps(links.apply(invocation.as_record()))
    current = f"event: {invocation.action}\ndata: {snapshot}\n\n".encode()
    if subscription is None:

        async def once() -> AsyncIterator[bytes]:
            yield current

        return event_stream(once())

    def encode(message: Message) -> bytes:
        record: dict[str, Any] = links.apply(message.data)
        return (
            f"id: {sse_id(message.id)}\nevent: {message.name}\ndata: {dumps(record)}\n\n"
        ).encode()

    first = current if after is None else b": replay\n\n"
    return event_stream(stream(subscription, first, _finished, encode))
