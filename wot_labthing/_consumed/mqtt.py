"""Observing through an MQTT broker when a TD offers it (the client's half of ``_mqtt``).

A form whose href is ``mqtt://broker:port/topic`` (node-wot's shape; ``mqv:filter``
is taken when the path is empty) is preferred for ``observeproperty`` and
``subscribeevent``: the broker fans out, so the servient's cost does not grow with
its observers. The subscription is returned once the broker acknowledged it; a
retained property value arrives first (the current value). A connection lost later
is reopened with back-off; if the broker cannot be reached at all, the caller falls
back to the TD's HTTP forms.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import aiomqtt

from .._backoff import backoff_delay
from .._jsonutil import loads
from .forms import Form, find_forms
from .observe import RECONNECT_ATTEMPTS, RECONNECT_FIRST, RECONNECT_MAX, Subscription, _Failure

__all__ = ["mqtt_form", "open_mqtt_subscription"]

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


def _topic(form: Form) -> str:
    path = unquote(urlsplit(form.href).path.lstrip("/"))
    return path or str(form.raw.get("mqv:filter") or "")


async def open_mqtt_subscription(form: Form, name: str, op: str) -> Subscription:
    """Subscribe through the broker in ``form``; raises MqttError if it cannot be reached."""
    parts = urlsplit(form.href)
    topic = _topic(form)
    qos_text = str(form.raw.get("mqv:qos", "0"))
    qos = int(qos_text) if qos_text in ("0", "1", "2") else 0

    def client() -> aiomqtt.Client:
        return aiomqtt.Client(
            parts.hostname or "localhost",
            parts.port or _PORTS[parts.scheme],
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
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

    subscription._task = asyncio.create_task(run(), name=f"wot-labthing {op} {name} (mqtt)")
    try:
        await opened
    except BaseException:
        await subscription.close()
        raise
    return subscription
