"""Connection bounds with real sockets: per client address and in total, others still served.

Several client addresses come from the loopback range (127.0.0.x) by binding the
client socket's source address, so every test stays on this machine.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from contextlib import AsyncExitStack

import pytest

import wot_labthing as wl
from wot_labthing._config import parse_config
from wot_labthing._security import parse_security

from .conftest import eventually, serving_secured

REQUEST = b"GET /things/lamp/properties/brightness HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


class Connection:
    """A raw keep-alive HTTP/1.1 connection from a chosen loopback source address."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, source: str) -> Connection:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((source, 0))
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock)
        return cls(reader, writer)

    async def exchange(self) -> tuple[int | None, bytes]:
        """Send one request; the status and head of the answer (None: closed unanswered)."""
        try:
            self.writer.write(REQUEST)
            await self.writer.drain()
            head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)
        except (ConnectionError, asyncio.IncompleteReadError):
            return None, b""
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        if length:
            await asyncio.wait_for(self.reader.readexactly(length), 10)
        return int(head.split(b" ", 2)[1]), head

    def close(self) -> None:
        self.writer.close()


async def _served(port: int, source: str) -> Connection:
    """A connection from ``source`` that has been answered 200 (so the server counts it)."""
    connection = await Connection.open(port, source)
    status, head = await connection.exchange()
    assert status == 200, head
    return connection


def _refused(status: int | None, head: bytes) -> bool:
    """503 with Retry-After, or a connection closed without an answer."""
    return status is None or (status == 503 and b"retry-after:" in head.lower())


def _settings(total: int, per_client: int) -> wl.ServientSettings:
    return wl.ServientSettings(max_connections=total, max_connections_per_client=per_client)


async def _streaming(port: int, source: str) -> Connection:
    """A connection from ``source`` holding an SSE stream (never idle, so never timed out)."""
    connection = await Connection.open(port, source)
    connection.writer.write(
        b"GET /things/lamp/properties/level/sse HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    )
    head = await asyncio.wait_for(connection.reader.readuntil(b"\r\n\r\n"), 10)
    assert head.startswith(b"HTTP/1.1 200"), head
    return connection


async def test_connections_per_client_are_bounded_and_others_still_served(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "wot_labthing._http.connections")
    settings = _settings(total=100, per_client=6)
    async with serving_secured(security=parse_security(None), settings=settings) as (server, _):
        held = [await _streaming(server.port, "127.0.0.2") for _ in range(6)]
        extra = await Connection.open(server.port, "127.0.0.2")
        status, head = await extra.exchange()
        extra.close()
        assert _refused(status, head), head
        assert status == 503, "a plain-HTTP refusal should be answered, not just dropped"
        assert b"application/problem+json" in head
        # another client address is served
        other = await _served(server.port, "127.0.0.3")
        assert any("refused a connection from 127.0.0.2" in r.message for r in caplog.records)
        # closing connections frees their places (hypercorn closes its end of a connection
        # its client closed when the idle timer ends, within idle_timeout)
        for connection in held:
            connection.close()
        await eventually(
            lambda: server.connections.open["127.0.0.2"] == 0,
            "closed connections released",
            timeout=15,
        )
        again = await _served(server.port, "127.0.0.2")
        again.close()
        other.close()


async def test_total_connections_are_bounded() -> None:
    settings = _settings(total=8, per_client=5)
    async with serving_secured(security=parse_security(None), settings=settings) as (server, _):
        held = [await _streaming(server.port, "127.0.0.4") for _ in range(5)]
        held += [await _streaming(server.port, "127.0.0.5") for _ in range(3)]
        extra = await Connection.open(server.port, "127.0.0.6")
        assert _refused(*await extra.exchange())
        extra.close()
        held.pop().close()
        await eventually(
            lambda: server.connections.count < 8, "a closed connection released", timeout=15
        )
        newcomer = await _served(server.port, "127.0.0.6")
        newcomer.close()
        for connection in held:
            connection.close()


async def test_slow_heads_count_and_are_released_after_the_idle_timeout() -> None:
    """Connections that never finish a head hold a place only until ``idle_timeout``."""
    settings = wl.ServientSettings(
        max_connections=100, max_connections_per_client=4, idle_timeout=1.0
    )
    async with serving_secured(security=parse_security(None), settings=settings) as (server, _):
        async with AsyncExitStack() as stack:
            for _ in range(4):
                slow = await Connection.open(server.port, "127.0.0.7")
                stack.callback(slow.close)
                slow.writer.write(b"GET / HTTP/1.1\r\n")  # and nothing more
            await eventually(
                lambda: server.connections.open["127.0.0.7"] == 4, "slow connections counted"
            )
            started = time.monotonic()
            await eventually(
                lambda: server.connections.open["127.0.0.7"] == 0,
                "slow connections dropped",
                timeout=10,
            )
            assert time.monotonic() - started < 5
            fresh = await _served(server.port, "127.0.0.7")
            fresh.close()


def test_limits_are_config_keys() -> None:
    config = parse_config(
        {
            "servient": {
                "max_connections": 50,
                "max_connections_per_client": 10,
                "idle_timeout": 2.5,
                "max_header_bytes": 8192,
                "max_headers": 50,
                "max_url_bytes": 1024,
            }
        }
    )
    assert config.settings.max_connections == 50
    assert config.settings.idle_timeout == 2.5
    assert config.settings.max_url_bytes == 1024
    with pytest.raises(wl.ConfigError):
        parse_config({"servient": {"max_connections": 0}})
    with pytest.raises(wl.ConfigError):
        parse_config({"servient": {"idle_timeout": 0}})


async def test_configured_url_and_header_bounds_apply() -> None:
    settings = wl.ServientSettings(max_url_bytes=300, max_headers=20)
    async with serving_secured(security=parse_security(None), settings=settings) as (_, client):
        response = await client.get("things/lamp/properties/brightness", params={"x": "y" * 300})
        assert response.status_code == 414
        headers = {f"x-h{i}": "1" for i in range(25)}
        response = await client.get("things/lamp/properties/brightness", headers=headers)
        assert response.status_code == 431
        assert (await client.get("things/lamp/properties/brightness")).status_code == 200
