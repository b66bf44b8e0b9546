"""Servient configuration files (TOML): which Things to build and how to serve them.

A config lists Things as ``"module:Class"`` (or the name an installed package
registers, see :mod:`wot_labthing._plugins`) with a name and keyword arguments::

    [servient]
    port = 8080

    [[things]]
    class = "things.openflexure.sangaboard:Sangaboard"
    name = "stage"
    kwargs = { port = "/dev/ttyUSB0" }

The file is checked against ``td_schemas/servient-config.schema.json``, whose
``[servient]`` table is generated from the :class:`ServientConfig` and
:class:`ServientSettings` dataclasses (:func:`config_schema`), and every error
names the offending entry. Modules next to the config file are importable,
so a lab can keep its own Thing classes beside its config.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import os
import re
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from ._errors import ConfigError, InputError, WotLabthingError
from ._resources import load_schema
from ._schema import Constraints, SchemaValidator, schema_for
from ._security import SecurityConfig, parse_security
from ._servient import ServientSettings
from ._thing import Thing

__all__ = [
    "SIMULATOR_REFERENCE",
    "ServientConfig",
    "SimulatorEntry",
    "ThingEntry",
    "build_things",
    "config_schema",
    "expand_environment",
    "load_config",
    "parse_config",
    "resolve_simulator_references",
]


@dataclass
class ThingEntry:
    """One ``[[things]]`` entry."""

    class_path: str
    name: str | None = None
    title: str | None = None
    description: str | None = None
    id: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How error messages name this entry."""
        return f"things entry {self.name or self.class_path!r}"


@dataclass
class SimulatorEntry:
    """One ``[[simulators]]`` entry: an instrument simulator the servient starts first."""

    name: str
    simulator: str
    kind: str = "pty"
    host: str = "127.0.0.1"
    port: int = 0
    link: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


#: A Thing kwarg spelled ``"simulator:NAME"`` is replaced by that simulator's port URL.
SIMULATOR_REFERENCE = "simulator:"


#: Marks a :class:`ServientConfig` field as a key of the config's ``[servient]`` table.
_KEY = {"servient_key": True}


@dataclass
class ServientConfig:
    """A parsed configuration: where to serve, servient settings and the Things.

    Fields marked ``servient_key`` are keys of the ``[servient]`` table, like every
    field of :class:`ServientSettings`; their schema comes from their annotations.
    """

    host: Annotated[str, Constraints(min_length=1)] = field(default="127.0.0.1", metadata=_KEY)
    port: Annotated[int, Constraints(minimum=0, maximum=65535)] = field(default=8080, metadata=_KEY)
    mdns: Annotated[bool, "Advertise the Things with DNS-SD (zeroconf)."] = field(
        default=True, metadata=_KEY
    )
    mdns_loopback: Annotated[bool, "Advertise even when bound to loopback only."] = field(
        default=False, metadata=_KEY
    )
    mdns_legacy: Annotated[bool, "Also advertise _labthing._tcp records."] = field(
        default=False, metadata=_KEY
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = field(default="INFO", metadata=_KEY)
    settings: ServientSettings = field(default_factory=ServientSettings)
    things: list[ThingEntry] = field(default_factory=list)
    simulators: list[SimulatorEntry] = field(default_factory=list)
    directory: Path | None = None
    #: The ``[mqtt]`` table as written (checked by the schema), or None: no MQTT binding.
    mqtt: dict[str, Any] | None = None
    #: The ``[[directories]]`` entries as written: TD Directories to register in.
    directories: list[dict[str, Any]] = field(default_factory=list)
    security: SecurityConfig = field(default_factory=SecurityConfig)


def _servient_keys() -> list[str]:
    return [f.name for f in dataclasses.fields(ServientConfig) if f.metadata.get("servient_key")]


def servient_section_schema() -> dict[str, Any]:
    """The JSON Schema of the ``[servient]`` table, generated from the dataclasses.

    Built by ``_schema.schema_for`` from the annotations of the ``servient_key``
    fields of :class:`ServientConfig` and of every :class:`ServientSettings` field.
    """
    hints = typing.get_type_hints(ServientConfig, include_extras=True)
    properties = {
        name: schema_for(hints[name], where=f"ServientConfig.{name}") for name in _servient_keys()
    }
    properties.update(schema_for(ServientSettings, where="ServientSettings")["properties"])
    return {"type": "object", "additionalProperties": False, "properties": properties}


def config_schema() -> dict[str, Any]:
    """The whole config schema, with the ``[servient]`` table generated.

    Things and simulators come from ``td_schemas/servient-config.schema.json``;
    the ``[servient]`` keys from :func:`servient_section_schema`.
    """
    schema = copy.deepcopy(load_schema("servient-config.schema.json"))
    section = schema["properties"]["servient"]
    generated = servient_section_schema()
    section["properties"] = {**section.get("properties", {}), **generated["properties"]}
    section["additionalProperties"] = False
    return schema


@functools.cache
def _config_validator() -> SchemaValidator:
    return SchemaValidator(config_schema())


#: ``${NAME}`` in a config string: the value of environment variable NAME.
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_environment(
    data: dict[str, Any], environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Replace every ``${NAME}`` in the config's strings by environment variable NAME.

    So one config file serves every bench (``broker = "${WOT_MQTT_URL}"``). Only
    string values are expanded, not keys; ``$${`` stands for a literal ``${``.

    Raises:
        ConfigError: a referenced variable is not set; the error names the entry.
    """
    env = os.environ if environ is None else environ

    def expand(value: Any, pointer: str) -> Any:
        if isinstance(value, dict):
            return {key: expand(item, f"{pointer}/{key}") for key, item in value.items()}
        if isinstance(value, list):
            return [expand(item, f"{pointer}/{index}") for index, item in enumerate(value)]
        if not isinstance(value, str) or "${" not in value:
            return value

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if match.start() > 0 and value[match.start() - 1] == "$":
                return match.group(0)
            if name not in env:
                where = _entry_name(data, pointer)
                raise ConfigError(
                    f"environment variable {name} is not set (the entry says ${{{name}}})",
                    entry=where,
                )
            return env[name]

        return _ENV_REFERENCE.sub(substitute, value).replace("$${", "${")

    expanded: dict[str, Any] = expand(data, "")
    return expanded


def parse_config(
    data: dict[str, Any],
    *,
    directory: Path | None = None,
    name: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> ServientConfig:
    """Validate a decoded config and turn it into a :class:`ServientConfig`.

    ``name`` (the config file's stem) names the persisted settings file unless
    ``state_name`` is set; a relative ``state_dir`` is relative to ``directory``,
    the config file's folder. ``${NAME}`` references in string values are expanded
    first from ``environ`` (default: the process environment); see
    :func:`expand_environment`.
    """
    data = expand_environment(data, environ)
    try:
        _config_validator().validate(data)
    except InputError as exc:
        raise ConfigError(
            str(exc).replace("invalid value", "invalid config"),
            entry=_entry_name(data, exc.pointer),
        ) from None
    section = dict(data.get("servient", {}))
    config = ServientConfig(directory=directory)
    for key in _servient_keys():
        if key in section:
            setattr(config, key, section.pop(key))
    settings_fields = {f.name for f in dataclasses.fields(ServientSettings)}
    config.settings = ServientSettings(
        **{key: value for key, value in section.items() if key in settings_fields}
    )
    if name is not None and "state_name" not in section:
        # one settings file per config: lab.toml keeps its settings in <state_dir>/lab.json
        config.settings.state_name = name
    if directory is not None:
        if config.settings.state_dir is not None:
            config.settings.state_dir = str(
                directory / Path(config.settings.state_dir).expanduser()
            )
    for entry in data.get("things", []):
        config.things.append(
            ThingEntry(
                class_path=entry["class"],
                name=entry.get("name"),
                title=entry.get("title"),
                description=entry.get("description"),
                id=entry.get("id"),
                kwargs=dict(entry.get("kwargs", {})),
            )
        )
    names = [entry.name for entry in config.things if entry.name]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f"Thing names must be unique: {', '.join(duplicates)}", entry="things")
    _parse_simulators(config, data.get("simulators", []))
    config.security = parse_security(data.get("security"), directory=directory)
    if "mqtt" in data:
        config.mqtt = dict(data["mqtt"])
        _check_mqtt_invocations(config.mqtt, config.security)
    config.directories = [dict(entry) for entry in data.get("directories", [])]
    for index, entry in enumerate(config.directories):
        _check_directory(entry, f"directories/{index}")
    return config


def _check_mqtt_invocations(mqtt: dict[str, Any], security: SecurityConfig) -> None:
    """Refuse MQTT invocations that would bypass ``[security]`` through an anonymous broker.

    An MQTT invocation carries no HTTP credentials; only the broker's
    authentication and ACLs decide who may publish to the invoke topics. A
    servient that asks HTTP clients for credentials must not accept invocations
    from a broker anyone may publish to, and a broker that lets the servient in
    without a user name is taken to be such a broker.
    """
    if not mqtt.get("invoke_actions") or not security.schemes:
        return
    if mqtt.get("username") or urlsplit(str(mqtt.get("broker", ""))).username:
        return
    raise ConfigError(
        "with [security], actions may be invoked over MQTT only through a broker the "
        "servient logs in to (set mqtt.username and password, and restrict who may "
        "publish to the invoke topics in the broker's ACL)",
        entry="mqtt.invoke_actions",
    )


def _check_directory(entry: dict[str, Any], where: str) -> None:
    """A ``[[directories]]`` entry names a ``url`` or asks to ``discover`` one, not both."""
    has_url, discover = "url" in entry, entry.get("discover", False)
    if has_url == discover:
        raise ConfigError(
            "give either url (the directory's base URL) or discover = true (find one on the"
            " LAN), not both"
            if has_url
            else "needs a url, or discover = true to find one on the LAN",
            entry=where,
        )
    if entry.get("advertise", False) and not has_url:
        raise ConfigError("advertise = true needs the directory's url", entry=where)


def _parse_simulators(config: ServientConfig, entries: list[dict[str, Any]]) -> None:
    """Read ``[[simulators]]`` and check that every ``simulator:NAME`` reference resolves."""
    for entry in entries:
        config.simulators.append(
            SimulatorEntry(
                name=entry["name"],
                simulator=entry["simulator"],
                kind=entry.get("kind", "pty"),
                host=entry.get("host", "127.0.0.1"),
                port=entry.get("port", 0),
                link=entry.get("link"),
                options=dict(entry.get("options", {})),
            )
        )
    known = [entry.name for entry in config.simulators]
    duplicates = sorted({name for name in known if known.count(name) > 1})
    if duplicates:
        raise ConfigError(
            f"simulator names must be unique: {', '.join(duplicates)}", entry="simulators"
        )
    for thing in config.things:
        for key, value in thing.kwargs.items():
            if isinstance(value, str) and value.startswith(SIMULATOR_REFERENCE):
                wanted = value.removeprefix(SIMULATOR_REFERENCE)
                if wanted not in known:
                    raise ConfigError(
                        f"kwargs.{key} refers to simulator {wanted!r}, which is not configured"
                        f" (configured: {', '.join(known) or 'none'})",
                        entry=thing.label,
                    )


def resolve_simulator_references(config: ServientConfig, urls: dict[str, str]) -> None:
    """Replace every ``simulator:NAME`` Thing kwarg by the started simulator's URL."""
    for thing in config.things:
        for key, value in thing.kwargs.items():
            if isinstance(value, str) and value.startswith(SIMULATOR_REFERENCE):
                thing.kwargs[key] = urls[value.removeprefix(SIMULATOR_REFERENCE)]


def _entry_name(data: dict[str, Any], pointer: str) -> str:
    parts = pointer.strip("/").split("/") if pointer else []
    if len(parts) >= 2 and parts[0] == "things" and parts[1].isdigit():
        entry = data["things"][int(parts[1])]
        label = entry.get("name") or entry.get("class") or f"#{int(parts[1]) + 1}"
        return f"things entry {label!r}" + (f" ({'/'.join(parts[2:])})" if parts[2:] else "")
    return "/".join(parts) or "config"


def load_config(path: str | Path) -> ServientConfig:
    """Read and validate a TOML config file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"no such config file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return parse_config(data, directory=path.resolve().parent, name=path.stem)


def import_thing_class(class_path: str, *, directory: Path | None = None) -> type[Thing]:
    """The Thing class ``module:Class`` or an installed driver's name refers to."""
    from ._plugins import THINGS_GROUP, load_class

    return load_class(class_path, group=THINGS_GROUP, base=Thing, directory=directory)


def build_things(config: ServientConfig) -> list[Thing]:
    """Instantiate every configured Thing; errors name the offending entry."""
    things = []
    for entry in config.things:
        try:
            cls = import_thing_class(entry.class_path, directory=config.directory)
        except ConfigError as exc:
            raise ConfigError(str(exc), entry=entry.label) from None
        identity = {
            key: value
            for key, value in (
                ("name", entry.name),
                ("title", entry.title),
                ("description", entry.description),
                ("id", entry.id),
            )
            if value is not None
        }
        try:
            things.append(cls(**entry.kwargs, **identity))
        except TypeError as exc:
            raise ConfigError(
                f"wrong arguments for {entry.class_path}: {exc}", entry=entry.label
            ) from None
        except WotLabthingError as exc:
            raise ConfigError(str(exc), entry=entry.label) from None
    return things
