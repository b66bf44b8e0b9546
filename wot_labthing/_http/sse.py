"""Server-Sent Events framing and delivery: messages to ``text/event-stream`` bodies.

Each message is framed once (``id``, ``event``, ``data``) and shared by every
stream; a lagging reader's lost messages are marked with ``: dropped N
messages`` before the next event. A stream is written either through ordinary
ASGI sends (a body iterator) or, where the server offers :data:`RAW_BODY`
(see ``fastbody.py``), straight to the connection by one fan-out pass per
loop iteration.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from quart import Response, current_app, request

from .._events import Delivery, Message, Subscription

__all__ = [
    "EVENT_STREAM",
    "KEEPALIVE",
    "RAW_BODY",
    "RawBody",
    "direct_body",
    "event_stream",
    "last_event_id",
    "sse_id",
    "stream",
]

_log = logging.getLogger(__name__)

#: Seconds between SSE keep-alive comments on an idle stream.
KEEPALIVE = 15.0
EVENT_STREAM = "text/event-stream"
#: The ASGI scope extension by which a server offers direct writes to a response
#: body: a callable, called once the body has started, that returns a
#: :class:`RawBody` or None (see ``fastbody.py``).
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


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def sse_id(message_id: int) -> str:
    """A message id (microseconds since the epoch) as an RFC 3339 UTC timestamp.

    The HTTP SSE Profile recommends the change time as the event id; microseconds
    keep every id unique, and :func:`last_event_id` reads it back exactly.
    """
    moment = _EPOCH + message_id * _MICROSECOND
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def last_event_id() -> int | None:
    """The message id a reconnecting client last saw (``Last-Event-ID``), or None."""
    text = request.headers.get("Last-Event-ID", "").strip()
    if text.isdigit():  # ids before they were timestamps
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return (moment - _EPOCH) // _MICROSECOND


def _encode(message: Message) -> bytes:
    frame = message.encoded.get("sse")
    if frame is None:  # built once per message, shared by every stream
        frame = (
            f"id: {sse_id(message.id)}\nevent: {message.name}\ndata: {message.text}\n\n"
        ).encode()
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


async def stream(
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


def direct_body() -> tuple[Callable[[], RawBody | None], _Fanout] | None:
    """The server's offer to write this response's body directly, if it makes one."""
    if request.method != "GET":  # a HEAD response has no body
        return None
    extensions = request.scope.get("extensions") or {}
    factory = extensions.get(RAW_BODY)
    return (factory, _fanout()) if callable(factory) else None


def event_stream(body: AsyncIterator[bytes]) -> Response:
    response = Response(body, status=200, content_type=EVENT_STREAM, headers=_STREAM_HEADERS)
    response.timeout = None  # streams are long-lived: no Quart response timeout
    return response
