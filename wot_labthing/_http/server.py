"""Serving a servient over HTTP with hypercorn: the HTTP binding's lifecycle.

:class:`HttpServer` is a binding (``_lifecycle.Binding``): it registers itself
with its servient, which opens it after the Things and closes it before them,
so ``async with HttpServer(servient)`` and ``async with servient`` are the same
start-up and shutdown. The listening socket is bound here before hypercorn
starts, so ``port=0`` yields a free port that is known (and printed) before the
first request. Event streams may write their bodies directly to the connection
(see ``fastbody.py``, the only module that touches hypercorn internals).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Any

from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config, Sockets
from hypercorn.utils import wrap_app

from .._lifecycle import Endpoint
from .._security import SecurityConfig
from .._servient import Servient
from . import routes
from .app import create_app
from .connections import ConnectionLimiter, LimitedListener
from .fastbody import offering_raw_bodies
from .forms import thing_description
from .routes import thing_path
from .security import allow_server_hosts, apply_limits, is_loopback

__all__ = ["HttpServer"]

_log = logging.getLogger(__name__)


def _bind(host: str, port: int) -> LimitedListener:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = LimitedListener(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and host in ("::", ""):
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(address)
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class HttpServer:
    """A servient served over HTTP on ``host:port``; an async context manager.

    Starting or stopping it starts or stops the whole servient (Things, this and
    any other binding, advertisers); see :class:`~wot_labthing.Servient`.

    Args:
        servient: the Things to serve.
        host: address to bind (default loopback only).
        port: TCP port; 0 picks a free one (see :attr:`port` after start).
        fast_sse: let event streams write directly to hypercorn's connections
            when the installed hypercorn/h11 are the tested versions (False:
            always plain ASGI sends).
        security: credentials, roles, allowed hosts, CORS and TLS files
            (default: ``nosec``, loopback names only, no CORS, plain HTTP).
    """

    def __init__(
        self,
        servient: Servient,
        host: str = "127.0.0.1",
        port: int = 8080,
        *,
        fast_sse: bool = True,
        security: SecurityConfig | None = None,
    ) -> None:
        self.servient = servient
        self.host = host
        self.port = port
        self.fast_sse = fast_sse
        self.security = security or SecurityConfig()
        self.app = create_app(servient, self.security)
        self._socket: LimitedListener | None = None
        settings = servient.settings
        #: Open connections, counted where they are accepted (see ``connections.py``).
        self.connections = ConnectionLimiter(
            settings.max_connections, settings.max_connections_per_client
        )
        self._shutdown = asyncio.Event()
        self._task: asyncio.Task[Any] | None = None
        servient.add_binding(self)

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

    @property
    def directory_url(self) -> str:
        """The URL of the servient's directory TD (WoT Discovery's well-known URL)."""
        return self.url + routes.DIRECTORY.lstrip("/")

    def td_urls(self) -> list[str]:
        """The URL of every exposed Thing's TD."""
        return [self.url + thing_path(name).lstrip("/") for name in self.servient.things]

    @property
    def endpoint(self) -> Endpoint | None:
        """Where this binding listens, once open."""
        if self._task is None:
            return None
        return Endpoint(
            scheme=self.scheme,
            host=self.host,
            port=self.port,
            thing_path=thing_path,
            directory_path=routes.DIRECTORY,
            describe=self.describe,
        )

    def describe(self, name: str, host_url: str) -> dict[str, Any] | None:
        """The TD of the Thing ``name`` as ``GET /things/{name}`` serves it from ``host_url``.

        In-process, so a registrar needs no credentials and no allowed ``Host``
        to obtain it; None if there is no such Thing. With ``[security] public_url``
        set, that is the base, as in every TD this server serves.
        """
        thing = self.servient.things.get(name)
        if thing is None:
            return None
        if self.security.public_url:
            host_url = self.security.public_url.rstrip("/") + "/"
        td = thing_description(
            thing,
            host_url,
            thing_id=self.servient.thing_id(thing),
            security=self.app.config.get("TD_SECURITY"),
        )
        return self.servient.extend_description(name, td)

    async def start(self) -> None:
        """Start the servient: open its Things, then serve (and advertise, if configured)."""
        await self.servient.start()

    async def stop(self) -> None:
        """Stop the servient: end actions and streams, stop serving, close the Things."""
        await self.servient.stop()

    async def open(self, servient: Servient) -> None:
        """Bind and accept requests (called by the servient after its Things are open)."""
        if self._task is not None:
            return
        self._socket = _bind(self.host, self.port)
        self.port = self._socket.getsockname()[1]
        # reads every interface address when bound to a wildcard: a worker thread's job
        # (nothing is served yet, so the guard is not read meanwhile)
        await asyncio.to_thread(allow_server_hosts, self.app.config["GUARD"], self.host, self.port)
        if not self.security.schemes and not is_loopback(self.host):
            _log.warning(
                "serving %s without authentication: anyone who can reach this address can "
                "write properties and invoke actions; configure [security] users or tokens",
                self.host,
            )
        config = Config()
        apply_limits(config, self.security, servient.settings)
        self._socket.limiter = self.connections
        self._socket.tls = config.ssl_enabled
        config.graceful_timeout = 2.0
        # hypercorn closes a keep-alive connection after 1000 requests by default, which
        # breaks long-lived pollers that do not reconnect.
        config.keep_alive_max_requests = 1_000_000
        config.accesslog = None
        config.errorlog = logging.getLogger("hypercorn.error")
        self._shutdown.clear()
        app = offering_raw_bodies(self.app, enabled=self.fast_sse)
        # worker_serve is what hypercorn's serve() runs; called directly so it serves our
        # listening socket (whose accept() bounds connections) instead of a copy of its fd.
        sockets = Sockets(
            secure_sockets=[self._socket] if config.ssl_enabled else [],
            insecure_sockets=[] if config.ssl_enabled else [self._socket],
            quic_sockets=[],
        )
        self._task = asyncio.create_task(
            worker_serve(
                wrap_app(app, config.wsgi_max_body_size, "asgi"),
                config,
                sockets=sockets,
                shutdown_trigger=self._shutdown.wait,
            )
        )
        await asyncio.sleep(0.05)
        if self._task.done():
            task, self._task = self._task, None
            self._close_socket()
            task.result()

    async def close(self) -> None:
        """Stop serving; idempotent (the servient has ended streams and actions first)."""
        if self._task is None:
            return
        self._shutdown.set()
        task, self._task = self._task, None
        try:
            await asyncio.wait_for(task, timeout=5)
        except (TimeoutError, asyncio.CancelledError):
            _log.warning("hypercorn did not stop within 5 s")
        self._close_socket()

    def _close_socket(self) -> None:
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
