"""The HTTP binding's gatekeeper: an ASGI middleware in front of every route.

Everything that must hold for *every* request, whatever route it reaches, is
checked here once, before routing, so no route module can forget it:

- framing: unknown methods (405), both ``Content-Length`` and
  ``Transfer-Encoding`` (400 and the connection closed, RFC 9112 §6.3; h11 lets
  Transfer-Encoding win and keeps the connection), odd paths (``%2f``, ``//``,
  dot segments) and over-long URLs, WebSocket upgrades;
- the ``Host`` allow-list (421 before routing: no DNS rebinding, and links are
  only ever built from an allowed or the configured host; a request without
  ``Host`` is given the configured one);
- CORS (preflights answered here, response headers added on the way out) and
  the same-origin rule for unsafe methods (no cross-site form can invoke);
- authentication (``basic``/``bearer``, verified credentials cached) and the
  observer/operator roles, per Thing where the path names one;
- per-client limits on held streams (SSE, long poll): 503 + ``Retry-After`` (a long
  poll only when it would start a new subscription, see ``longpoll.py``);
- ``HEAD``: headers only, and a stream's subscription is closed at once.

Every refusal is an RFC 9457 problem; nothing here echoes request data back.
The credential check itself is ``authentication.py``; the raw ASGI header access
and problem answers both use are ``asgi.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from .._security import Role, SecurityConfig
from .._servient import Servient
from . import routes
from .asgi import (
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    _bad_header,
    _client,
    _header,
    _problem,
    _problem_body,
    _set_header,
)
from .authentication import Authentication
from .longpoll import STREAMS_FULL, TOO_MANY_STREAMS
from .sse import RAW_BODY

__all__ = ["Guard", "install_guard"]

_log = logging.getLogger(__name__)

KNOWN_METHODS = ("GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS")
UNSAFE_METHODS = frozenset({"PUT", "POST", "DELETE"})
#: Request headers a cross-origin page may send (answered in preflights).
CORS_ALLOW_HEADERS = "Authorization, Content-Type, Accept, Last-Event-ID, Prefer, Cache-Control"
#: Response headers a cross-origin page may read.
CORS_EXPOSE_HEADERS = "Location, Link, ETag, Retry-After, WWW-Authenticate, X-Messages-Dropped"
RAW_BODY_EXTENSION = RAW_BODY  # a HEAD never writes a body

_SSE_PATH = re.compile(
    r"^/things/[^/]+/(?:(?:properties|events)/[^/]+/sse|streams/(?:properties|events))$"
    r"|^/actions/[^/]+/events$"
)
_LONGPOLL_PATH = re.compile(r"^/things/[^/]+/(?:properties/[^/]+/observable|events/[^/]+)$")
_DESCRIPTION_PATH = re.compile(r"^/(?:\.well-known/wot|things/?|things/[^/]+|models/[^/]+)$")
_THING_PATH = re.compile(r"^/things/([^/]+)(?:/|$)")
_INVOCATION_PATH = re.compile(r"^/actions/([^/]+)(?:/|$)")
_ODD_PATH = re.compile(rb"%2f|%5c|%00|//|/\.\.?(?:/|$)|\\", re.IGNORECASE)
#: An event id: a decimal number (older ids) or an RFC 3339 timestamp (the SSE Profile's).
_LAST_EVENT_ID = re.compile(r"^(?:[0-9]{0,19}|[0-9]{4}-[0-9A-Za-z:.+\-]{1,35})$")
_PREFER_WAIT = re.compile(r"wait\s*=\s*([^\s,;]*)", re.IGNORECASE)


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def split_host(value: str) -> tuple[str, str | None]:
    """``host[:port]`` (IPv6 in brackets) as a lower-case name without a final dot, and port."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        name, rest = value[1:end], value[end + 1 :]
        port = rest[1:] if rest.startswith(":") else None
    elif value.count(":") == 1:
        name, _, port_text = value.partition(":")
        port = port_text
    else:
        name, port = value, None
    return name.split("%", 1)[0].rstrip("."), port  # an IPv6 zone (%eth0, %25eth0) is local


class Guard:
    """ASGI middleware enforcing the rules above around ``app`` (the quart app)."""

    def __init__(self, app: ASGIApp, servient: Servient, config: SecurityConfig) -> None:
        self.app = app
        self.servient = servient
        self.config = config
        #: Credentials checked (and cached, and failures throttled) per request.
        self.authentication = Authentication(config)
        self.authenticator = self.authentication.authenticator
        self.throttle = self.authentication.throttle
        #: Host names accepted in ``Host`` (lower case, no port); the server adds its own.
        self.allowed_hosts: set[str] = {"localhost", "127.0.0.1", "::1"}
        self.allowed_hosts.update(split_host(host)[0] for host in config.allowed_hosts)
        #: ``host:port`` put into requests that carry no ``Host``.
        self.default_host = "localhost"
        self._public = urlsplit(config.public_url) if config.public_url else None
        if self._public is not None and self._public.hostname:
            self.allowed_hosts.add(self._public.hostname.lower())
        self.streams: Counter[str] = Counter()

    def allow_host(self, host: str) -> None:
        """Accept ``host`` (a name or address the server is reachable at) in ``Host``."""
        self.allowed_hosts.add(split_host(host)[0])

    # ASGI entry ---------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._refuse_websocket(scope, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._check_request(scope)
        if refusal is not None:
            await refusal(send)
            return
        origin = _header(scope, b"origin")
        cors = self._cors_allowed(origin)
        if scope["method"] == "OPTIONS" and _header(scope, b"access-control-request-method"):
            await self._preflight(scope, send, origin, cors)
            return
        if scope["method"] in UNSAFE_METHODS:
            refusal = self._check_unsafe(scope, origin, cors)
            if refusal is not None:
                await refusal(send)
                return
        if cors is not None:
            send = self._with_cors(send, cors)
        refusal = await self._check_access(scope)
        if refusal is not None:
            await refusal(send)
            return
        await self._dispatch(scope, receive, send)

    # Framing, paths, Host -----------------------------------------------------

    def _check_request(self, scope: Scope) -> Callable[[Send], Awaitable[None]] | None:
        method = scope["method"]
        if method not in KNOWN_METHODS:
            return _problem(
                405,
                "not-allowed",
                "Method not allowed",
                f"this server answers {', '.join(KNOWN_METHODS)}",
                scope,
                [(b"allow", ", ".join(KNOWN_METHODS).encode())],
            )
        if _header(scope, b"transfer-encoding") is not None and (
            _header(scope, b"content-length") is not None
        ):
            return _problem(
                400,
                "bad-framing",
                "Conflicting message framing",
                "a request must not carry both Content-Length and Transfer-Encoding",
                scope,
                [(b"connection", b"close")],
            )
        # the URL, header count and header size bounds are [servient] settings; h11 bounds
        # the whole head only while it arrives incomplete
        settings = self.servient.settings
        headers = scope.get("headers", [])
        max_headers, max_header_bytes = settings.max_headers, settings.max_header_bytes
        if (
            len(headers) > max_headers
            or sum(len(k) + len(v) for k, v in headers) > max_header_bytes
        ):
            return _problem(
                431,
                "headers-too-large",
                "Request header fields too large",
                f"send at most {max_headers} header fields and {max_header_bytes} bytes of them",
                scope,
                [(b"connection", b"close")],
            )
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        query: bytes = scope.get("query_string", b"")
        if len(raw_path) + len(query) > settings.max_url_bytes:
            return _problem(414, "uri-too-long", "URI too long", "the URL is too long", scope)
        if _ODD_PATH.search(raw_path) or not raw_path.startswith(b"/"):
            return _problem(
                400,
                "bad-path",
                "Malformed path",
                "encoded slashes, empty or dot segments are not accepted",
                scope,
            )
        host = _header(scope, b"host")
        if host is None or not host.strip():
            _set_header(scope, b"host", self.default_host)
        elif split_host(host)[0] not in self.allowed_hosts:
            return _problem(
                421,
                "misdirected-request",
                "Misdirected request",
                "this server does not answer for that Host; use its address or configured name",
                scope,
            )
        if self._public is not None:
            scope["scheme"] = self._public.scheme
            _set_header(scope, b"host", self._public.netloc)
        return self._check_headers(scope)

    def _check_headers(self, scope: Scope) -> Callable[[Send], Awaitable[None]] | None:
        for name in (b"last-event-id", b"prefer", b"accept", b"content-type"):
            value = _header(scope, name)
            if value is not None and not value.isascii():
                return _bad_header(scope, name, "must be ASCII")
        last_event_id = _header(scope, b"last-event-id")
        if last_event_id is not None and not _LAST_EVENT_ID.match(last_event_id.strip()):
            return _bad_header(scope, b"last-event-id", "must be the id of an event")
        prefer = _header(scope, b"prefer")
        if prefer is not None:
            match = _PREFER_WAIT.search(prefer)
            if match and not re.fullmatch(r"[0-9]{1,6}(?:\.[0-9]{1,6})?", match.group(1)):
                return _bad_header(scope, b"prefer", "wait must be a number of seconds")
        return None

    async def _refuse_websocket(self, scope: Scope, send: Send) -> None:
        """No WebSocket binding (yet): a problem answer when the server can send one."""
        if "websocket.http.response" in (scope.get("extensions") or {}):
            body = _problem_body(
                400, "no-websocket", "WebSocket not supported", "this servient speaks HTTP", scope
            )
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": 400,
                    "headers": [(b"content-type", b"application/problem+json")],
                }
            )
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1008})

    # CORS and the same-origin rule ---------------------------------------------

    def _cors_allowed(self, origin: str | None) -> str | None:
        """The ``Access-Control-Allow-Origin`` value for ``origin``, or None."""
        if origin is None:
            return None
        origins = self.config.cors_origins
        if "*" in origins:
            return "*"
        return origin if origin.lower().rstrip("/") in origins else None

    async def _preflight(
        self, scope: Scope, send: Send, origin: str | None, cors: str | None
    ) -> None:
        if cors is None:
            await _problem(
                403, "cors-refused", "Origin not allowed", "this origin may not call the API", scope
            )(send)
            return
        headers = [
            (b"access-control-allow-origin", cors.encode()),
            (b"access-control-allow-methods", b"GET, HEAD, PUT, POST, DELETE"),
            (b"access-control-allow-headers", CORS_ALLOW_HEADERS.encode()),
            (b"access-control-max-age", b"600"),
            (b"vary", b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
        ]
        if cors != "*":
            headers.append((b"access-control-allow-credentials", b"true"))
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    def _with_cors(self, send: Send, cors: str) -> Send:
        async def cors_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"access-control-allow-origin", cors.encode()))
                headers.append((b"access-control-expose-headers", CORS_EXPOSE_HEADERS.encode()))
                headers.append((b"vary", b"Origin"))
                if cors != "*":
                    headers.append((b"access-control-allow-credentials", b"true"))
                message = {**message, "headers": headers}
            await send(message)

        return cors_send

    def _check_unsafe(
        self, scope: Scope, origin: str | None, cors: str | None
    ) -> Callable[[Send], Awaitable[None]] | None:
        """No cross-site page may change anything unless its origin is allowed by CORS.

        An HTML form can POST ``text/plain`` or form data with no preflight, and
        an empty body skips JSON parsing, so a non-JSON ``Content-Type`` is
        refused even without a body, and a foreign ``Origin`` (or
        ``Sec-Fetch-Site: cross-site``) is refused unless CORS allows it.
        """
        content_type = _header(scope, b"content-type")
        if content_type and not _is_json(content_type):
            return _problem(
                415,
                "unsupported-media-type",
                "Unsupported media type",
                "send application/json (or no body and no Content-Type)",
                scope,
            )
        if cors is not None:
            return None
        own = f"{scope.get('scheme', 'http')}://{_header(scope, b'host') or ''}".lower()
        if origin is not None:
            foreign = origin.lower().rstrip("/") != own
        else:
            foreign = _header(scope, b"sec-fetch-site") == "cross-site"
        if foreign:
            return _problem(
                403,
                "cross-origin",
                "Cross-origin request refused",
                "pages on other origins may not change this servient (see cors_origins)",
                scope,
            )
        return None

    # Authentication and roles ---------------------------------------------------

    async def _check_access(self, scope: Scope) -> Callable[[Send], Awaitable[None]] | None:
        schemes = self.config.schemes
        path: str = scope["path"]
        method: str = scope["method"]
        if not schemes:
            return None
        if method in ("GET", "HEAD", "OPTIONS"):
            if path in (routes.LIVENESS, routes.READINESS):
                return None  # health probes say nothing about the Things: no credentials
            if _DESCRIPTION_PATH.match(path) and self.config.descriptions_public:
                return None
        principal, failure = await self.authentication.authenticate(scope)
        if principal is None:
            return self.authentication.unauthorized(scope, failure)
        need = Role.OPERATOR if method in UNSAFE_METHODS else Role.OBSERVER
        thing = self._thing_of(path)
        role = principal.role_for(thing)
        if role is None or role < need:
            return _problem(
                403,
                "forbidden",
                "Forbidden",
                f"{need.name.lower()} role needed"
                + (f" on Thing {thing!r}" if thing is not None else ""),
                scope,
            )
        return None

    def _thing_of(self, path: str) -> str | None:
        match = _THING_PATH.match(path)
        if match:
            reference = match.group(1)
            if reference not in self.servient.things:  # a TD id (retrieveThing) names it too
                for name, thing in self.servient.things.items():
                    if self.servient.thing_id(thing) == reference:
                        return name
            return reference
        match = _INVOCATION_PATH.match(path)
        if match:
            try:
                return self.servient.query_action(match.group(1)).thing_name
            except Exception:  # unknown id: the route answers 404 after the role check
                return None
        return None

    # Dispatch: stream limits and HEAD ---------------------------------------------

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        is_sse = bool(_SSE_PATH.match(path))
        if method == "HEAD":
            await self._head(scope, receive, send, is_sse)
            return
        if method == "GET" and (is_sse or _LONGPOLL_PATH.match(path)):
            client = _client(scope)
            if self.streams[client] >= self.config.max_streams_per_client:
                if not is_sse:
                    # A long poll may be the next GET of a subscription the client holds,
                    # sent the moment the last answer arrived and so before that request
                    # is uncounted here; node-wot ends an observation on any refusal.
                    # Only longpoll.py knows whether the GET needs a new buffer: it
                    # refuses those, with the problem below.
                    scope[STREAMS_FULL] = True
                else:
                    await _problem(503, *TOO_MANY_STREAMS, scope, [(b"retry-after", b"5")])(send)
                    return
            self.streams[client] += 1
            try:
                await self.app(scope, receive, send)
            finally:
                self.streams[client] -= 1
                if self.streams[client] <= 0:
                    del self.streams[client]
            return
        await self.app(scope, receive, send)

    async def _head(self, scope: Scope, receive: Receive, send: Send, is_sse: bool) -> None:
        """Headers only; an event stream is opened as a GET and closed after its headers.

        A stream's subscription is made by its route and closed by its body's
        ``finally``, so the body must start once; the first chunk is dropped and
        the task cancelled, which closes the subscription before we return.
        """
        inner = dict(scope)
        extensions = dict(scope.get("extensions") or {})
        extensions.pop(RAW_BODY_EXTENSION, None)
        inner["extensions"] = extensions
        if is_sse:
            inner["method"] = "GET"
        finished = asyncio.Event()
        started = False

        async def head_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start" and not started:
                started = True
                await send(message)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                if not is_sse:
                    finished.set()
                return
            if message["type"] == "http.response.body" and started:
                finished.set()
                if is_sse:
                    await asyncio.Event().wait()  # cancelled below

        task = asyncio.ensure_future(self.app(inner, receive, head_send))
        waiter = asyncio.ensure_future(finished.wait())
        try:
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            if not task.done() and is_sse:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def install_guard(app: Any, servient: Servient, config: SecurityConfig) -> Guard:
    """Put a :class:`Guard` in front of quart ``app``; returns it (the server adds hosts)."""
    guard = Guard(app.asgi_app, servient, config)
    app.asgi_app = guard
    return guard
