"""Observing through an MQTT broker when a TD offers it (the client's half of ``_mqtt``).

A form whose href is ``mqtt://broker:port/topic`` (node-wot's shape; ``mqv:filter``
is taken when the path is empty) is preferred for ``observeproperty`` and
``subscribeevent``: the broker fans out, so the servient's cost does not grow with
its observers. The subscription is returned once the broker acknowledged it; a
retained property value arrives first (the current value). A connection lost later
is reopened with back-off; if the broker cannot be reached at all, the caller falls
back to the TD's HTTP forms.

The broker's login comes from the caller's ``Credentials.mqtt_username`` and
``mqtt_password``, never from the HTTP ``username``/``password``: a broker's accounts
are not the servient's. The form's ``security`` (else the Thing's) says whether the
broker wants one (``basic``; ``nosec`` for an anonymous broker); a login the broker
wants but the caller did not give is a clear :class:`ConsumerError` before connecting.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import aiomqtt

from .._backoff import backoff_delay
from .._errors import ConsumerError
from .._jsonutil import loads
from .forms import Form, find_forms
from .observe import (
    RECONNECT_ATTEMPTS,
    RECONNECT_FIRST,
    RECONNECT_MAX,
    Subscription,
    _Failure,
    start_reading,
)
from .security import Credentials

__all__ = ["broker_login", "mqtt_form", "open_mqtt_subscription"]

_log = logging.getLogger(__name__)
_PORTS = {"mqtt": 1883, "mqtts": 8883}


def mqtt_form(td: dict[str, Any], kind: str, name: str, op: str) -> Form | None:
    """The first MQTT form of an affordance for ``op``, or None."""
    find_forms(td, "", kind, name, op)  # raises NotFoundError for an unknown affordance
    owner = (td.get(kind) or {}).get(name) or {}
    for raw in owner.get("forms") or []:
        if not isinstance(raw, dict) or not isinstance(raw.get("href"), str):
            continue
        href = urljoin(str(td.get("base") or ""), raw["href"])
        if urlsplit(href).scheme not in _PORTS:
            continue
        ops = raw.get("op")
        ops = [ops] if isinstance(ops, str) else list(ops or [])
        if op in ops:
            return Form(
                href=href,
                method="SUBSCRIBE",
                content_type=str(raw.get("contentType") or "application/json"),
                subprotocol="mqtt",
                ops=ops,
                owner=owner,
                raw=raw,
            )
    return None


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(item) for item in value]


def _wants_login(definitions: dict[str, Any], name: str, depth: int = 0) -> bool:
    """Whether the security definition ``name`` asks an MQTT client for a broker login."""
    scheme = definitions.get(name)
    if not isinstance(scheme, dict) or depth > 8:
        raise ConsumerError(f"security {name!r} is not defined in the TD's securityDefinitions")
    kind = str(scheme.get("scheme", "")).lower()
    if kind == "nosec":
        return False
    if kind == "basic":  # user name and password of MQTT CONNECT, whatever its "in" says
        return True
    if kind == "combo":
        if "allOf" in scheme:
            return any(_wants_login(definitions, m, depth + 1) for m in _names(scheme["allOf"]))
        return all(_wants_login(definitions, m, depth + 1) for m in _names(scheme.get("oneOf")))
    raise ConsumerError(
        f"security scheme {kind!r} on an MQTT form is not supported by this client (nosec, basic)"
    )


def broker_login(
    td: dict[str, Any], form: Form, credentials: Credentials | None
) -> tuple[str | None, str | None]:
    """The user name and password to log in to ``form``'s broker with, or ``(None, None)``.

    Broker credentials the caller gave are used whenever given; without them a
    broker whose security wants a login is a :class:`ConsumerError`. The HTTP
    credentials are never used here, even when the TD's Thing-level ``basic``
    scheme (an older TD without form-level ``security``) covers the MQTT form.
    """
    raw = form.raw
    names = _names(raw.get("security")) if "security" in raw else _names(td.get("security"))
    definitions = td.get("securityDefinitions") or {}
    wanted = any(_wants_login(definitions, name) for name in names)
    if credentials is not None and credentials.mqtt_username is not None:
        return credentials.mqtt_username, credentials.mqtt_password
    parts = urlsplit(form.href)
    if parts.username:  # a TD that carries a login in the href (not ours: we never do)
        return unquote(parts.username), unquote(parts.password) if parts.password else None
    if wanted:
        raise ConsumerError(
            f"the MQTT broker {parts.hostname}:{parts.port or _PORTS[parts.scheme]} wants a "
            "login: give the broker's user name and password (Credentials(mqtt_username=..., "
            "mqtt_password=...), or --mqtt-user USER:PASSWORD); HTTP credentials are never "
            "sent to a broker"
        )
    return None, None


def _topic(form: Form) -> str:
    path = unquote(urlsplit(form.href).path.lstrip("/"))
    return path or str(form.raw.get("mqv:filter") or "")


async def open_mqtt_subscription(
    form: Form,
    name: str,
    op: str,
    *,
    td: dict[str, Any] | None = None,
    credentials: Credentials | None = None,
) -> Subscription:
    """Subscribe through the broker in ``form``; raises MqttError if it cannot be reached.

    ``td`` (the form's Thing) and ``credentials`` decide the broker login
    (:func:`broker_login`); ConsumerError if the broker wants one not given.
    """
    parts = urlsplit(form.href)
    username, password = broker_login(td or {}, form, credentials)
    topic = _topic(form)
    qos_text = str(form.raw.get("mqv:qos", "0"))
    qos = int(qos_text) if qos_text in ("0", "1", "2") else 0

    def client() -> aiomqtt.Client:
        return aiomqtt.Client(
            parts.hostname or "localhost",
            parts.port or _PORTS[parts.scheme],
            username=username,
            password=password,
            tls_context=ssl.create_default_context() if parts.scheme == "mqtts" else None,
            timeout=10,
        )

    subscription = Subscription(name, op, form)
    opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def run() -> None:
        failures = 0
        while True:
            try:
                async with client() as connection:
                    await connection.subscribe(topic, qos=qos)
                    failures = 0
                    if not opened.done():
                        opened.set_result(None)
                    async for message in connection.messages:
                        payload = message.payload
                        if isinstance(payload, bytes | bytearray):
                            subscription._push(loads(bytes(payload)))
            except aiomqtt.MqttError as exc:
                if not opened.done():
                    opened.set_exception(exc)
                    return
                failures += 1
                if failures > RECONNECT_ATTEMPTS:
                    subscription._push(_Failure(exc))
                    return
                _log.warning("%s %r: broker connection lost (%s); reconnecting", op, name, exc)
                await asyncio.sleep(
                    backoff_delay(failures - 1, first=RECONNECT_FIRST, maximum=RECONNECT_MAX)
                )
            except Exception as exc:  # a payload that is not JSON ends the subscription
                if not opened.done():
                    opened.set_exception(exc)
                    return
                subscription._push(_Failure(exc))
                return

    return await start_reading(subscription, run(), opened, f"wot-labthing {op} {name} (mqtt)")
