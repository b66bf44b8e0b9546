"""Long polling as node-wot does it: HEAD probe, held GET, no lost updates between polls."""

from __future__ import annotations

import asyncio

import httpx
import pytest

import wot_labthing as wl
from wot_labthing._http import longpoll as observe

from ..conftest import Serve
from .conftest import Sensor, eventually

VALUE = "things/s/properties/value/observable"


async def cookieless_get(server: wl.HttpServer, path: str) -> httpx.Response:
    """A request from a client that keeps no cookies and opens a new connection (node-wot)."""
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        return await client.get(path)


async def wait_until_held(server: wl.HttpServer, count: int = 1) -> None:
    """Wait until ``count`` GETs are held by pollers (no fixed sleeps)."""
    pollers = observe._pollers(server.app)
    await eventually(
        lambda: sum(len(p.waiters) for p in pollers.by_token.values()) >= count,
        f"{count} held GETs",
        timeout=10,
    )


async def test_head_answers_at_once_and_get_is_held_until_the_next_change(serve: Serve) -> None:
    sensor = Sensor(name="s")
    async with serve([sensor]) as (server, client):
        head = await client.head(VALUE)
        assert head.status_code == 202  # answered, not held (a held request ends in 204)
        poll = asyncio.create_task(client.get(VALUE))
        await wait_until_held(server)
        await asyncio.sleep(0.1)
        assert not poll.done(), "GET is held until the next change"
        sensor.value = 5
        response = await asyncio.wait_for(poll, 5)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json() == 5, "exactly that one value"


async def test_two_consecutive_changes_both_reach_a_client_that_repolls_at_once(
    serve: Serve,
) -> None:
    sensor = Sensor(name="s")
    async with serve([sensor]) as (server, client):
        poll = asyncio.create_task(client.get(VALUE))
        await wait_until_held(server)
        sensor.value = 1
        sensor.value = 2  # arrives while the client is between its two polls
        first = await poll
        second = await client.get(VALUE)
        assert [first.json(), second.json()] == [1, 2]


async def test_no_update_lost_under_rapid_changes(serve: Serve) -> None:
    sensor = Sensor(name="s")
    async with serve([sensor]) as (server, client):
        await client.head(VALUE)
        received: list[int] = []

        async def poll_forever() -> None:
            while len(received) < 100:
                received.append((await client.get(VALUE)).json())

        poller = asyncio.create_task(poll_forever())
        await wait_until_held(server)
        for value in range(1, 101):
            sensor.value = value
            if value % 7 == 0:
                await asyncio.sleep(0)  # let some answers out mid-burst
        await asyncio.wait_for(poller, 10)
        assert received == list(range(1, 101))


async def test_head_probe_already_buffers_for_a_cookieless_client(serve: Serve) -> None:
    sensor = Sensor(name="s")
    async with serve([sensor]) as (server, _):
        async with httpx.AsyncClient(base_url=server.url) as once:
            assert (await once.head(VALUE)).status_code == 202
        sensor.value = 1  # after node-wot's probe, before its first GET
        sensor.value = 2
        answers = [await cookieless_get(server, VALUE), await cookieless_get(server, VALUE)]
        assert [answer.json() for answer in answers] == [1, 2]
        assert observe.longpoll_count(server.app) == 1, "the GETs found the probe's buffer"


async def test_two_cookie_clients_on_one_host_each_receive_every_change(serve: Serve) -> None:
    sensor = Sensor(name="s")
    async with serve([sensor]) as (server, a):
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as b:
            assert (await a.head(VALUE)).status_code == 202
            assert (await b.head(VALUE)).status_code == 202
            assert a.cookies.get(observe.COOKIE) != b.cookies.get(observe.COOKIE)
            first_a = asyncio.create_task(a.get(VALUE))
            await wait_until_held(server)
            sensor.value = 1  # b is between polls, a is waiting
            sensor.value = 2
            got_a = [(await first_a).json(), (await a.get(VALUE)).json()]
            got_b = [(await b.get(VALUE)).json(), (await b.get(VALUE)).json()]
            assert got_a == got_b == [1, 2]
            assert observe.longpoll_count(server.app) == 2


async def test_event_long_poll(serve: Serve) -> None:
    sensor = Sensor(name="s")
    async with serve([sensor]) as (server, client):
        assert (await client.head("things/s/events/alarm")).status_code == 202
        poll = asyncio.create_task(client.get("things/s/events/alarm"))
        await wait_until_held(server)
        sensor.emit_event("alarm", "smoke")
        sensor.emit_event("alarm", "fire")
        response = await asyncio.wait_for(poll, 5)
        assert response.status_code == 200 and response.json() == "smoke"
        assert (await client.get("things/s/events/alarm")).json() == "fire"


async def test_unknown_or_unobservable_affordances_are_404(serve: Serve) -> None:
    async with serve([Sensor(name="s")]) as (_, client):
        for path in (
            "things/s/properties/quiet/observable",
            "things/s/properties/nope/observable",
            "things/s/events/nope",
            "things/nope/events/alarm",
        ):
            for method in ("HEAD", "GET"):
                response = await client.request(method, path)
                assert response.status_code == 404, (method, path)


async def test_overflow_is_marked_and_the_newest_values_survive(serve: Serve) -> None:
    sensor = Sensor(name="s")
    async with serve([sensor]) as (server, client):
        server.servient.hub.queue_size = 3
        await client.head(VALUE)
        for value in range(1, 11):
            sensor.value = value
        answers = [await client.get(VALUE) for _ in range(3)]
        assert [answer.json() for answer in answers] == [8, 9, 10]
        assert answers[0].headers["x-messages-dropped"] == "7"
        assert "x-messages-dropped" not in answers[1].headers


async def test_buffers_expire_after_the_grace_period(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(observe, "LONGPOLL_GRACE", 0.2)
    sensor = Sensor(name="s")
    async with serve([sensor]) as (server, client):
        hub = server.servient.hub
        await client.head(VALUE)
        poll = asyncio.create_task(client.get("things/s/events/alarm"))
        await wait_until_held(server)
        assert observe.longpoll_count(server.app) == 2 and hub.subscriber_count == 2
        await eventually(
            lambda: observe.longpoll_count(server.app) == 1, "the HEAD's buffer to expire", 10
        )
        await asyncio.sleep(0.4)  # two more graces: the held GET's buffer outlives them
        assert observe.longpoll_count(server.app) == 1, "a held GET keeps its buffer alive"
        poll.cancel()  # the client goes away mid-poll
        await eventually(lambda: hub.subscriber_count == 0, "the buffers to be freed", 10)
        assert observe.longpoll_count(server.app) == 0 and hub.subscriber_count == 0


async def test_subscriber_cap_applies_to_long_pollers(serve: Serve) -> None:
    settings = wl.ServientSettings(max_subscribers=1)
    async with serve([Sensor(name="s")], settings) as (server, client):
        assert (await client.head(VALUE)).status_code == 202
        refused = await cookieless_get(server, "things/s/events/alarm")
        assert refused.status_code == 503
        assert refused.headers["content-type"] == "application/problem+json"


async def test_an_expired_hold_redirects_to_poll_again_until_fetchs_limit(serve: Serve) -> None:
    """A redirect carries no value (node-wot follows it); fetch allows 20 per request."""
    settings = wl.ServientSettings(longpoll_hold=0.05)
    async with serve([Sensor(name="s")], settings) as (server, client):
        first = await client.get(VALUE)
        assert first.status_code == 307 and first.content == b""
        assert first.headers["location"] == f"?{observe.REPOLL}=1"  # the same path
        assert first.headers["cache-control"] == "no-store"
        sensor = server.servient.thing("s")
        assert isinstance(sensor, Sensor)
        sensor.value = 7
        assert (await client.get(VALUE)).json() == 7  # the change, answered at once
        # the 20th expiry in a row ends the request: with the current value (repeated)
        followed = await client.get(VALUE, follow_redirects=True)
        assert followed.status_code == 200 and followed.json() == 7
        assert len(followed.history) == observe.MAX_REPOLLS < 20
        # an event has no current value: 204
        ended = await client.get("things/s/events/tick", follow_redirects=True)
        assert ended.status_code == 204 and len(ended.history) == observe.MAX_REPOLLS
        refollowed = await client.get(f"{VALUE}?{observe.REPOLL}=junk")
        assert refollowed.headers["location"] == f"?{observe.REPOLL}=1"


async def test_shutdown_answers_held_gets_at_once() -> None:
    sensor = Sensor(name="s")
    server = wl.HttpServer(wl.Servient([sensor]), port=0)
    await server.start()
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        poll = asyncio.create_task(client.get(VALUE))
        await wait_until_held(server)
        await server.stop()
        response = await asyncio.wait_for(poll, 30)
        # the shutdown answered it (the hold running out would answer 204)
        assert response.status_code == 503 and response.headers["retry-after"] == "1"
        assert observe.longpoll_count(server.app) == 0
        assert server.servient.hub.subscriber_count == 0


async def test_probe_only_buffers_expire_sooner(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(observe, "LONGPOLL_PROBE_GRACE", 0.3)
    sensor = Sensor(name="s")
    async with serve([sensor]) as (server, client):
        await client.head(VALUE)
        poll = asyncio.create_task(client.get(VALUE))
        await wait_until_held(server)
        for _ in range(3):  # a health check probing again and again, no cookies kept
            async with httpx.AsyncClient(base_url=server.url) as once:
                assert (await once.head(VALUE)).status_code == 202
        assert observe.longpoll_count(server.app) > 1, "each probe started a buffer"
        await eventually(
            lambda: observe.longpoll_count(server.app) == 1, "the probes' buffers to expire", 10
        )
        sensor.value = 1
        assert (await poll).json() == 1
