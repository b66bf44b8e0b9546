"""Registration in a real Domus TDD: register, heartbeat, update, deregister, TDD down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

import wot_labthing as wl
from wot_labthing._registration import DirectoryRegistrar, DirectorySettings

from ..waiting import eventually
from .tdd import Tdd


class Lamp(wl.Thing):
    """A small Thing to register."""

    level: int = wl.property(default=0, observable=True)


@asynccontextmanager
async def registered_servient(
    tdd_url: str, *things: wl.Thing, ttl: int = 30
) -> AsyncIterator[tuple[wl.Servient, wl.HttpServer, DirectoryRegistrar]]:
    servient = wl.Servient(things or [Lamp(name="lamp")])
    server = wl.HttpServer(servient, host="127.0.0.1", port=0)
    registrar = DirectoryRegistrar(DirectorySettings(url=tdd_url, ttl=ttl, retry_max=0.5))
    servient.add_registrar(registrar)
    async with servient:
        yield servient, server, registrar


async def stored(tdd: Tdd, td_id: str) -> dict[str, Any] | None:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.get(f"{tdd.url}/things/{quote(td_id, safe='')}")
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    td: dict[str, Any] = response.json()
    return td


async def test_registers_keeps_alive_by_heartbeat_and_deletes_on_shutdown(tdd: Tdd) -> None:
    async with registered_servient(tdd.url, ttl=2) as (_, server, registrar):
        async with httpx.AsyncClient() as client:
            td = (await client.get(server.url + "things/lamp")).json()
        found = await eventually(lambda: stored(tdd, td["id"]), "the registration", timeout=30)
        assert found["title"] == td["title"]
        registration = found["registration"]
        # Domus TDD 1.0.2 hands the ttl back as "discovery:ttl" (its JSON-LD compaction)
        assert registration.get("ttl", registration.get("discovery:ttl")) == 2
        assert "expires" in registration
        assert found["base"] == server.url + "things/lamp/"
        # the TDD drops expired TDs every second; two heartbeats later it is still there
        first = registrar.puts
        await eventually(lambda: registrar.puts >= first + 2, "two heartbeats", timeout=30)
        assert await stored(tdd, td["id"]) is not None
    assert registrar.registered == {}
    assert await stored(tdd, td["id"]) is None


async def test_added_and_removed_things_are_registered_and_deleted(tdd: Tdd) -> None:
    async with registered_servient(tdd.url) as (servient, server, registrar):
        await eventually(lambda: "lamp" in registrar.registered, "the first registration", 30)
        servient.add(Lamp(name="second"))
        await eventually(lambda: "second" in registrar.registered, "the added Thing", 30)
        second_id = registrar.registered["second"][0]
        assert (await stored(tdd, second_id)) is not None
        servient.remove("second")
        await eventually(lambda: "second" not in registrar.registered, "the removal", 30)
        assert await stored(tdd, second_id) is None


async def test_a_directory_that_is_down_is_retried_while_serving(tmp_path: Path) -> None:
    tdd = Tdd(tmp_path)
    try:
        async with registered_servient(tdd.url) as (servient, server, registrar):
            await eventually(lambda: registrar.last_error, "a failed attempt", 30)
            async with httpx.AsyncClient() as client:  # serving meanwhile
                assert (await client.get(server.url + "things/lamp")).status_code == 200
            await asyncio.to_thread(tdd.start)
            await eventually(lambda: "lamp" in registrar.registered, "the registration", 60)
            assert registrar.last_error is None
            td_id = registrar.registered["lamp"][0]
            assert await stored(tdd, td_id) is not None
            # and a TDD that goes away and comes back while registered
            await asyncio.to_thread(tdd.stop_api)
            servient_thing = Lamp(name="late")
            servient.add(servient_thing)
            await eventually(lambda: registrar.last_error, "the TDD to be missed", 30)
            await asyncio.to_thread(tdd.start)
            await eventually(lambda: "late" in registrar.registered, "the late Thing", 60)
    finally:
        await asyncio.to_thread(tdd.stop)
