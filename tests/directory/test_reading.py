"""Reading a real Domus TDD: TDs it rewrote are consumed, listed by ``things``."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import quote

import httpx
import pytest

import wot_labthing as wl
from wot_labthing._consumed import directory

from ..processes import cli
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
        code, out, err = await cli("things", tdd.url)
    assert code == 0, err
    assert "lamp" in out.lower(), out


TD = {
    "@context": "https://www.w3.org/2022/wot/td/v1.1",
    "title": "First",
    "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
    "security": "nosec_sc",
}


def put_td(tdd: Tdd, td_id: str, title: str) -> None:
    response = httpx.put(
        f"{tdd.url}/things/{td_id}", json={**TD, "id": td_id, "title": title}, timeout=30
    )
    assert response.status_code in (201, 204), response.text


def write_while_listing(tdd: Tdd, times: int) -> list[str]:
    """Make the TDD's next ``times`` listings race a write; the titles written.

    Domus TDD 1.0.2 lists by reading every stored TD's context, then the ids to
    list, then each TD: a TD written between the first two reads has an id but no
    context yet, and the listing fails (a KeyError, answered 500). The write is
    made while the TDD's query for the ids waits in the SPARQL dispatcher.
    """
    written: list[str] = []

    def race(query: str) -> None:
        if "<urn:tdd:describes> ?id" in query and "LIMIT" in query and len(written) < times:
            written.append(f"Late {len(written)}")
            put_td(tdd, f"urn:uuid:{uuid.uuid4()}", written[-1])

    tdd.before_query = race
    return written


async def test_domus_answers_a_listing_that_races_a_write_with_500(tdd: Tdd) -> None:
    """The peer's behaviour the retries below are for (a future Domus may fix it)."""
    await asyncio.to_thread(put_td, tdd, "urn:test:first", "First")
    written = write_while_listing(tdd, 1)
    async with httpx.AsyncClient(timeout=30) as client:
        assert (await client.get(f"{tdd.url}/things")).status_code == 500
        assert written == ["Late 0"]
        listing = await client.get(f"{tdd.url}/things")
    assert listing.status_code == 200
    assert {td["title"] for td in listing.json()} == {"First", "Late 0"}


async def test_a_listing_that_raced_a_write_is_read_again(tdd: Tdd) -> None:
    await asyncio.to_thread(put_td, tdd, "urn:test:first", "First")
    written = write_while_listing(tdd, directory.LISTING_ATTEMPTS - 1)
    found = await wl.search_things(tdd.url)
    assert len(written) == directory.LISTING_ATTEMPTS - 1, "every attempt but the last raced"
    assert {thing.title for thing in found} == {"First", *written}


async def test_a_listing_that_keeps_failing_is_a_clear_error(tdd: Tdd) -> None:
    await asyncio.to_thread(put_td, tdd, "urn:test:first", "First")
    written = write_while_listing(tdd, directory.LISTING_ATTEMPTS)
    with pytest.raises(wl.RemoteError, match="could not list its Things") as raised:
        await wl.search_things(tdd.url)
    assert raised.value.status == 500
    assert len(written) == directory.LISTING_ATTEMPTS
    written = write_while_listing(tdd, directory.LISTING_ATTEMPTS)
    code, out, err = await cli("things", tdd.url)
    assert code != 0, out
    assert "could not list its Things: it answered 500 3 times" in err, err
    assert "Traceback" not in err
