"""Publishing a servient's changes to an MQTT broker.

Payloads are the same JSON the HTTP binding serves, on the topics ``forms.py``
names. Property values are retained so a new subscriber gets the current value
at once; at start (and after a reconnect) the binding publishes every observable
property's current value.

The HTTP side never waits for the broker: changes go into a bounded outbox
(``outbox.py``) that publishes while connected. While the broker is away the
binding reconnects with back-off (``_backoff.py``); the outbox keeps the newest
``queue_size`` messages and counts (and logs) the oldest it had to drop. After a
reconnect the retained value of every property is published again (a restarted
broker without persistence has lost them), then the outbox in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import ssl
from typing import TYPE_CHECKING, Any

import aiomqtt
from paho.mqtt.properties import Properties

from .._backoff import backoff_delay
from .._errors import ConfigError, WotLabthingError
from .._jsonutil import dumps
from .forms import BROKER_LOGIN, BROKER_NOSEC, MQV_CONTEXT, Forms
from .invoke import Invoker
from .outbox import WINDOW, Outbox
from .settings import BrokerAddress, MqttSettings, parse_broker_url

if TYPE_CHECKING:
    from .._events import Subscription
    from .._lifecycle import Endpoint
    from .._servient import Servient

__all__ = [
    "BROKER_LOGIN",
    "BROKER_NOSEC",
    "MQV_CONTEXT",
    "MqttBinding",
    "MqttSettings",
    "parse_broker_url",
]

_log = logging.getLogger(__name__)

#: Incoming messages (invocations) waiting to be read at most; aiomqtt drops (and logs) more.
_INCOMING = 1_000


class MqttBinding:
    """Publishes ``servient``'s observable properties, events and run updates to a broker.

    It registers itself with the servient (opened after the Things, like
    :class:`~wot_labthing.HttpServer`) and adds MQTT forms to the TDs the HTTP
    binding serves.
    """

    def __init__(self, servient: Servient, settings: MqttSettings) -> None:
        if settings.qos not in (0, 1, 2):
            raise ConfigError("qos must be 0, 1 or 2", entry="mqtt.qos")
        if settings.queue_size < 1:
            raise ConfigError("queue_size must be at least 1", entry="mqtt.queue_size")
        self.servient = servient
        self.settings = settings
        self._broker: BrokerAddress = parse_broker_url(settings.broker)
        public = settings.public_broker or settings.broker
        public_broker = parse_broker_url(public, entry="mqtt.public_broker")
        if settings.public_broker and public_broker.username:
            raise ConfigError(
                "public_broker is written into TDs and must not carry a user name or password "
                "(give the servient's own login in broker or username/password)",
                entry="mqtt.public_broker",
            )
        login = settings.consumer_login
        if login is None:
            login = bool(settings.username or self._broker.username)
        security = BROKER_LOGIN if login else BROKER_NOSEC
        #: Topic names and the TDs' MQTT forms (whose security is the broker's, not HTTP's).
        self.forms = Forms(settings.prefix, public_broker, settings.qos, security)
        self._outbox = Outbox(settings.queue_size, settings.qos)
        self._pumps: dict[str, list[asyncio.Task[None]]] = {}
        self._subscriptions: dict[str, list[Subscription]] = {}
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        #: Successful connections so far (the first one and every reconnect).
        self.connections = 0
        #: Starts runs from invoke topics; None unless ``invoke_actions``.
        self.invoker: Invoker | None = None
        if settings.invoke_actions:
            self.invoker = Invoker(servient, self._invoke_topic, self._send_reply)
        #: The invoke topics subscribed to on the current connection.
        self.invoke_topics: frozenset[str] = frozenset()
        self._registry_changed = asyncio.Event()
        servient.add_binding(self)

    # Binding ----------------------------------------------------------------

    @property
    def endpoint(self) -> Endpoint | None:
        """None: the broker, not this binding, is where consumers connect."""
        return None

    @property
    def connected(self) -> bool:
        """True while the binding holds a connection to the broker."""
        return self._connected.is_set()

    @property
    def pending(self) -> int:
        """Messages not yet acknowledged by the broker (queued or in flight)."""
        return len(self._outbox)

    @property
    def published(self) -> int:
        """Messages the broker has acknowledged (QoS > 0) or taken (QoS 0)."""
        return self._outbox.published

    @property
    def dropped(self) -> int:
        """Messages dropped from the full outbox since the binding was opened."""
        return self._outbox.dropped

    async def wait_connected(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Wait up to ``timeout`` seconds for a broker connection; True once connected."""
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def open(self, servient: Servient) -> None:
        """Follow every Thing's changes and start publishing (the broker may come later)."""
        if self._task is not None:
            return
        self._outbox.reset()
        for name in list(servient.things):
            self._follow(name)
        servient.on_registry_change(self._on_registry_change)
        self._task = asyncio.create_task(self._run(), name="wot-mqtt-publisher")
        for name in list(servient.things):
            self._spawn(name, self._publish_current(name))

    async def close(self) -> None:
        """Stop following, publish what is queued for a moment if connected, disconnect."""
        self.servient.off_registry_change(self._on_registry_change)
        for name in list(self._pumps):
            await self._unfollow(name)
        task, self._task = self._task, None
        if task is None:
            return
        if self.pending and self.connected:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outbox.drained.wait(), 2.0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if self.invoker is not None:
            await self.invoker.close()
        lost = len(self._outbox)  # in-flight ones went back to the queue
        if lost:
            _log.warning("MQTT: %d messages not published at shutdown", lost)
        self._outbox.reset()

    # Topics and forms ---------------------------------------------------------

    def topic(self, thing: str, kind: str, name: str, run: str | None = None) -> str:
        """The topic of one affordance (``kind`` is ``property``, ``event`` or ``action``)."""
        return self.forms.topic(thing, kind, name, run)

    def _invoke_topic(self, thing: str, action: str) -> str:
        return self.forms.topic(thing, "action", action)

    def add_forms(self, thing: str, td: dict[str, Any]) -> None:
        """Add MQTT forms to ``td`` (a TD the HTTP binding built) for Thing ``thing``."""
        instance = self.servient.things.get(thing)
        if instance is not None:
            self.forms.add(thing, instance, td, invoke=self.invoker is not None)

    # Following the servient ---------------------------------------------------

    def _on_registry_change(self, name: str, thing: object | None) -> None:
        if self._task is None:
            return
        self._registry_changed.set()
        if thing is None:
            self._spawn(name, self._unfollow(name))
        else:
            self._follow(name)
            self._spawn(name, self._publish_current(name))

    def _spawn(self, name: str, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(work)
        self._pumps.setdefault(name, []).append(task)
        task.add_done_callback(lambda done: self._forget(name, done))

    def _forget(self, name: str, task: asyncio.Task[None]) -> None:
        tasks = self._pumps.get(name)
        if tasks is not None and task in tasks:
            tasks.remove(task)
        if not task.cancelled() and task.exception() is not None:
            _log.error("MQTT: following Thing %r failed", name, exc_info=task.exception())

    def _follow(self, name: str) -> None:
        thing = self.servient.thing(name)
        subscriptions = []
        if any(prop.observable for prop in thing.properties.values()):
            subscriptions.append(self.servient.observe_properties(name))
        if thing.events:
            subscriptions.append(self.servient.subscribe_events(name))
        if thing.actions:
            subscriptions.append(self.servient.subscribe_actions(name))
        self._subscriptions[name] = subscriptions
        for subscription in subscriptions:
            # taken as the hub delivers, on the loop: no reader task, no queue to lag
            subscription.on_message = functools.partial(self._take, subscription)

    async def _unfollow(self, name: str) -> None:
        self.forms.forget(name)
        for subscription in self._subscriptions.pop(name, []):
            subscription.close()
        tasks = self._pumps.pop(name, [])
        current = asyncio.current_task()
        for task in tasks:
            if task is not current:
                task.cancel()
        for task in tasks:
            if task is not current:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _take(self, subscription: Subscription) -> None:
        """Move what ``subscription`` holds into the outbox, in order."""
        messages, gaps = subscription.drain_messages()
        if gaps:
            self._outbox.count_dropped(sum(gaps.values()))
        for message in messages:
            run = None
            if message.kind == "action" and isinstance(message.data, dict):
                run = str(message.data.get("id", ""))
            topic = self.topic(message.thing, message.kind, message.name, run)
            self._outbox.put(topic, message.text.encode(), retain=message.kind == "property")

    def _send_reply(self, topic: str, payload: bytes, properties: Properties | None) -> None:
        self._outbox.put(topic, payload, retain=False, properties=properties)

    async def _publish_current(self, name: str) -> None:
        """Publish every observable property's current value, retained (start and adds)."""
        thing = self.servient.things.get(name)
        if thing is None:
            return
        for prop_name, prop in thing.properties.items():
            if not prop.observable or prop.write_only:
                continue
            topic = self.topic(name, "property", prop_name)
            try:
                value = await self.servient.read_property(name, prop_name)
            except (WotLabthingError, OSError) as exc:
                _log.info("MQTT: no initial value for %s.%s: %s", name, prop_name, exc)
                continue
            if topic not in self._outbox.retained:  # a change published meanwhile is newer
                self._outbox.put(topic, dumps(value).encode(), retain=True)

    # The outbox and the connection -------------------------------------------

    def _client(self) -> aiomqtt.Client:
        broker = self._broker
        tls = ssl.create_default_context() if broker.scheme == "mqtts" else None
        client = aiomqtt.Client(
            broker.host,
            broker.port,
            username=self.settings.username or broker.username,
            password=self.settings.password or broker.password,
            identifier=self.settings.client_id,
            tls_context=tls,
            keepalive=30,
            timeout=10,
            max_inflight_messages=WINDOW,
            max_queued_incoming_messages=_INCOMING,
            # MQTT 5 carries a requester's response topic; publishing alone needs 3.1.1
            protocol=aiomqtt.ProtocolVersion.V5 if self.invoker else aiomqtt.ProtocolVersion.V311,
        )
        client.pending_calls_threshold = WINDOW  # a full window is normal, not a warning
        return client

    async def _run(self) -> None:
        """Connect, publish, and reconnect with back-off for as long as the binding is open."""
        for attempt in itertools.count():
            try:
                async with self._client() as client:
                    self._connected.set()
                    self.connections += 1
                    if self.connections > 1 or attempt:
                        _log.warning("MQTT: connected to %s again", self._broker.netloc)
                    else:
                        _log.info("MQTT: connected to %s", self._broker.netloc)
                    self._outbox.report_dropped()
                    await self._serve(client)
            except aiomqtt.MqttError as exc:
                was_connected = self._connected.is_set()
                self._connected.clear()
                delay = backoff_delay(
                    0 if was_connected else attempt, first=0.2, maximum=self.settings.reconnect_max
                )
                _log.warning(
                    "MQTT: broker %s unreachable (%s); retrying in %.1f s",
                    self._broker.netloc,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
            finally:
                self._connected.clear()

    async def _serve(self, client: aiomqtt.Client) -> None:
        """Publish until the connection breaks (noticed by the message reader)."""
        tasks = [
            asyncio.create_task(self._watch(client)),
            asyncio.create_task(self._outbox.publish(client)),
        ]
        if self.invoker is not None:
            tasks.append(asyncio.create_task(self._keep_subscribed(client, self.invoker)))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await task
            self.invoke_topics = frozenset()  # the next connection subscribes again
        for task in done:
            task.result()  # the MqttError that ended the connection

    async def _watch(self, client: aiomqtt.Client) -> None:
        """Read incoming messages (invocations); notices a lost connection."""
        async for message in client.messages:  # raises MqttError when the connection is lost
            if self.invoker is None:
                continue
            payload = message.payload
            if not isinstance(payload, bytes):  # aiomqtt hands bytes; be strict anyway
                payload = str(payload).encode() if payload is not None else b""
            self.invoker.handle(
                message.topic.value,
                payload,
                retain=message.retain,
                properties=message.properties,
            )
        raise aiomqtt.MqttError("the broker closed the connection")

    async def _keep_subscribed(self, client: aiomqtt.Client, invoker: Invoker) -> None:
        """Subscribe to every action's invoke topic; follow Things added and removed.

        A subscription the broker refuses (its ACL) is logged and not asked for
        again on this connection.
        """
        asked: set[str] = set()
        refused: set[str] = set()
        while True:
            self._registry_changed.clear()
            wanted = invoker.wanted()
            invoker.routes = wanted
            for topic in sorted(wanted.keys() - asked):
                granted = await client.subscribe(topic, qos=self.settings.qos)
                asked.add(topic)
                if granted and getattr(granted[0], "is_failure", False):
                    refused.add(topic)
                    _log.error(
                        "MQTT: the broker refused the subscription to %s (%s); actions are not "
                        "invoked there: check its ACL for the servient's user",
                        topic,
                        granted[0],
                    )
            for topic in sorted(asked - wanted.keys()):
                if topic not in refused:
                    await client.unsubscribe(topic)
                asked.discard(topic)
                refused.discard(topic)
            self.invoke_topics = frozenset(asked - refused)
            await self._registry_changed.wait()
