"""The ``[mqtt]`` config table and the broker URLs it names."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from .._errors import ConfigError

__all__ = ["BrokerAddress", "MqttSettings", "parse_broker_url"]

_SCHEMES = {"mqtt": 1883, "mqtts": 8883}


@dataclass
class MqttSettings:
    """The config's ``[mqtt]`` table.

    Attributes:
        broker: ``mqtt://host:port`` (or ``mqtts://`` for TLS); user and password
            may be given in the URL or below.
        username: broker user, if the broker wants one.
        password: its password.
        prefix: the topic every Thing's topics start with.
        qos: quality of service of every publish (0, 1 or 2).
        queue_size: messages kept while the broker is away; the oldest are dropped.
        reconnect_max: the longest wait, in seconds, between two reconnect attempts.
        client_id: the MQTT client id (default: a random one).
        public_broker: the broker URL put in TDs when consumers reach it under
            another name than the servient does (default: ``broker``).
        consumer_login: whether consumers must log in to the broker; TDs say so in
            their MQTT forms' security (``mqtt_basic_sc``, else ``mqtt_nosec_sc``).
            Default: when the servient itself logs in with a user name, taken as a
            broker that wants a login from everyone. The servient's own login never
            appears in a TD.
        invoke_actions: also start runs from messages on each action's topic
            (``invoke.py``), and offer ``invokeaction`` MQTT forms. Off by default:
            an MQTT invocation carries no HTTP credentials, the broker's
            authentication and ACLs are all that guard it. The binding then
            connects with MQTT 5, so it can answer a requester's response topic.
    """

    broker: str
    username: str | None = None
    password: str | None = None
    prefix: str = "wot"
    qos: int = 1
    queue_size: int = 10_000
    reconnect_max: float = 30.0
    client_id: str | None = None
    public_broker: str | None = None
    consumer_login: bool | None = None
    invoke_actions: bool = False


@dataclass(frozen=True)
class BrokerAddress:
    """A checked broker URL, split."""

    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None

    @property
    def netloc(self) -> str:
        """``host:port``, an IPv6 host in brackets."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_broker_url(url: str, *, entry: str = "mqtt.broker") -> BrokerAddress:
    """Check ``mqtt://[user[:password]@]host[:port]`` and split it; ConfigError if malformed."""
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES or not parts.hostname:
        raise ConfigError(
            f"broker URL {url!r} must look like mqtt://host:port or mqtts://host:port",
            entry=entry,
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"broker URL {url!r} must not have a path or query", entry=entry)
    try:
        port = parts.port or _SCHEMES[parts.scheme]
    except ValueError:
        raise ConfigError(f"broker URL {url!r} has an invalid port", entry=entry) from None
    return BrokerAddress(
        parts.scheme,
        parts.hostname,
        port,
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None,
    )
