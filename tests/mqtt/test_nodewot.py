"""node-wot observes a property and invokes an action through a real mosquitto, from our TD
(MQTT forms only)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

import wot_labthing as wl
from wot_labthing._registration import DirectoryRegistrar, DirectorySettings

from ..conftest import INTEROP_DIR, ensure_node_modules, require_node
from ..directory.tdd import Tdd
from ..waiting import eventually
from .broker import Mosquitto
from .test_binding import lamp_servient, subscriber


class Lab:
    """The lamp servient, connected to the broker with ``level`` at 5, and node."""

    def __init__(self, node: str, server: wl.HttpServer, client: httpx.AsyncClient) -> None:
        self.node, self.server, self.client = node, server, client

    async def observe(self, td_url: str) -> dict[str, Any]:
        """Run node-wot's observer on ``td_url``, change ``level`` to 41 and 42; its report."""
        process = await asyncio.create_subprocess_exec(
            self.node,
            str(INTEROP_DIR / "observe_mqtt_nodewot.js"),
            td_url,
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
                response = await self.client.put("/things/lamp/properties/level", json=level)
                assert response.status_code == 204
            out, err = await asyncio.wait_for(process.communicate(), 60)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
        assert "error" not in result, (result, err.decode()[-2000:])
        assert result["errors"] == []
        return result


@pytest.fixture
async def lab(mosquitto: Mosquitto) -> AsyncIterator[Lab]:
    node = require_node()
    ensure_node_modules()
    async with lamp_servient(mosquitto.url) as (server, binding, client):
        assert await binding.wait_connected(10)
        assert (await client.put("/things/lamp/properties/level", json=5)).status_code == 204
        yield Lab(node, server, client)


async def test_nodewot_observes_a_property_through_the_broker(
    lab: Lab, mosquitto: Mosquitto
) -> None:
    result = await lab.observe(lab.server.url + "things/lamp")
    assert result["href"] == f"mqtt://127.0.0.1:{mosquitto.port}/lab/a/lamp/properties/level"
    # the retained value first (the broker sends it on subscribe), then the changes
    assert result["values"] == [5, 41, 42]


async def test_nodewot_observes_through_the_broker_from_the_td_the_tdd_holds(
    lab: Lab, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """The issue's goal: registered in a real TDD, read from it, observed through mosquitto."""
    tdd = Tdd(tmp_path)
    await asyncio.to_thread(tdd.start)
    try:
        registrar = DirectoryRegistrar(DirectorySettings(url=tdd.url, ttl=60))
        servient = lab.server.servient
        await registrar.register(servient, servient.endpoints)
        try:
            await eventually(lambda: "lamp" in registrar.registered, "registration", 30)
            td_url = f"{tdd.url}/things/{quote(registrar.registered['lamp'][0], safe='')}"
            async with httpx.AsyncClient(timeout=10) as tdd_client:
                stored = (await tdd_client.get(td_url)).json()
            forms = stored["properties"]["level"]["forms"]
            mqtt = [form for form in forms if form["href"].startswith("mqtt://")]
            # the TDD's JSON-LD rewrite keeps the broker's security but makes the
            # one-element array a string (node-wot 0.9.2 honours only an array there:
            # observe_mqtt_nodewot.js turns it back, as TD 1.1 lets it)
            assert [form["security"] for form in mqtt] == ["mqtt_nosec_sc"], mqtt
            assert stored["securityDefinitions"]["mqtt_nosec_sc"]["scheme"] == "nosec"
            result = await lab.observe(td_url)
        finally:
            await registrar.deregister()
    finally:
        await asyncio.to_thread(tdd.stop)
    assert result["href"] == f"mqtt://127.0.0.1:{mosquitto.port}/lab/a/lamp/properties/level"
    assert result["values"] == [5, 41, 42]


async def test_nodewot_invokes_an_action_through_the_broker(mosquitto: Mosquitto) -> None:
    """binding-mqtt publishes the input to the form's href path; the run is a tracked run."""
    node = require_node()
    ensure_node_modules()
    async with (
        lamp_servient(mosquitto.url, invoke_actions=True) as (server, binding, client),
        subscriber(mosquitto, "lab/a/lamp/actions/flash/+") as updates,
    ):
        assert await binding.wait_connected(10)
        await eventually(lambda: binding.invoke_topics, "the invoke subscription")
        process = await asyncio.create_subprocess_exec(
            node,
            str(INTEROP_DIR / "invoke_mqtt_nodewot.js"),
            server.url + "things/lamp",
            "flash",
            json.dumps({"times": 3}),
            json.dumps({"times": 4}),
            cwd=INTEROP_DIR,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), 60)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        result = json.loads(out.decode().strip().splitlines()[-1])
        assert "error" not in result, (result, err.decode()[-2000:])
        assert result == {
            "invoked": 2,
            "href": f"mqtt://127.0.0.1:{mosquitto.port}/lab/a/lamp/actions/flash",
        }

        async def completed() -> list[dict[str, Any]]:
            runs = (await client.get("/actions")).json()
            done = [run for run in runs if run["status"] == "completed"]
            return done if len(done) == 2 else []

        runs = await eventually(completed, "both runs to complete")
        assert sorted((run["input"]["times"], run["output"]) for run in runs) == [(3, 3), (4, 4)]
        assert binding.invoker is not None
        assert (binding.invoker.invoked, binding.invoker.refused) == (2, 0)
        for run in runs:  # queried over HTTP, its updates published on its run topic
            record = (await client.get(f"/actions/{run['id']}")).json()
            assert record["status"] == "completed"
            topic = f"lab/a/lamp/actions/flash/{run['id']}"

            def completed_update(topic: str = topic) -> bool:
                return any(t == topic and value["status"] == "completed" for t, _, value in updates)

            await eventually(
                completed_update,
                "the run's completed update",
            )
