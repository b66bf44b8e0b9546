"""The MQTT binding: publishes changes to a broker, and may take invocations from it.

It publishes property changes, events and run updates and, if enabled, starts
action runs from messages on the actions' topics (``invoke.py``).

Only this package imports ``aiomqtt``. Like the HTTP binding it uses nothing
but the servient's protocol-neutral API (``tests/http/test_layering.py``).
"""

from __future__ import annotations

from .binding import BROKER_LOGIN, BROKER_NOSEC, MqttBinding, MqttSettings, parse_broker_url

__all__ = ["BROKER_LOGIN", "BROKER_NOSEC", "MqttBinding", "MqttSettings", "parse_broker_url"]
