"""The SSE fast path (direct body writes) and the public ASGI path deliver the same stream.

The fast path touches hypercorn/h11 internals, so it is used only on the exact
versions pinned in pyproject.toml; these tests show that it is taken there,
that the ASGI path (forced, or on any other version) is correct too, and that
a version mismatch switches it off instead of failing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

import wot_labthing as wl
from wot_labthing._http import fastbody

from ..events.conftest import Sensor, eventually, sse_events, subscribers


@asynccontextmanager
async def serving(fast_sse: bool) -> AsyncIterator[tuple[wl.HttpServer, httpx.AsyncClient, Sensor]]:
    sensor = Sensor(name="s")
    server = wl.HttpServer(wl.Servient([sensor]), port=0, fast_sse=fast_sse)
    async with server, httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield server, client, sensor


@pytest.fixture
def raw_bodies(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What each offer of a direct body returned (None: the stream used ASGI sends)."""
    answers: list[Any] = []
    original: Callable[..., Any] = fastbody._raw_body

    def recording(send: Any) -> Any:
        answers.append(original(send))
        return answers[-1]

    monkeypatch.setattr(fastbody, "_raw_body", recording)
    return answers


async def stream_three_changes(fast_sse: bool) -> list[tuple[str, Any]]:
    async with serving(fast_sse) as (server, client, sensor):
        listener = asyncio.create_task(sse_events(client, "things/s/streams/properties", 3))
        await eventually(*subscribers(server, 1))
        sensor.value = 1
        sensor.level = 0.5
        sensor.value = 2
        events = await asyncio.wait_for(listener, 10)
    return [(name, data) for _, name, data in events]


def test_the_pinned_versions_are_installed_and_the_fast_path_is_available() -> None:
    assert fastbody.installed_versions() == fastbody.TESTED
    assert fastbody.AVAILABLE


async def test_the_fast_path_is_taken_on_the_pinned_versions(raw_bodies: list[Any]) -> None:
    events = await stream_three_changes(fast_sse=True)
    assert events == [("value", 1), ("level", 0.5), ("value", 2)]
    assert raw_bodies and isinstance(raw_bodies[0], fastbody._H11Body)


async def test_the_asgi_path_when_forced_delivers_the_same_stream(raw_bodies: list[Any]) -> None:
    events = await stream_three_changes(fast_sse=False)
    assert events == [("value", 1), ("level", 0.5), ("value", 2)]
    assert raw_bodies == [], "no direct body was offered"


def test_other_versions_switch_the_fast_path_off_without_failing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fastbody, "TESTED", {"hypercorn": "0.0.1", "h11": "0.0.1"})
    assert fastbody._load() is None
    monkeypatch.setattr(fastbody, "_INTERNALS", None)
    monkeypatch.setattr(fastbody, "AVAILABLE", False)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    assert fastbody.offering_raw_bodies(app) is app, "the app is served unwrapped"

    async def send(*message: Any) -> None:
        return None

    assert fastbody._raw_body(send) is None


async def test_the_asgi_path_on_other_versions_still_streams(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fastbody, "_INTERNALS", None)
    monkeypatch.setattr(fastbody, "AVAILABLE", False)
    events = await stream_three_changes(fast_sse=True)
    assert events == [("value", 1), ("level", 0.5), ("value", 2)]
