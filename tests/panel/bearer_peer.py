"""A bearer-token peer for the panel, on another origin: tests/client/peer.py behind CORS.

The peer (a real quart server) wants ``Authorization: Bearer`` on every request, the TD
included, and answers like python-labthings (201 records without an event stream, so
the panel follows a run by polling its record). Here ``brightness`` is also observable
through an SSE form (behind the same token), so a test sees the panel's own stream reader
send the credentials. Browsers need CORS for it: this ASGI wrapper answers preflights and
exposes ``WWW-Authenticate``, as a CORS-aware servient does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import socket
import threading
from collections.abc import Iterator
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart, Response, request

from ..client.peer import TOKEN, create_peer

__all__ = ["TOKEN", "bearer_peer"]

Scope = dict[str, Any]


class Cors:
    """Let any origin call the wrapped ASGI app with an Authorization header."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        origin = dict(scope.get("headers", [])).get(b"origin")
        if scope["type"] != "http" or origin is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            headers = [
                (b"access-control-allow-origin", origin),
                (b"access-control-allow-methods", b"GET, PUT, POST, DELETE"),
                (b"access-control-allow-headers", b"authorization, content-type, last-event-id"),
            ]
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return

        async def with_cors(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": [
                        *message.get("headers", []),
                        (b"access-control-allow-origin", origin),
                        (b"access-control-expose-headers", b"www-authenticate, location"),
                    ],
                }
            await send(message)

        await self.app(scope, receive, with_cors)


def observable_peer(base: str) -> Quart:
    """The client tests' peer with an SSE form for ``brightness`` added to its TD."""
    app = create_peer(base)
    listeners: list[asyncio.Queue[object]] = []

    @app.after_request
    async def extend(response: Response) -> Response:
        if request.path == "/td" and response.status_code == 200:
            td = await response.get_json()
            brightness = td["properties"]["brightness"]
            brightness["observable"] = True
            brightness["forms"].append(
                {
                    "href": "brightness/sse",
                    "op": ["observeproperty", "unobserveproperty"],
                    "subprotocol": "sse",
                    "contentType": "application/json",
                }
            )
            response.set_data(json.dumps(td))
        if request.path == "/brightness" and request.method == "PUT":
            value = await request.get_json()
            for listener in listeners:
                listener.put_nowait(value)
        return response

    @app.get("/brightness/sse")
    async def brightness_sse() -> Response:
        changes: asyncio.Queue[object] = asyncio.Queue()
        listeners.append(changes)

        async def body() -> Any:
            try:
                yield b": open\n\n"
                while True:
                    value = await changes.get()
                    yield f"event: brightness\ndata: {json.dumps(value)}\n\n".encode()
            finally:
                listeners.remove(changes)

        response = Response(body(), content_type="text/event-stream")
        response.timeout = None
        return response

    return app


@contextlib.contextmanager
def bearer_peer() -> Iterator[str]:
    """Serve the peer with CORS in a thread on a free loopback port; yields its TD URL."""
    urls: queue.Queue[str] = queue.Queue()
    stopping = threading.Event()

    async def main() -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{sock.getsockname()[1]}/"
        config = Config()
        config.bind = [f"fd://{sock.fileno()}"]
        config.accesslog = None
        config.graceful_timeout = 1.0
        stop = asyncio.Event()
        task = asyncio.create_task(
            serve(Cors(observable_peer(base)), config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]
        )
        urls.put(base + "td")
        await asyncio.to_thread(stopping.wait)
        stop.set()
        await asyncio.wait_for(task, 5)
        with contextlib.suppress(OSError):  # hypercorn may have closed it already
            sock.close()

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="bearer-peer")
    thread.start()
    try:
        yield urls.get(timeout=10)
    finally:
        stopping.set()
        thread.join(timeout=10)
