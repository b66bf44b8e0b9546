"""Topics of a servient's affordances, and the MQTT forms its TDs gain.

Topics, under a configurable prefix (default ``wot``)::

    {prefix}/{thing}/properties/{name}       observable property values, retained
    {prefix}/{thing}/events/{name}           event data
    {prefix}/{thing}/actions/{name}/{id}     every update of one run (its record)
    {prefix}/{thing}/actions/{name}          invocations, if ``invoke_actions`` (invoke.py)

TD forms follow the W3C WoT Binding Templates MQTT vocabulary (``mqv:``). The
topic is in the href path (``mqtt://broker:1883/wot/lamp/properties/on``), the
only shape node-wot's ``@node-wot/binding-mqtt`` 0.8.16 follows, and repeated
as ``mqv:filter`` for consumers of the newer template, which reads the topic
from there (both coexist: node-wot prefers the path).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from .._thing import Thing
    from .settings import BrokerAddress

__all__ = ["BROKER_LOGIN", "BROKER_NOSEC", "MQV_CONTEXT", "Forms"]

#: The namespace of the Binding Templates MQTT vocabulary, as the template gives it.
MQV_CONTEXT = {"mqv": "http://www.example.org/mqtt-binding#"}
_TABLES = {"property": "properties", "event": "events", "action": "actions"}
#: The security definition of MQTT forms when consumers connect to the broker anonymously.
BROKER_NOSEC = "mqtt_nosec_sc"
#: The security definition of MQTT forms when consumers must log in to the broker.
BROKER_LOGIN = "mqtt_basic_sc"
_BROKER_SECURITY: dict[str, dict[str, str]] = {
    BROKER_NOSEC: {
        "scheme": "nosec",
        "description": "The MQTT broker lets clients in without a login.",
    },
    BROKER_LOGIN: {
        "scheme": "basic",
        "in": "auto",
        "description": "The MQTT broker's own login: a user name and password in MQTT "
        "CONNECT, given by the broker's operator (not the servient's HTTP credentials).",
    },
}


def _topic_part(name: str) -> str:
    """A Thing or affordance name as one topic level (no ``/``, ``+`` or ``#`` inside)."""
    return quote(name, safe="-_.~")


class Forms:
    """Topic names (cached: a change costs no quoting) and MQTT forms for TDs."""

    def __init__(self, prefix: str, public: BrokerAddress, qos: int, security: str) -> None:
        self.prefix = prefix.strip("/")
        self.public = public
        self.qos = qos
        #: The security definition every MQTT form names (the broker's, not HTTP's).
        self.security = security
        self._topics: dict[tuple[str, str, str], str] = {}

    def topic(self, thing: str, kind: str, name: str, run: str | None = None) -> str:
        """The topic of one affordance (``kind`` is ``property``, ``event`` or ``action``)."""
        key = (thing, kind, name)
        topic = self._topics.get(key)
        if topic is None:
            parts = [self.prefix, _topic_part(thing), _TABLES[kind], _topic_part(name)]
            topic = self._topics[key] = "/".join(part for part in parts if part)
        return topic if run is None else f"{topic}/{_topic_part(run)}"

    def forget(self, thing: str) -> None:
        """Drop the cached topics of a Thing no longer exposed."""
        self._topics = {key: topic for key, topic in self._topics.items() if key[0] != thing}

    def form(
        self, topic: str, ops: list[str], *, retain: bool, packet: str = "subscribe"
    ) -> dict[str, Any]:
        """One MQTT form: the topic in the href path and in ``mqv:filter``/``mqv:topic``."""
        broker = self.public
        return {
            "href": f"{broker.scheme}://{broker.netloc}/{topic}",
            "op": ops,
            "contentType": "application/json",
            "mqv:controlPacket": packet,
            # the template names a subscription's topic filter and a publish's topic
            "mqv:filter" if packet == "subscribe" else "mqv:topic": topic,
            "mqv:qos": str(self.qos),
            "mqv:retain": retain,
            # the broker's security, not the Thing's HTTP one (an array: node-wot 0.9.2)
            "security": [self.security],
        }

    def add(self, thing: str, instance: Thing, td: dict[str, Any], *, invoke: bool) -> None:
        """Add a subscribe form to each observable property and each event of ``td``.

        With ``invoke``, each action also gets a publish form (``invokeaction``).
        """
        added = False
        for name, described in (td.get("properties") or {}).items():
            prop = instance.properties.get(name)
            if prop is not None and prop.observable:
                ops = ["observeproperty", "unobserveproperty"]
                topic = self.topic(thing, "property", name)
                described.setdefault("forms", []).append(self.form(topic, ops, retain=True))
                added = True
        for name, described in (td.get("events") or {}).items():
            if name in instance.events:
                ops = ["subscribeevent", "unsubscribeevent"]
                topic = self.topic(thing, "event", name)
                described.setdefault("forms", []).append(self.form(topic, ops, retain=False))
                added = True
        if invoke:
            for name, described in (td.get("actions") or {}).items():
                if name in instance.actions:
                    topic = self.topic(thing, "action", name)
                    form = self.form(topic, ["invokeaction"], retain=False, packet="publish")
                    described.setdefault("forms", []).append(form)
                    added = True
        if added:
            _add_context(td)
            # a new dict: the HTTP side may share its definitions between TDs
            td["securityDefinitions"] = {
                **(td.get("securityDefinitions") or {}),
                self.security: dict(_BROKER_SECURITY[self.security]),
            }


def _add_context(td: dict[str, Any]) -> None:
    """Declare the ``mqv`` prefix in ``td``'s ``@context`` (once)."""
    context = td.get("@context")
    items = list(context) if isinstance(context, list) else [context] if context else []
    for item in items:
        if isinstance(item, dict) and "mqv" in item:
            return
    for item in items:
        if isinstance(item, dict) and "@language" in item:
            item.update(MQV_CONTEXT)
            td["@context"] = items
            return
    items.append(dict(MQV_CONTEXT))
    td["@context"] = items
