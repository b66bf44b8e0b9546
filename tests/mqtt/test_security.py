"""The broker's security is not the servient's: MQTT forms name the broker's own scheme,
consumers log in to a broker with the broker's accounts, and HTTP credentials never reach it.

Real mosquitto brokers (anonymous, and one that wants a login), our client and node-wot.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

import wot_labthing as wl
from wot_labthing._consumed.security import Credentials
from wot_labthing._http import forms as http_forms
from wot_labthing._mqtt import BROKER_LOGIN, BROKER_NOSEC, MqttBinding, MqttSettings
from wot_labthing._registration import DirectoryRegistrar, DirectorySettings
from wot_labthing._security import hash_secret, parse_security

from ..conftest import INTEROP_DIR, ROOT, ensure_node_modules, require_node
from ..directory.tdd import Tdd
from ..waiting import eventually
from .broker import Mosquitto, running
from .test_binding import Lamp

HTTP_USER, HTTP_PASSWORD = "otto", "otto-http-secret"
TOPIC = "lab/a/lamp/properties/level"


@asynccontextmanager
async def secured_lamp(
    broker_url: str, *, http_security: bool = True, **options: Any
) -> AsyncIterator[tuple[wl.HttpServer, MqttBinding, httpx.AsyncClient]]:
    """A lamp whose HTTP side wants ``otto``'s basic login, publishing to ``broker_url``."""
    security = None
    if http_security:
        user = {"name": HTTP_USER, "role": "operator", "password_hash": hash_secret(HTTP_PASSWORD)}
        security = parse_security({"users": [user]})
    servient = wl.Servient([Lamp(name="lamp")])
    server = wl.HttpServer(servient, host="127.0.0.1", port=0, security=security)
    binding = MqttBinding(servient, MqttSettings(broker=broker_url, prefix="lab/a", **options))
    auth = (HTTP_USER, HTTP_PASSWORD) if http_security else None
    async with (
        servient,
        httpx.AsyncClient(base_url=server.url, timeout=10, auth=auth) as client,
    ):
        yield server, binding, client


def mqtt_forms(td: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        form
        for table in ("properties", "events", "actions")
        for affordance in (td.get(table) or {}).values()
        for form in affordance["forms"]
        if form["href"].startswith("mqtt://")
    ]


async def served_td(broker_url: str, **options: Any) -> dict[str, Any]:
    async with secured_lamp(broker_url, **options) as (_, _binding, client):
        response = await client.get("/things/lamp")
        assert response.status_code == 200
        td: dict[str, Any] = response.json()
        return td


async def test_mqtt_forms_name_the_brokers_security_not_the_http_one(
    tmp_path: Path, assert_valid_td: Callable[[dict[str, Any]], None]
) -> None:
    """Whether consumers log in follows the servient's own login unless said otherwise."""
    url = Mosquitto(tmp_path).url  # not started: forms need no broker
    port = url.rsplit(":", 1)[1]
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, BROKER_NOSEC),  # an anonymous broker
        ({"invoke_actions": True, "username": "pub-7f3a", "password": "s3rv"}, BROKER_LOGIN),
        ({"broker": f"mqtt://pub-7f3a:s3rv@127.0.0.1:{port}"}, BROKER_LOGIN),
        ({"username": "pub-7f3a", "password": "s3rv", "consumer_login": False}, BROKER_NOSEC),
        ({"consumer_login": True}, BROKER_LOGIN),
    ]
    for options, expected in cases:
        broker = options.pop("broker", url)
        td = await served_td(broker, **options)
        assert_valid_td(td)
        assert td["security"] == "basic_sc"  # the Thing's HTTP side, untouched
        forms = mqtt_forms(td)
        assert len(forms) == (3 if options.get("invoke_actions") else 2), options
        assert all(form["security"] == [expected] for form in forms), options
        definitions = td["securityDefinitions"]
        assert set(definitions) == {"basic_sc", expected}
        if expected == BROKER_LOGIN:
            assert {k: v for k, v in definitions[expected].items() if k != "description"} == {
                "scheme": "basic",
                "in": "auto",  # TD 1.1: where the protocol puts it (MQTT CONNECT)
            }
        else:
            assert definitions[expected]["scheme"] == "nosec"
        text = json.dumps(td)
        assert "s3rv" not in text, options  # the servient's broker login: never
        assert "pub-7f3a" not in text, options
    # the HTTP side's shared definitions were not changed for other TDs
    assert http_forms.security_block([]) == {
        "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
        "security": "nosec_sc",
    }
    td = await served_td(url, http_security=False)
    assert td["security"] == "nosec_sc"
    assert set(td["securityDefinitions"]) == {"nosec_sc", BROKER_NOSEC}


def test_a_public_broker_url_must_not_carry_a_login() -> None:
    with pytest.raises(wl.ConfigError, match="public_broker"):
        MqttBinding(
            wl.Servient(),
            MqttSettings(broker="mqtt://b", public_broker="mqtt://user:pw@broker.lab:1883"),
        )


async def test_our_client_never_sends_http_credentials_to_a_broker(tmp_path: Path) -> None:
    """An anonymous broker: observed over MQTT with no login although HTTP has one."""
    async with running(Mosquitto(tmp_path, log_connections=True)) as broker:
        async with secured_lamp(broker.url) as (server, binding, client):
            assert await binding.wait_connected(10)
            assert (await client.put("/things/lamp/properties/level", json=3)).status_code == 204
            credentials = Credentials(username=HTTP_USER, password=HTTP_PASSWORD)
            async with await wl.consume(
                server.url + "things/lamp", credentials=credentials
            ) as lamp:
                subscription = await lamp.observe_property("level")
                assert subscription.subprotocol == "mqtt"
                assert await subscription.next(10) == 3
                await lamp.write_property("level", 4)  # HTTP, with otto's login
                assert await subscription.next(10) == 4
                await subscription.close()
        logins = broker.logins()
        assert len(logins) >= 2 and set(logins) == {None}, logins  # the servient and ours


async def test_our_client_logs_in_to_a_broker_with_the_broker_login_it_is_given(
    tmp_path: Path,
) -> None:
    async with running(
        Mosquitto(tmp_path, users=("servient", "reader"), log_connections=True)
    ) as broker:
        login: dict[str, Any] = {"username": "servient", "password": "servient-pw"}
        async with secured_lamp(broker.url, **login) as (server, binding, client):
            assert await binding.wait_connected(10)
            assert (await client.put("/things/lamp/properties/level", json=3)).status_code == 204
            await eventually(lambda: binding.pending == 0, "the outbox to drain")
            http_only = Credentials(username=HTTP_USER, password=HTTP_PASSWORD)
            async with await wl.consume(server.url + "things/lamp", credentials=http_only) as lamp:
                with pytest.raises(wl.ConsumerError, match=r"wants a login.*mqtt_username"):
                    await lamp.observe_property("level", subprotocol="mqtt")
                fallback = await lamp.observe_property("level")  # no broker login: HTTP
                assert fallback.subprotocol == "sse"
                await fallback.close()
            wrong = Credentials(HTTP_USER, HTTP_PASSWORD, mqtt_username="reader", mqtt_password="x")
            async with await wl.consume(server.url + "things/lamp", credentials=wrong) as lamp:
                with pytest.raises(wl.ConsumerError, match="cannot subscribe"):
                    await lamp.observe_property("level", subprotocol="mqtt")
            both = Credentials(
                HTTP_USER, HTTP_PASSWORD, mqtt_username="reader", mqtt_password="reader-pw"
            )
            async with await wl.consume(server.url + "things/lamp", credentials=both) as lamp:
                subscription = await lamp.observe_property("level")
                assert subscription.subprotocol == "mqtt"
                assert await subscription.next(10) == 3
                await lamp.write_property("level", 5)
                assert await subscription.next(10) == 5
                await subscription.close()
        assert set(broker.logins()) == {"servient", "reader"}, broker.logins()


async def _nodewot_observes(
    server: wl.HttpServer, client: httpx.AsyncClient, *extra: str, td_url: str | None = None
) -> dict[str, Any]:
    """Run observe_mqtt_nodewot.js on the lamp's level, change it twice, return its result."""
    node = require_node()
    ensure_node_modules()
    assert (await client.put("/things/lamp/properties/level", json=5)).status_code == 204
    process = await asyncio.create_subprocess_exec(
        node,
        str(INTEROP_DIR / "observe_mqtt_nodewot.js"),
        td_url or server.url + "things/lamp",
        "level",
        "42",
        *extra,
        cwd=INTEROP_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        if line != b"subscribed\n":
            rest, err = await asyncio.wait_for(process.communicate(), 60)
            raise AssertionError((line + rest).decode() + err.decode()[-2000:])
        for level in (41, 42):
            assert (
                await client.put("/things/lamp/properties/level", json=level)
            ).status_code == 204
        out, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    assert "error" not in result, (result, err.decode()[-2000:])
    return result


async def test_nodewot_observes_from_a_secured_servient_through_an_anonymous_broker(
    tmp_path: Path,
) -> None:
    """node-wot holds otto's HTTP login for the Thing; the broker never sees it."""
    async with running(Mosquitto(tmp_path, log_connections=True)) as broker:
        async with secured_lamp(broker.url) as (server, binding, client):
            assert await binding.wait_connected(10)
            http = json.dumps({"username": HTTP_USER, "password": HTTP_PASSWORD})
            result = await _nodewot_observes(server, client, http)
        assert result["values"] == [5, 41, 42] and result["errors"] == []
        logins = broker.logins()
        assert len(logins) >= 2 and set(logins) == {None}, logins


async def test_nodewot_logs_in_to_a_broker_with_the_brokers_account(tmp_path: Path) -> None:
    """The TD says the broker wants a login; node-wot logs in as reader, not as otto."""
    async with running(
        Mosquitto(tmp_path, users=("servient", "reader"), log_connections=True)
    ) as broker:
        login: dict[str, Any] = {"username": "servient", "password": "servient-pw"}
        async with secured_lamp(broker.url, **login) as (server, binding, client):
            assert await binding.wait_connected(10)
            http = json.dumps({"username": HTTP_USER, "password": HTTP_PASSWORD})
            reader = json.dumps({"username": "reader", "password": "reader-pw"})
            result = await _nodewot_observes(server, client, http, reader)
        assert result["values"] == [5, 41, 42] and result["errors"] == []
        assert set(broker.logins()) == {"servient", "reader"}, broker.logins()


async def test_nodewot_reads_the_td_from_a_tdd_and_still_spares_the_broker(
    tmp_path: Path,
) -> None:
    """Through a real TDD, whose JSON-LD rewrite changes how form-level security looks."""
    broker = Mosquitto(tmp_path, log_connections=True)
    tdd = Tdd(tmp_path)
    await asyncio.to_thread(broker.start)
    await asyncio.to_thread(tdd.start)
    try:
        async with secured_lamp(broker.url) as (server, binding, client):
            registrar = DirectoryRegistrar(DirectorySettings(url=tdd.url, ttl=60))
            await registrar.register(server.servient, server.servient.endpoints)
            try:
                await eventually(lambda: "lamp" in registrar.registered, "registration", 30)
                thing_id = quote(registrar.registered["lamp"][0], safe="")
                assert await binding.wait_connected(10)
                http = json.dumps({"username": HTTP_USER, "password": HTTP_PASSWORD})
                result = await _nodewot_observes(
                    server, client, http, td_url=f"{tdd.url}/things/{thing_id}"
                )
            finally:
                await registrar.deregister()
        assert result["values"] == [5, 41, 42] and result["errors"] == []
        logins = broker.logins()
        assert len(logins) >= 2 and set(logins) == {None}, logins
    finally:
        await asyncio.to_thread(tdd.stop)
        await asyncio.to_thread(broker.stop)


async def test_the_cli_observes_with_the_broker_login_it_is_given(tmp_path: Path) -> None:
    """``observe --mqtt-user`` (password from the environment) beside ``--user`` for HTTP."""
    async with running(
        Mosquitto(tmp_path, users=("servient", "reader"), log_connections=True)
    ) as broker:
        login: dict[str, Any] = {"username": "servient", "password": "servient-pw"}
        async with secured_lamp(broker.url, **login) as (server, binding, client):
            assert await binding.wait_connected(10)
            assert (await client.put("/things/lamp/properties/level", json=7)).status_code == 204
            await eventually(lambda: binding.pending == 0, "the outbox to drain")
            env = {**os.environ, "WOT_LABTHING_MQTT_PASSWORD": "reader-pw"}
            env.pop("WOT_LABTHING_MQTT_USER", None)
            process = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "wot_labthing", "observe", server.url + "things/lamp"),
                *("level", "--count", "2", "--subprotocol", "mqtt"),
                *("--user", f"{HTTP_USER}:{HTTP_PASSWORD}", "--mqtt-user", "reader"),
                cwd=ROOT,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            assert process.stderr is not None
            try:
                line = await asyncio.wait_for(process.stderr.readline(), 60)
                assert b"over mqtt" in line, line
                assert (await client.put("/things/lamp/properties/level", json=8)).status_code
                out, err = await asyncio.wait_for(process.communicate(), 60)
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
        assert process.returncode == 0, err.decode()
        assert [json.loads(line) for line in out.decode().splitlines()] == [7, 8]
        assert set(broker.logins()) == {"servient", "reader"}, broker.logins()
