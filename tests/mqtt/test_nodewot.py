"""node-wot observes a property through a real mosquitto from our TD (MQTT form only)."""

from __future__ import annotations

import asyncio
import json

from ..conftest import INTEROP_DIR, ensure_node_modules, require_node
from .broker import Mosquitto
from .test_binding import lamp_servient


async def test_nodewot_observes_a_property_through_the_broker(mosquitto: Mosquitto) -> None:
    node = require_node()
    ensure_node_modules()
    async with lamp_servient(mosquitto.url) as (server, binding, client):
        assert await binding.wait_connected(10)
        assert (await client.put("/things/lamp/properties/level", json=5)).status_code == 204
        process = await asyncio.create_subprocess_exec(
            node,
            str(INTEROP_DIR / "observe_mqtt_nodewot.js"),
            server.url + "things/lamp",
            "level",
            "42",
            cwd=INTEROP_DIR,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), 60)
            assert line == b"subscribed\n", line
            for level in (41, 42):
                assert (
                    await client.put("/things/lamp/properties/level", json=level)
                ).status_code == 204
            out, err = await asyncio.wait_for(process.communicate(), 60)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert "error" not in result, (result, err.decode()[-2000:])
    assert result["href"] == f"mqtt://127.0.0.1:{mosquitto.port}/lab/a/lamp/properties/level"
    assert result["errors"] == []
    # the retained value first (the broker sends it on subscribe), then the changes
    assert result["values"] == [5, 41, 42]
