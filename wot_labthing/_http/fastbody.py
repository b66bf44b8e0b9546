"""The SSE fast path: direct body writes on hypercorn's asyncio HTTP/1.1 connections.

An SSE message to a thousand subscribers is a thousand ASGI sends, and each send
walks Quart, hypercorn's stream and protocol layers and h11 before its bytes
reach the socket; that, not the socket write, was most of the server's time. So
the app is served behind a thin ASGI wrapper that offers each HTTP request the
:data:`~.sse.RAW_BODY` scope extension: once a streamed response has started,
the event streams may write their body straight to the connection's transport,
framed as h11 would (chunked for HTTP/1.1, raw for HTTP/1.0), while the
response's last chunk still goes through ASGI.

This is the only module that touches private hypercorn and h11 internals
(``h11._writers``; walking ``send.__self__`` -> stream -> protocol -> server).
It is used only when the installed versions are exactly the ones it was
written and tested against (:data:`TESTED`, pinned in ``pyproject.toml``) and
every internal it needs imports; otherwise :data:`AVAILABLE` is False, nothing
is offered and every stream uses ordinary ASGI sends. Importing this module
never fails. At request time, anything unexpected (HTTP/2, another server, a
HEAD request, a changed object graph) answers None: the ASGI path again.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from .sse import RAW_BODY

__all__ = ["AVAILABLE", "TESTED", "installed_versions", "offering_raw_bodies"]

_log = logging.getLogger(__name__)

#: The exact versions whose internals this module was written against.
TESTED = {"hypercorn": "0.18.0", "h11": "0.16.0"}


def installed_versions() -> dict[str, str | None]:
    """The installed version of each package in :data:`TESTED` (None when absent)."""
    versions: dict[str, str | None] = {}
    for name in TESTED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _load() -> tuple[Any, ...] | None:
    if installed_versions() != TESTED:
        _log.debug("SSE fast path off: %s installed, written for %s", installed_versions(), TESTED)
        return None
    try:
        from h11._writers import ChunkedWriter, Http10Writer
        from hypercorn.asyncio.tcp_server import TCPServer
        from hypercorn.protocol.h11 import H11Protocol
        from hypercorn.protocol.http_stream import ASGIHTTPState, HTTPStream
    except Exception as exc:  # any change in the internals: use the public path
        _log.warning("SSE fast path off: %s", exc)
        return None
    return ChunkedWriter, Http10Writer, TCPServer, H11Protocol, ASGIHTTPState, HTTPStream


_INTERNALS = _load()
#: True when the direct-write path may be offered (the versions match and it imports).
AVAILABLE = _INTERNALS is not None


class _H11Body:
    """A started HTTP/1.x response body on hypercorn's asyncio transport."""

    def __init__(self, writer: asyncio.StreamWriter, chunked: bool) -> None:
        self._writer = writer
        self._transport = writer.transport
        self._chunked = chunked
        self._high = self._transport.get_write_buffer_limits()[1]

    def write(self, data: bytes) -> None:
        if data:  # an empty chunk would end a chunked body
            self._transport.write(b"%x\r\n%b\r\n" % (len(data), data) if self._chunked else data)

    @property
    def blocked(self) -> bool:
        return self._transport.get_write_buffer_size() > self._high

    @property
    def closing(self) -> bool:
        return self._transport.is_closing()

    async def drain(self) -> None:
        await self._writer.drain()


def _raw_body(send: Callable[..., Awaitable[None]]) -> _H11Body | None:
    """The body of the response that ``send`` (hypercorn's) has started, if writable."""
    if _INTERNALS is None:
        return None
    chunked_writer, http10_writer, tcp_server, h11_protocol, state, http_stream = _INTERNALS
    try:
        stream = getattr(send, "__self__", None)
        if not isinstance(stream, http_stream) or stream.state is not state.RESPONSE:
            return None
        protocol = getattr(stream.send, "__self__", None)
        if not isinstance(protocol, h11_protocol):
            return None
        server = getattr(protocol.send, "__self__", None)
        if not isinstance(server, tcp_server) or not isinstance(
            server.writer, asyncio.StreamWriter
        ):
            return None
        framing = getattr(protocol.connection, "_writer", None)
        if isinstance(framing, chunked_writer):
            return _H11Body(server.writer, chunked=True)
        if isinstance(framing, http10_writer):
            return _H11Body(server.writer, chunked=False)
    except Exception:  # an object graph we do not know: use ASGI sends
        _log.debug("SSE fast path not usable for this response", exc_info=True)
    return None


def offering_raw_bodies(app: Any, enabled: bool = True) -> Callable[..., Awaitable[None]]:
    """``app`` as an ASGI app whose HTTP requests carry the RAW_BODY extension.

    With ``enabled`` False, or when :data:`AVAILABLE` is False, ``app`` is served
    unchanged and every stream goes through ASGI sends.
    """
    if not (enabled and AVAILABLE):
        return app  # type: ignore[no-any-return]

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        extensions = scope.get("extensions") if scope["type"] == "http" else None
        if extensions is None:
            await app(scope, receive, send)
            return
        extensions[RAW_BODY] = partial(_raw_body, send)
        try:
            await app(scope, receive, send)
        finally:
            # ``send`` is a method of the stream that owns ``scope``: left in place, the
            # extension makes a reference cycle, and every request's objects would wait
            # for a full garbage collection (tens of MiB after a burst of POSTs).
            extensions.pop(RAW_BODY, None)

    return asgi
