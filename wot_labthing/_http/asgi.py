"""Raw ASGI for the guard: the scope's headers, and problem answers sent before routing.

The guard (``guard.py``) and the credential check (``authentication.py``) answer
before quart sees a request, so they speak ASGI messages directly; the types,
header access and RFC 9457 problem answers they share live here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import quote

from .._jsonutil import dumps
from .._problems import problem_type

__all__ = ["ASGIApp", "Message", "Receive", "Scope", "Send"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _header(scope: Scope, name: bytes) -> str | None:
    """The first value of header ``name`` (lower-case bytes), decoded as latin-1."""
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            text: str = value.decode("latin-1")
            return text
    return None


def _set_header(scope: Scope, name: bytes, value: str) -> None:
    headers = [(key, val) for key, val in scope.get("headers", []) if key.lower() != name]
    headers.append((name, value.encode("latin-1")))
    scope["headers"] = headers


def _instance(scope: Scope) -> str:
    """The request path as sent (percent-encoded), a valid URI reference for ``instance``."""
    raw = scope.get("raw_path") or scope.get("path", "/").encode("utf-8")
    return quote(raw.decode("latin-1"), safe="/%:@!$&'()*+,;=-._~")


def _problem_body(status: int, slug: str, title: str, detail: str, scope: Scope) -> bytes:
    body = {
        "type": problem_type(slug),
        "title": title,
        "status": status,
        "detail": detail,
        "instance": _instance(scope) if status != 421 else "/",
    }
    return dumps(body).encode()


def _problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    scope: Scope,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> Callable[[Send], Awaitable[None]]:
    """A problem answer, sent later with the (possibly CORS-wrapped) ``send``."""
    body = (
        b"" if scope.get("method") == "HEAD" else _problem_body(status, slug, title, detail, scope)
    )

    async def respond(send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"cache-control", b"no-store"),
                    *(headers or []),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return respond


def _bad_header(scope: Scope, name: bytes, why: str) -> Callable[[Send], Awaitable[None]]:
    header = name.decode().title()
    return _problem(400, "bad-header", "Malformed header", f"{header} {why}", scope)
