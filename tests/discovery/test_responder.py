"""mDNS responders opened off the event loop (``_discovery/responder.py``), on loopback.

``zeroconf._core.create_sockets`` (interfaces read, sockets opened and bound) is
in conftest's ``EXTRA_BLOCKING``: made on the loop, these tests fail with
blockbuster's ``BlockingError``. Loopback needs no network namespace: the
advertiser answers on 127.0.0.1 and the browsers hear it there.
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing

import wot_labthing as wl
from wot_labthing._discovery import DirectoryAdvertising, MdnsAdvertising, watch_directories

#: Seconds a loopback advertisement may take to be found (each try asks at once).
DEADLINE = 20.0


class Lamp(wl.Thing):
    """A lamp on the bench."""

    on: bool = wl.property(default=False, description="Whether it is lit.")


def advertised_servient() -> wl.HttpServer:
    servient = wl.Servient([Lamp(name="lamp", title="Responder test lamp")])
    servient.add_advertiser(MdnsAdvertising(allow_loopback=True))
    return wl.HttpServer(servient, host="127.0.0.1", port=0)


async def test_an_advertised_servient_is_found_by_watch_directories() -> None:
    async with advertised_servient() as server:
        wanted = f"{server.url}.well-known/wot"
        async with aclosing(watch_directories()) as directories:
            async with asyncio.timeout(DEADLINE):
                async for directory in directories:
                    if directory.td_url == wanted:  # other servients may share loopback
                        break
        assert not directory.writable


async def test_an_advertised_thing_is_found_by_discover() -> None:
    async with advertised_servient() as server:
        wanted = f"{server.url}things/lamp"
        async with asyncio.timeout(DEADLINE):
            while True:  # each browse lasts its timeout; a loaded machine may need another
                found = await wl.discover(2.0, ipv6=False)
                mine = [thing for thing in found if thing.td_url == wanted]
                if mine:
                    break
        assert mine[0].title == "Responder test lamp"
        assert mine[0].problems == []


async def test_an_announced_directory_is_found_by_watch_directories() -> None:
    """DirectoryAdvertising (a directory that does not advertise itself) opens its own."""
    async with wl.HttpServer(wl.Servient([]), host="127.0.0.1", port=0) as server:
        wanted = f"{server.url}.well-known/wot"
        announcer = DirectoryAdvertising(wanted, allow_loopback=True, title="Responder test TDD")
        await announcer.open(server.servient, [])
        try:
            assert announcer.name is not None, "announced"
            async with aclosing(watch_directories()) as directories:
                async with asyncio.timeout(DEADLINE):
                    async for directory in directories:
                        if directory.td_url == wanted:
                            break
        finally:
            await announcer.close()
