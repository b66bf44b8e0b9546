"""Hostile clients: too many streams, slow headers, SSE readers that never read."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx

import wot_labthing as wl
from wot_labthing._http import longpoll
from wot_labthing._security import parse_security

from .conftest import Lamp, assert_problem, eventually, serving_secured


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def test_streams_per_client_are_limited() -> None:
    security = parse_security({"max_streams_per_client": 3})
    async with serving_secured(security=security) as (server, client), AsyncExitStack() as stack:
        guard = server.app.config["GUARD"]
        paths = [
            "things/lamp/properties/level/sse",
            "things/lamp/events/flash/sse",
            "things/lamp/streams/events",
        ]
        for path in paths:
            response = await stack.enter_async_context(client.stream("GET", path))
            assert response.status_code == 200
        await eventually(lambda: guard.streams["127.0.0.1"] == 3, "three streams counted")
        for path in ("things/lamp/streams/properties", "things/lamp/events/flash"):
            response = await client.get(path)
            body = assert_problem(response, 503)
            assert body["type"].endswith(":too-many-streams")
            assert int(response.headers["retry-after"]) > 0
        # another client address is not affected
        transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
        async with httpx.AsyncClient(base_url=server.url, transport=transport) as other:
            async with other.stream("GET", paths[0]) as response:
                assert response.status_code == 200
        # plain reads are not streams
        assert (await client.get("things/lamp/properties/brightness")).status_code == 200
        await stack.aclose()
        await eventually(lambda: "127.0.0.1" not in guard.streams, "closed streams forgotten")
        async with client.stream("GET", paths[0]) as response:
            assert response.status_code == 200


async def test_total_subscriptions_are_limited() -> None:
    settings = wl.ServientSettings(max_subscribers=2)
    nosec = parse_security(None)
    async with serving_secured(security=nosec, settings=settings) as (_, client):
        async with AsyncExitStack() as stack:
            for _ in range(2):
                response = await stack.enter_async_context(
                    client.stream("GET", "things/lamp/properties/level/sse")
                )
                assert response.status_code == 200
            response = await client.get("things/lamp/events/flash/sse")
            assert_problem(response, 503)
            assert "retry-after" in response.headers


async def test_slow_headers_are_cut_off() -> None:
    async with serving_secured(security=parse_security(None)) as (server, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /things HTTP/1.1\r\nHost: localhost\r\n")
        started = time.monotonic()
        closed = False
        try:
            while time.monotonic() - started < 60:
                writer.write(b"X-Slow: 1\r\n")  # a slowloris: one header line at a time
                await writer.drain()
                try:
                    if not await asyncio.wait_for(reader.read(100), 0.5):
                        closed = True
                        break
                except TimeoutError:
                    continue
        except ConnectionError:
            closed = True
        finally:
            writer.close()
        assert closed, "the server kept a connection whose request head never ended"


async def test_a_body_that_never_ends_gets_a_408_problem() -> None:
    async with serving_secured(security=parse_security(None)) as (server, _):
        server.app.config["BODY_TIMEOUT"] = 0.5
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            b"PUT /things/lamp/properties/brightness HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/json\r\nContent-Length: 10\r\n\r\n12"
        )
        await writer.drain()
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        finally:
            writer.close()
        assert head.startswith(b"HTTP/1.1 408"), head
        assert b"application/problem+json" in head.lower()


async def test_sse_clients_that_never_read_cannot_grow_memory() -> None:
    lamp = Lamp(name="lamp")
    async with serving_secured([lamp], security=parse_security(None)) as (server, _):
        hub = server.servient.hub
        sockets = []
        for _ in range(20):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
            request = b"GET /things/lamp/events/flash/sse HTTP/1.1\r\nHost: localhost\r\n\r\n"
            await asyncio.get_running_loop().sock_sendall(sock, request)
            sockets.append(sock)  # and never read from it
        try:
            await eventually(lambda: hub.subscriber_count == 20, "20 subscriptions", timeout=20)
            before = _rss_bytes()
            payload = "x" * 5000
            published = 0
            for index in range(3000):
                lamp.flash.emit(f"{index}:{payload}")
                published += len(payload) * 20
                if index % 100 == 0:
                    await asyncio.sleep(0.01)  # let the streams try to write
            await asyncio.sleep(0)
            growth = _rss_bytes() - before
            queued = [len(subscription._queue) for subscription in hub._subscriptions]
            assert max(queued) <= hub.queue_size
            assert growth < published / 4, (growth, published)
        finally:
            for sock in sockets:
                sock.close()
        await eventually(lambda: hub.subscriber_count == 0, "dead streams closed", timeout=30)


async def test_long_poll_buffers_per_client_are_limited() -> None:
    security = parse_security({"max_streams_per_client": 5})
    async with serving_secured(security=security) as (server, client):
        hub = server.servient.hub
        path = "things/lamp/properties/level/observable"
        statuses = []
        for _ in range(12):  # each cookie-less HEAD probe starts a fresh buffer
            client.cookies.clear()
            statuses.append((await client.head(path)).status_code)
        assert statuses[:5] == [202] * 5
        assert set(statuses[5:]) == {503}
        assert hub.subscriber_count == 5
        client.cookies.clear()
        response = await client.get(path, headers={"Cookie": "wot-longpoll=made-up"})
        assert_problem(response, 503)
        assert int(response.headers["retry-after"]) >= 1
        transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
        async with httpx.AsyncClient(base_url=server.url, transport=transport) as other:
            assert (await other.head(path)).status_code == 202
        # the probes expire (LONGPOLL_PROBE_GRACE) and the client may poll again
        await eventually(lambda: hub.subscriber_count == 0, "probe buffers expired", timeout=20)
        assert (await client.head(path)).status_code == 202


class _AsgiClient:
    """One HTTP/1.1 client driving the servient's ASGI stack (guard included) directly.

    Lets a test send a client's next request *inside* the ``send`` of the previous
    answer: the moment the answer's bytes are on the wire, before the server has
    finished (and uncounted) that request. Over sockets that ordering is a race.
    """

    def __init__(self, server: wl.HttpServer) -> None:
        # driven with plain dicts, as a server would send them
        self.asgi: Callable[..., Awaitable[None]] = server.app.asgi_app
        self.answers: list[tuple[int, bytes]] = []

    def request(self, path: str, on_answer: Callable[[], Awaitable[None]] | None = None) -> Any:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/" + path,
            "raw_path": ("/" + path).encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"localhost"), (b"user-agent", b"node-fetch")],
            "client": ("127.0.0.1", 40000 + len(self.answers)),
            "server": ("127.0.0.1", 80),
            "extensions": {},
        }
        sent = False
        status = 0
        body = b""

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()  # never disconnects; cancelled when answered
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            nonlocal status, body
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                body += message.get("body", b"")
                if message.get("more_body"):
                    return
                self.answers.append((status, body))
                if on_answer is not None:
                    await on_answer()

        return asyncio.ensure_future(self.asgi(scope, receive, send))


async def test_a_long_poll_client_at_its_stream_limit_is_never_refused_its_next_poll() -> None:
    """node-wot ends an observation on any non-2xx answer, silently: its re-poll must pass.

    The client holds as many long polls as it may (one here). Its next GET arrives
    the moment the previous answer is sent, before the server has uncounted that
    request; the guard must not count it against the client and answer 503.
    """
    lamp = Lamp(name="lamp")
    security = parse_security({"max_streams_per_client": 1})
    path = "things/lamp/properties/level/observable"
    async with serving_secured([lamp], security=security) as (server, _):
        pollers = longpoll._pollers(server.app)
        client = _AsgiClient(server)
        repolls: list[asyncio.Future[None]] = []

        async def repoll() -> None:  # the client's next GET, while the answer is in flight
            repolls.append(client.request(path))
            await eventually(
                lambda: repolls[0].done() or any(p.waiters for p in pollers.by_token.values()),
                "the next poll answered or held",
            )

        first = client.request(path, on_answer=repoll)
        await eventually(lambda: any(p.waiters for p in pollers.by_token.values()), "held GET")
        lamp.level = 1
        await asyncio.wait_for(first, 10)
        assert client.answers[0] == (200, b"1")
        assert not repolls[0].done(), f"the next poll was refused: {client.answers[1:]}"
        lamp.level = 2
        await asyncio.wait_for(repolls[0], 10)
        assert client.answers[1] == (200, b"2")
        assert longpoll.longpoll_count(server.app) == 1, "both polls used the one buffer"
