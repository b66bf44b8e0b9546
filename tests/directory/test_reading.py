"""Reading a real Domus TDD: TDs it rewrote are consumed, listed by ``things``."""

from __future__ import annotations

import asyncio
import sys
from urllib.parse import quote

import wot_labthing as wl

from ..waiting import eventually
from .tdd import Tdd
from .test_registration import registered_servient


async def test_a_td_fetched_from_the_tdd_is_consumed_and_works(tdd: Tdd) -> None:
    async with registered_servient(tdd.url) as (_, server, registrar):
        await eventually(lambda: "lamp" in registrar.registered, "the registration", 30)
        td_id = registrar.registered["lamp"][0]
        url = f"{tdd.url}/things/{quote(td_id, safe='')}"
        thing = await wl.consume(url)
        try:
            assert "registration" in thing.td and thing.td["@type"] == "Thing"
            await thing.write_property("level", 12)
            assert await thing.read_property("level") == 12
        finally:
            await thing.aclose()


async def test_the_things_command_lists_what_the_tdd_holds(tdd: Tdd) -> None:
    async with registered_servient(tdd.url) as (_, server, registrar):
        await eventually(lambda: "lamp" in registrar.registered, "the registration", 30)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "wot_labthing", "things", tdd.url),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert "lamp" in out.decode().lower(), out.decode()
