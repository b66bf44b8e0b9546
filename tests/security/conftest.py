"""A secured servient (basic and bearer users with both roles) and helpers for its tests."""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import httpx

import wot_labthing as wl
from wot_labthing._resources import schema_validator
from wot_labthing._security import SecurityConfig, hash_secret, parse_security

PROBLEM = "application/problem+json"
PASSWORDS = {"olga": "observer-pass", "otto": "operator-pass", "stagehand": "stage-pass"}
TOKENS = {"watcher": "tok-observer-0123456789", "driver": "tok-operator-0123456789"}
OBSERVER_BASIC = ("olga", PASSWORDS["olga"])
OPERATOR_BASIC = ("otto", PASSWORDS["otto"])


class Lamp(wl.Thing):
    """A Thing with every kind of affordance, to be reached through every form."""

    brightness: int = wl.property(default=1, minimum=0, maximum=10, description="Brightness.")
    level: int = wl.property(default=0, observable=True, description="An observable level.")
    flash = wl.event(data=str, description="A flash happened.")

    @wl.property
    def temperature(self) -> float:
        """A read-only reading."""
        return 21.5

    @wl.action(synchronous=True)
    def toggle(self) -> bool:
        """A quick synchronous action."""
        return True

    @wl.action
    async def warm_up(self, seconds: float = 30) -> float:
        """A long asynchronous action (query and cancel forms)."""
        import asyncio

        await asyncio.sleep(seconds)
        return seconds


@functools.cache
def _hash(secret: str) -> str:
    return hash_secret(secret)


def security_table(**extra: Any) -> dict[str, Any]:
    """A [security] table: observer and operator by basic and by bearer, per-Thing roles."""
    table: dict[str, Any] = {
        "users": [
            {"name": "olga", "role": "observer", "password_hash": _hash(PASSWORDS["olga"])},
            {"name": "otto", "role": "operator", "password_hash": _hash(PASSWORDS["otto"])},
            {
                "name": "stagehand",
                "role": "observer",
                "things": {"lamp2": "operator"},
                "password_hash": _hash(PASSWORDS["stagehand"]),
            },
        ],
        "tokens": [
            {"name": "watcher", "role": "observer", "token_hash": _hash(TOKENS["watcher"])},
            {"name": "driver", "role": "operator", "token_hash": _hash(TOKENS["driver"])},
        ],
    }
    table.update(extra)
    return table


def secured(**extra: Any) -> SecurityConfig:
    """The :func:`security_table` parsed."""
    return parse_security(security_table(**extra))


def served_lamp(server: wl.HttpServer, name: str = "lamp") -> Lamp:
    """The served ``name`` as the :class:`Lamp` it is (the registry holds plain Things)."""
    thing = server.servient.things[name]
    assert isinstance(thing, Lamp), thing
    return thing


@asynccontextmanager
async def serving_secured(
    things: Iterable[wl.Thing] | None = None,
    security: SecurityConfig | None = None,
    settings: wl.ServientSettings | None = None,
    host: str = "127.0.0.1",
) -> AsyncIterator[tuple[wl.HttpServer, httpx.AsyncClient]]:
    """A real server with ``security`` on a free port, and an httpx client without credentials."""
    things = list(things) if things is not None else [Lamp(name="lamp"), Lamp(name="lamp2")]
    server = wl.HttpServer(
        wl.Servient(things, settings=settings),
        host=host,
        port=0,
        security=security if security is not None else secured(),
    )
    async with server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            yield server, client


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """``response`` is an RFC 9457 problem with ``status`` and no traceback or path."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    schema_validator("problem.schema.json").validate(body)
    assert body["status"] == status
    assert_no_leak(response.text)
    return body


def assert_no_leak(text: str) -> None:
    """No traceback, source path or device path in ``text``."""
    for marker in ("Traceback", 'File "', ".py", "/dev/", "/home/", "/work/", "site-packages"):
        assert marker not in text, (marker, text)


async def eventually(predicate: Callable[[], bool], what: str, timeout: float = 5) -> None:
    """Wait until ``predicate()`` holds; fail after ``timeout`` seconds."""
    import asyncio

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def raw_exchange(port: int, request: bytes, timeout: float = 10) -> tuple[bytes, bool]:
    """Send raw bytes to the server; the bytes received and whether the server closed first.

    Reads until the server closes the connection or goes quiet after answering.
    """
    import asyncio

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    data = b""
    closed = False
    try:
        while True:
            wait = timeout if b"\r\n\r\n" not in data else 1.0
            chunk = await asyncio.wait_for(reader.read(65536), wait)
            if not chunk:
                closed = True
                break
            data += chunk
    except TimeoutError:
        pass
    finally:
        writer.close()
    return data, closed
