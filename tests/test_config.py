from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import wot_labthing as wl
from wot_labthing._config import (
    ServientConfig,
    build_things,
    config_schema,
    load_config,
    parse_config,
    resolve_simulator_references,
)

EXAMPLES = Path(__file__).parent.parent / "examples"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "servient.toml"
    path.write_text(text, "utf-8")
    return path


@pytest.mark.parametrize("example", ["demo.toml", "simulated.toml"])
def test_example_configs_build_things(example: str) -> None:
    config = load_config(EXAMPLES / example)
    things = build_things(config)  # drivers open their ports later, in Thing.open()
    assert [thing.thing_name for thing in things] == [entry.name for entry in config.things]
    assert all(isinstance(thing, wl.Thing) for thing in things)


def test_demo_runs_the_real_drivers_on_simulators() -> None:
    config = load_config(EXAMPLES / "demo.toml")
    assert [entry.simulator for entry in config.simulators] == ["sangaboard", "34401a"]
    assert [entry.class_path for entry in config.things] == [
        "things.openflexure.sangaboard:Sangaboard",
        "things.keysight.dmm34401a:Keysight34401A",
    ]
    assert [entry.kwargs["port"] for entry in config.things] == [
        "simulator:sangaboard",
        "simulator:dmm",
    ]


def test_servient_settings_are_read(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, "[servient]\nport = 0\naction_wait = 0.5\nmax_body_bytes = 10\n")
    )
    assert config.port == 0
    assert config.settings.action_wait == 0.5
    assert config.settings.max_body_bytes == 10


def test_kwargs_identity_and_local_modules(tmp_path: Path) -> None:
    (tmp_path / "mylab.py").write_text(
        "import wot_labthing as wl\n"
        "class Lamp(wl.Thing):\n"
        "    '''A lamp.'''\n"
        "    def __init__(self, watts: int = 5, **kw):\n"
        "        super().__init__(**kw)\n"
        "        self.watts = watts\n",
        "utf-8",
    )
    path = write(
        tmp_path,
        '[[things]]\nclass = "mylab:Lamp"\nname = "lamp"\ntitle = "Desk lamp"\n'
        'id = "urn:uuid:0b4f6f1e-1111-4c4c-8888-123456789abc"\nkwargs = { watts = 60 }\n',
    )
    (lamp,) = build_things(load_config(path))
    assert lamp.thing_name == "lamp"
    assert lamp.thing_title == "Desk lamp"
    assert lamp.thing_id == "urn:uuid:0b4f6f1e-1111-4c4c-8888-123456789abc"
    assert lamp.watts == 60  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[servient]\nport = 'x'\n", "port"),
        ("[servient]\nbogus = 1\n", "bogus"),
        ("[servient]\nproperty_workers = 0\n", "property_workers"),
        ("[servient]\naction_wait = -1\n", "action_wait"),
        ("[servient]\nlog_level = 'LOUD'\n", "log_level"),
        ('[[things]]\nname = "a"\n', "class"),
        ('[[things]]\nclass = "no_such_module_xyz:Thing"\nname = "ghost"\n', "ghost"),
        ('[[things]]\nclass = "wot_labthing:NoSuch"\nname = "ghost"\n', "has no 'NoSuch'"),
        ('[[things]]\nclass = "wot_labthing:Servient"\nname = "s"\n', "not a wot_labthing.Thing"),
        ('[[things]]\nclass = "simulated:SimulatedStage"\nname = "bad name!"\n', "name"),
        ("[servient\n", "not valid TOML"),
    ],
)
def test_bad_configs_name_the_offending_entry(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(wl.ConfigError) as info:
        build_things(load_config(path))
    assert message in str(info.value)


def test_wrong_kwargs_name_the_entry(tmp_path: Path) -> None:
    (tmp_path / "simulated.py").write_text((EXAMPLES / "simulated.py").read_text())
    path = write(
        tmp_path, '[[things]]\nclass = "simulated:SimulatedMeter"\nname = "m"\nkwargs = {x = 1}\n'
    )
    with pytest.raises(wl.ConfigError, match=r"things entry 'm'.*wrong arguments"):
        build_things(load_config(path))


def test_duplicate_names_are_refused() -> None:
    data = {"things": [{"class": "a:B", "name": "x"}, {"class": "a:C", "name": "x"}]}
    with pytest.raises(wl.ConfigError, match="unique"):
        parse_config(data)


def test_missing_file() -> None:
    with pytest.raises(wl.ConfigError, match="no such config file"):
        load_config("/nonexistent/servient.toml")


def test_simulator_references_must_resolve(tmp_path: Path) -> None:
    text = (
        '[[simulators]]\nname = "board"\nsimulator = "sangaboard"\n\n'
        '[[things]]\nclass = "simulated:SimulatedMeter"\nname = "m"\n'
        'kwargs = { port = "simulator:bord" }\n'
    )
    (tmp_path / "c.toml").write_text(text)
    with pytest.raises(wl.ConfigError, match=r"things entry 'm'.*'bord'.*configured: board"):
        load_config(tmp_path / "c.toml")


def test_simulator_entries_are_parsed_and_resolved(tmp_path: Path) -> None:
    text = (
        '[[simulators]]\nname = "board"\nsimulator = "sangaboard"\nkind = "socket"\n'
        "options = { speed = 500 }\n\n"
        '[[things]]\nclass = "simulated:SimulatedMeter"\nname = "m"\n'
        'kwargs = { port = "simulator:board", baudrate = 115200 }\n'
    )
    (tmp_path / "c.toml").write_text(text)
    config = load_config(tmp_path / "c.toml")
    [entry] = config.simulators
    assert (entry.name, entry.simulator, entry.kind, entry.options) == (
        "board",
        "sangaboard",
        "socket",
        {"speed": 500},
    )
    resolve_simulator_references(config, {"board": "socket://127.0.0.1:5000"})
    assert config.things[0].kwargs == {"port": "socket://127.0.0.1:5000", "baudrate": 115200}


def test_simulator_kind_is_checked(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text('[[simulators]]\nname = "b"\nsimulator = "x"\nkind = "usb"\n')
    with pytest.raises(wl.ConfigError, match="kind"):
        load_config(tmp_path / "c.toml")


def test_the_servient_table_schema_is_generated_from_the_dataclasses() -> None:
    section = config_schema()["properties"]["servient"]
    assert section["additionalProperties"] is False
    properties = section["properties"]
    settings = {f.name for f in dataclasses.fields(wl.ServientSettings)}
    assert settings <= set(properties), "every settings field is a config key"
    assert properties["max_body_bytes"] == {"type": "integer", "minimum": 1}
    assert properties["action_wait"] == {"type": "number", "minimum": 0}
    assert properties["port"] == {"type": "integer", "minimum": 0, "maximum": 65535}
    assert properties["log_level"]["enum"] == ["DEBUG", "INFO", "WARNING", "ERROR"]
    serve_keys = {f.name for f in dataclasses.fields(ServientConfig) if f.metadata}
    assert serve_keys == {"host", "port", "mdns", "mdns_loopback", "mdns_legacy", "log_level"}
    assert not {"things", "simulators", "settings", "directory"} & set(properties)


def test_strings_may_reference_environment_variables() -> None:
    env = {"WOT_MQTT_URL": "mqtt://broker.lab:1883", "BENCH": "b7"}
    config = parse_config(
        {
            "mqtt": {"broker": "${WOT_MQTT_URL}", "prefix": "lab/${BENCH}/$${literal}"},
            "things": [{"class": "m:C", "name": "stage", "kwargs": {"port": "${BENCH}", "n": 3}}],
        },
        environ=env,
    )
    assert config.mqtt == {"broker": "mqtt://broker.lab:1883", "prefix": "lab/b7/${literal}"}
    assert config.things[0].kwargs == {"port": "b7", "n": 3}


def test_an_unset_environment_variable_is_an_error_naming_the_entry() -> None:
    with pytest.raises(wl.ConfigError) as info:
        parse_config(
            {"things": [{"class": "m:C", "name": "stage", "kwargs": {"port": "${NO_SUCH}"}}]},
            environ={},
        )
    assert info.value.entry == "things entry 'stage' (kwargs/port)"
    assert "NO_SUCH is not set" in str(info.value)
    with pytest.raises(wl.ConfigError, match=r"mqtt/broker.*WOT_MQTT_URL is not set"):
        parse_config({"mqtt": {"broker": "${WOT_MQTT_URL}"}}, environ={})


def test_the_scale_out_example_takes_its_site_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    example = Path(__file__).parent.parent / "examples" / "scale-out.toml"
    monkeypatch.delenv("WOT_MQTT_URL", raising=False)
    monkeypatch.setenv("WOT_TDD_URL", "http://tdd.lab:5000")
    with pytest.raises(wl.ConfigError, match=r"mqtt/broker: .*WOT_MQTT_URL is not set"):
        load_config(example)
    monkeypatch.setenv("WOT_MQTT_URL", "mqtt://broker.lab:1883")
    monkeypatch.setenv("WOT_BENCH", "bench1")
    monkeypatch.setenv("WOT_TDD_URL", "http://tdd.lab:5000")
    config = load_config(example)
    assert config.directories == [{"url": "http://tdd.lab:5000", "ttl": 300}]
    assert config.mqtt == {"broker": "mqtt://broker.lab:1883", "prefix": "lab/bench1", "qos": 1}
    assert [thing.thing_name for thing in build_things(config)] == ["stage", "meter"]


def test_a_directory_entry_names_a_url_or_asks_to_discover_one() -> None:
    discover = parse_config({"directories": [{"discover": True, "ttl": 60}]})
    assert discover.directories == [{"discover": True, "ttl": 60}]
    announced = parse_config({"directories": [{"url": "http://tdd:5000", "advertise": True}]})
    assert announced.directories[0]["advertise"] is True
    for entry in (
        {"ttl": 60},  # neither
        {"url": "http://tdd:5000", "discover": True},  # both
        {"discover": True, "advertise": True},  # nothing to announce
        {"discover": "yes"},
    ):
        with pytest.raises(wl.ConfigError, match="directories"):
            parse_config({"directories": [entry]})
