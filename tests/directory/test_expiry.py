"""A servient that dies without deregistering: the TDD drops its TDs when the TTL runs out."""

from __future__ import annotations

from pathlib import Path

from ..processes import serving
from ..waiting import eventually
from .tdd import Tdd
from .test_registration import stored

CONFIG = """
[servient]
host = "127.0.0.1"
port = 0
mdns = false

[[directories]]
url = "{url}"
ttl = 3

[[things]]
class = "tests.directory.test_registration:Lamp"
name = "lamp"
title = "Crashing lamp"
"""


async def titled(tdd: Tdd, title: str) -> list[str]:
    import httpx

    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(10):  # Domus answers a listing that races a PUT with a 500
            response = await client.get(f"{tdd.url}/things")
            if response.status_code != 500:
                break
    response.raise_for_status()
    return [str(td["id"]) for td in response.json() if td.get("title") == title]


async def test_the_tds_of_a_killed_servient_expire(tdd: Tdd, tmp_path: Path) -> None:
    config = tmp_path / "crash.toml"
    config.write_text(CONFIG.format(url=tdd.url))
    async with serving(config) as process:
        [td_id] = await eventually(lambda: titled(tdd, "Crashing lamp"), "the registration", 60)
        # kept alive by the heartbeat past its TTL ...
        first = await stored(tdd, td_id)
        assert first is not None
        await eventually(
            lambda: _later(tdd, td_id, first["registration"]), "a heartbeat", timeout=30
        )
        process.kill()  # ... then killed: no deregistration
        await process.wait()
    assert await stored(tdd, td_id) is not None
    await eventually(lambda: _gone(tdd, td_id), "the expiry", timeout=30)


async def _later(tdd: Tdd, td_id: str, registration: dict[str, object]) -> bool:
    now = await stored(tdd, td_id)
    return now is not None and now["registration"].get("expires") != registration.get("expires")


async def _gone(tdd: Tdd, td_id: str) -> bool:
    return await stored(tdd, td_id) is None
