"""Hostile input always gets a 4xx problem: framing, paths, methods, headers, JSON, HEAD."""

from __future__ import annotations

import logging

import pytest

from wot_labthing._security import parse_security

from .conftest import (
    assert_no_leak,
    assert_problem,
    eventually,
    raw_exchange,
    served_lamp,
    serving_secured,
)

NOSEC = parse_security(None)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 10_000 + b"]" * 10_000,
        b'{"a":' * 100 + b"1" + b"}" * 100,
        b"1" * 5_000,
        b"1e400",
        b"-1e400",
        b"NaN",
        b'"\xff"',
        b"{",
    ],
)
async def test_bad_json_bodies(body: bytes, caplog: pytest.LogCaptureFixture) -> None:
    async with serving_secured(security=NOSEC) as (_, client):
        headers = {"Content-Type": "application/json"}
        for method, path in (
            ("PUT", "things/lamp/properties/brightness"),
            ("PUT", "things/lamp/properties"),
            ("POST", "things/lamp/actions/warm_up"),
        ):
            response = await client.request(method, path, content=body, headers=headers)
            assert_problem(response, 400)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize(
    ("headers", "path"),
    [
        ({"Last-Event-ID": "\u00b2"}, "things/lamp/properties/level/sse"),
        ({"Last-Event-ID": "<script>"}, "things/lamp/streams/properties"),
        ({"Last-Event-ID": "2026-01-01T00:00:00Z" + "0" * 40}, "things/lamp/streams/properties"),
        ({"Last-Event-ID": "9" * 40}, "things/lamp/events/flash/sse"),
        ({"Prefer": "wait=" + "9" * 400}, "things/lamp/actions"),
        ({"Prefer": "wait=1e400"}, "things/lamp/actions"),
        ({"Accept": "text/\u00e9v\u00e9nement"}, "things/lamp"),
    ],
)
async def test_bad_headers(headers: dict[str, str], path: str) -> None:
    async with serving_secured(security=NOSEC) as (_, client):
        encoded = {key.encode(): value.encode("utf-8") for key, value in headers.items()}
        response = await client.get(path, headers=encoded)
        body = assert_problem(response, 400)
        assert body["type"].endswith(":bad-header")


async def test_methods_and_odd_paths() -> None:
    async with serving_secured(security=NOSEC) as (server, client):
        for method in ("PROPFIND", "TRACE", "CONNECT", "PATCH", "FOO"):
            response = await client.request(method, "things/lamp")
            assert_problem(response, 405)
            assert "GET" in response.headers["allow"]
        for raw in (
            b"/things%2flamp",
            b"/things/lamp%2Fproperties/brightness",
            b"//things/lamp",
            b"/things//lamp",
            b"/things/lamp/../lamp",
            b"/things/./lamp",
            b"/things/lamp%00",
            b"/" + b"a" * 5000,
        ):
            data, _ = await raw_exchange(
                server.port,
                b"GET " + raw + b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            )
            head = data.split(b"\r\n", 1)[0]
            assert head.split()[1] in (b"400", b"414"), (raw, data[:200])
            assert b"application/problem+json" in data and b"<html" not in data.lower()


async def test_content_length_and_transfer_encoding_close_the_connection() -> None:
    async with serving_secured(security=NOSEC) as (server, _):
        request = (
            b"PUT /things/lamp/properties/brightness HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n1\r\n5\r\n0\r\n\r\n"
        )
        data, closed = await raw_exchange(server.port, request)
        assert data.startswith(b"HTTP/1.1 400"), data[:200]
        assert b"connection: close" in data.lower()
        assert closed
        assert served_lamp(server).brightness == 1


async def test_websocket_upgrade_is_a_4xx() -> None:
    async with serving_secured(security=NOSEC) as (server, _):
        request = (
            b"GET /things/lamp HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        data, _ = await raw_exchange(server.port, request)
        status = int(data.split(b" ", 2)[1])
        assert 400 <= status < 500, data[:300]
        assert b"Traceback" not in data


async def test_head_on_every_stream_answers_headers_and_keeps_no_subscription() -> None:
    async with serving_secured(security=NOSEC) as (server, client):
        hub = server.servient.hub
        run = await client.post("things/lamp/actions/warm_up", json={})
        paths = [
            "things/lamp/properties/level/sse",
            "things/lamp/events/flash/sse",
            "things/lamp/streams/properties",
            "things/lamp/streams/events",
            f"actions/{run.json()['id']}/events",
            "things/lamp",
            "things",
            ".well-known/wot",
            "things/lamp/properties/brightness",
            "actions",
        ]
        before = hub.subscriber_count
        for _ in range(20):
            for path in paths:
                response = await client.head(path)
                assert response.status_code == 200, (path, response.status_code)
                assert response.content == b""
        if "event-stream" not in (await client.head(paths[0])).headers["content-type"]:
            raise AssertionError("HEAD on an SSE URL should describe the stream")
        await eventually(lambda: hub.subscriber_count == before, "HEAD subscriptions closed")
        assert server.app.config["GUARD"].streams == {}


async def test_problem_answers_never_leak(caplog: pytest.LogCaptureFixture) -> None:
    async with serving_secured(security=NOSEC) as (_, client):
        for path in ("nowhere", "things/nope", "things/lamp/properties/nope", "actions/nope"):
            response = await client.get(path)
            assert_problem(response, 404)
            assert_no_leak(response.text)


async def test_oversized_headers() -> None:
    async with serving_secured(security=NOSEC) as (server, _):
        for extra in (
            b"X-Big: " + b"a" * 20_000 + b"\r\n",
            b"".join(b"X-%d: 1\r\n" % i for i in range(150)),
        ):
            request = b"GET /things HTTP/1.1\r\nHost: localhost\r\n" + extra + b"\r\n"
            data, _ = await raw_exchange(server.port, request)
            assert data.split(b" ", 2)[1] in (b"400", b"431"), data[:200]
            assert b"\r\n\r\n[" not in data  # no listing
