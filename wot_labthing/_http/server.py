"""Serving a servient over HTTP with hypercorn.

The listening socket is bound here before hypercorn starts, so ``port=0``
yields a free port that is known (and printed) before the first request.

Direct body writes: an SSE message to a thousand subscribers is a thousand ASGI
sends, and each send walks Quart, hypercorn's stream and protocol layers and
h11 before its bytes reach the socket; that, not the socket write, was most of
the server's time. So the app is served behind a thin ASGI wrapper that offers
each HTTP request the :data:`~.observe.RAW_BODY` scope extension: once a
streamed response has started, the event streams may write their body straight
to the connection's transport, framed as h11 would (chunked for HTTP/1.1, raw
for HTTP/1.0), while the response's last chunk still goes through ASGI. The
offer is only honoured for hypercorn's asyncio HTTP/1.1 protocol; anything else
(HTTP/2, another server or version, a HEAD request) answers None and the stream
uses ordinary ASGI sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from h11._writers import ChunkedWriter, Http10Writer
from hypercorn.asyncio import serve
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.config import Config
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.protocol.http_stream import ASGIHTTPState, HTTPStream

from .._security import SecurityConfig
from .._servient import Servient
from .app import create_app
from .forms import thing_path
from .observe import RAW_BODY
from .security import allow_server_hosts, apply_limits, is_loopback

__all__ = ["HttpServer"]

_log = logging.getLogger(__name__)


def _bind(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6 and host in ("::", ""):
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind(address)
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


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
    stream = getattr(send, "__self__", None)
    if not isinstance(stream, HTTPStream) or stream.state is not ASGIHTTPState.RESPONSE:
        return None
    protocol = getattr(stream.send, "__self__", None)
    if not isinstance(protocol, H11Protocol):
        return None
    server = getattr(protocol.send, "__self__", None)
    if not isinstance(server, TCPServer) or not isinstance(server.writer, asyncio.StreamWriter):
        return None
    framing = getattr(protocol.connection, "_writer", None)
    if isinstance(framing, ChunkedWriter):
        return _H11Body(server.writer, chunked=True)
    if isinstance(framing, Http10Writer):
        return _H11Body(server.writer, chunked=False)
    return None


def _offering_raw_bodies(app: Any) -> Callable[..., Awaitable[None]]:
    """``app`` as an ASGI app whose HTTP requests carry the RAW_BODY extension."""

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("extensions") is not None:
            scope["extensions"][RAW_BODY] = partial(_raw_body, send)
        await app(scope, receive, send)

    return asgi


class HttpServer:
    """A servient served over HTTP on ``host:port``; an async context manager.

    Args:
        servient: the Things to serve.
        host: address to bind (default loopback only).
        port: TCP port; 0 picks a free one (see :attr:`port` after start).
        security: credentials, roles, allowed hosts, CORS and TLS files
            (default: ``nosec``, loopback names only, no CORS, plain HTTP).
    """

    def __init__(
        self,
        servient: Servient,
        host: str = "127.0.0.1",
        port: int = 8080,
        *,
        security: SecurityConfig | None = None,
    ) -> None:
        self.servient = servient
        self.host = host
        self.port = port
        self.security = security or SecurityConfig()
        self.app = create_app(servient, self.security)
        self._socket: socket.socket | None = None
        self._shutdown = asyncio.Event()
        self._task: asyncio.Task[Any] | None = None

    @property
    def url(self) -> str:
        """The base URL clients on this machine can use, ending in ``/``."""
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"{self.scheme}://{host}:{self.port}/"

    @property
    def scheme(self) -> str:
        """``https`` when a certificate is configured, else ``http``."""
        return "https" if self.security.certfile else "http"

    def td_urls(self) -> list[str]:
        """The URL of every exposed Thing's TD."""
        return [self.url + thing_path(name).lstrip("/") for name in self.servient.things]

    async def start(self) -> None:
        """Bind, start the servient (open instruments), then accept requests."""
        self._socket = _bind(self.host, self.port)
        self.port = self._socket.getsockname()[1]
        allow_server_hosts(self.app.config["GUARD"], self.host, self.port)
        if not self.security.schemes and not is_loopback(self.host):
            _log.warning(
                "serving %s without authentication: anyone who can reach this address can "
                "write properties and invoke actions; configure [security] users or tokens",
                self.host,
            )
        await self.servient.start()
        config = Config()
        apply_limits(config, self.security)
        config.bind = [f"fd://{self._socket.fileno()}"]
        config.graceful_timeout = 2.0
        # hypercorn closes a keep-alive connection after 1000 requests by default, which
        # breaks long-lived pollers that do not reconnect.
        config.keep_alive_max_requests = 1_000_000
        config.accesslog = None
        config.errorlog = logging.getLogger("hypercorn.error")
        self._shutdown.clear()
        self._task = asyncio.create_task(
            serve(_offering_raw_bodies(self.app), config, shutdown_trigger=self._shutdown.wait)
        )
        await asyncio.sleep(0.05)
        if self._task.done():
            self._task.result()

    async def stop(self) -> None:
        """Cancel running actions, close streams and instruments, stop serving; idempotent."""
        if self._task is None:
            return
        await self.servient.stop()
        self._shutdown.set()
        task, self._task = self._task, None
        try:
            await asyncio.wait_for(task, timeout=5)
        except (TimeoutError, asyncio.CancelledError):
            _log.warning("hypercorn did not stop within 5 s")
        if self._socket is not None:
            with contextlib.suppress(OSError):  # hypercorn may have closed the fd already
                self._socket.close()
            self._socket = None

    async def serve_forever(self) -> None:
        """Start, then serve until cancelled (e.g. by Ctrl-C), then stop cleanly."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    async def __aenter__(self) -> HttpServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
