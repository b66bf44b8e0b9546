"""A servient whose TDs need credentials still registers them (#16: registrar credentials).

The registrar takes TDs from the HTTP binding in-process (``Endpoint.describe``), so
it needs none of the servient's credentials; the TDs it registers carry the
servient's security definitions, and a client with credentials uses the Thing
through the TD it got from the directory.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import httpx

import wot_labthing as wl
from wot_labthing._cli import compose
from wot_labthing._config import build_things, parse_config
from wot_labthing._registration import DirectoryRegistrar
from wot_labthing._security import hash_secret

from ..waiting import eventually
from .tdd import Tdd
from .test_registration import stored

PASSWORD = "correct horse battery staple"


async def test_a_servient_that_requires_credentials_registers_its_tds(
    tdd: Tdd, tmp_path: Path
) -> None:
    config = parse_config(
        {
            "servient": {"host": "127.0.0.1", "port": 0, "mdns": False},
            "security": {
                "users": [
                    {"name": "olga", "role": "operator", "password_hash": hash_secret(PASSWORD)}
                ]
            },
            "directories": [{"url": tdd.url, "ttl": 30, "retry_max": 0.5}],
            "things": [{"class": "tests.directory.test_registration:Lamp", "name": "lamp"}],
        },
        directory=tmp_path,
    )
    servient = wl.Servient(build_things(config), settings=config.settings)
    server = compose(config, servient)
    [registrar] = [r for r in servient.registrars if isinstance(r, DirectoryRegistrar)]
    async with servient:
        async with httpx.AsyncClient(timeout=30) as client:
            # the servient's own TDs are closed to a client without credentials ...
            refused = await client.get(server.url + "things/lamp")
            assert refused.status_code == 401
            # ... and yet the registrar, which has none, registered them
            await eventually(lambda: "lamp" in registrar.registered, "the registration", 30)
            td_id = registrar.registered["lamp"][0]
            found = await stored(tdd, td_id)
        assert found is not None and registrar.last_error is None
        assert found["base"] == server.url + "things/lamp/"
        schemes = {d.get("scheme") for d in found["securityDefinitions"].values()}
        assert schemes == {"basic"}
        # a client with credentials uses the Thing through the TD from the directory
        thing = await wl.consume(
            f"{tdd.url}/things/{quote(td_id, safe='')}",
            credentials=wl.Credentials(username="olga", password=PASSWORD),
        )
        try:
            await thing.write_property("level", 7)
            assert await thing.read_property("level") == 7
        finally:
            await thing.aclose()
    assert await stored(tdd, td_id) is None  # deleted on the clean shutdown
