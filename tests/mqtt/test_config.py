"""``[mqtt]`` in a config: checked, and ``wot-labthing serve`` publishes to the broker."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from wot_labthing._config import config_schema, load_config, parse_config
from wot_labthing._errors import ConfigError
from wot_labthing._mqtt import MqttSettings
from wot_labthing._security import hash_secret

from ..conftest import ROOT
from ..processes import serving
from .broker import Mosquitto


def test_the_mqtt_table_is_checked() -> None:
    config = parse_config({"mqtt": {"broker": "mqtt://broker.lab:1883", "prefix": "lab/a"}})
    assert config.mqtt == {"broker": "mqtt://broker.lab:1883", "prefix": "lab/a"}
    assert parse_config({}).mqtt is None
    with pytest.raises(ConfigError, match="mqtt"):
        parse_config({"mqtt": {"broker": "mqtt://b", "qos": 5}})
    with pytest.raises(ConfigError, match="mqtt"):
        parse_config({"mqtt": {"broker": "http://b"}})
    with pytest.raises(ConfigError, match="mqtt"):
        parse_config({"mqtt": {"prefix": "x"}})


def test_invoke_actions_is_a_checked_key_off_by_default() -> None:
    assert MqttSettings(broker="mqtt://b").invoke_actions is False
    config = parse_config({"mqtt": {"broker": "mqtt://b", "invoke_actions": True}})
    assert config.mqtt == {"broker": "mqtt://b", "invoke_actions": True}
    with pytest.raises(ConfigError, match="mqtt"):
        parse_config({"mqtt": {"broker": "mqtt://b", "invoke_actions": "yes"}})


def test_the_mqtt_schema_has_every_setting() -> None:
    """The hand-written ``[mqtt]`` schema and :class:`MqttSettings` name the same keys."""
    table = config_schema()["properties"]["mqtt"]["properties"]
    assert set(table) == {field.name for field in dataclasses.fields(MqttSettings)}


def test_with_security_mqtt_invocations_need_a_broker_login() -> None:
    """An MQTT invocation carries no HTTP credentials: an anonymous broker would bypass them."""
    security = {"users": [{"name": "u", "role": "operator", "password_hash": hash_secret("pw")}]}
    anonymous = {"broker": "mqtt://b", "invoke_actions": True}
    with pytest.raises(ConfigError, match=r"mqtt\.invoke_actions.*username"):
        parse_config({"security": security, "mqtt": anonymous})
    for login in (
        {**anonymous, "username": "servient", "password": "pw"},
        {**anonymous, "broker": "mqtt://servient:pw@b"},
    ):
        assert parse_config({"security": security, "mqtt": login}).mqtt == login
    assert parse_config({"mqtt": anonymous}).mqtt == anonymous  # nosec servient: the choice
    publishing_only = {"broker": "mqtt://b"}
    assert parse_config({"security": security, "mqtt": publishing_only}).mqtt == publishing_only


@pytest.fixture
def site_config(mosquitto: Mosquitto, tmp_path: Path) -> Path:
    """A config with an ``[mqtt]`` table and a pure-Python Thing beside it."""
    config = tmp_path / "site.toml"
    config.write_text(
        f'[mqtt]\nbroker = "{mosquitto.url}"\nprefix = "bench1"\n\n'
        f'[[things]]\nclass = "simulated:SimulatedStage"\nname = "stage"\n'
    )
    (tmp_path / "simulated.py").write_text((ROOT / "examples" / "simulated.py").read_text())
    assert load_config(config).mqtt is not None
    return config


async def test_serve_with_an_mqtt_table_publishes_retained_values(
    mosquitto: Mosquitto, site_config: Path
) -> None:
    async with serving(site_config, "--port", "0", "--no-mdns"):
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
            await client.subscribe("bench1/stage/properties/position", qos=1)
            # the servient publishes the current value once it has started (retained)
            message = await asyncio.wait_for(anext(aiter(client.messages)), 60)
    assert str(message.topic) == "bench1/stage/properties/position"
    assert isinstance(message.payload, bytes)
    assert json.loads(message.payload) == [0, 0, 0]


@pytest.fixture
def invoking_config(site_config: Path) -> Path:
    """The site config with ``invoke_actions = true``."""
    text = site_config.read_text()
    site_config.write_text(
        text.replace("\n\n[[things]]", "\ninvoke_actions = true\n\n[[things]]", 1)
    )
    mqtt = load_config(site_config).mqtt
    assert mqtt is not None and mqtt["invoke_actions"] is True
    return site_config


async def test_serve_with_invoke_actions_runs_what_is_published(
    mosquitto: Mosquitto, invoking_config: Path
) -> None:
    request = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    request.ResponseTopic = "replies/test"
    async with serving(invoking_config, "--port", "0", "--no-mdns"):
        async with aiomqtt.Client(
            "127.0.0.1", mosquitto.port, protocol=aiomqtt.ProtocolVersion.V5
        ) as client:
            await client.subscribe("replies/test", qos=1)
            await client.subscribe("bench1/stage/properties/position", qos=1)
            target = b'{"x": 100, "y": 0}'
            reply = None
            async with asyncio.timeout(60):
                # until the servient has started and subscribed, an invocation finds nobody;
                # moving to the same target again is harmless
                while reply is None:
                    await client.publish(
                        "bench1/stage/actions/move_to", target, qos=1, properties=request
                    )
                    try:
                        async with asyncio.timeout(0.5):
                            async for message in client.messages:
                                if str(message.topic) == "replies/test":
                                    reply = message
                                    break
                    except TimeoutError:
                        continue
                assert isinstance(reply.payload, bytes)
                record = json.loads(reply.payload)
                assert (record["action"], record["input"]) == ("move_to", {"x": 100, "y": 0})
                async for message in client.messages:  # the position it moved to
                    assert isinstance(message.payload, bytes)
                    if json.loads(message.payload) == [100, 0, 0]:
                        break
