"""Invoking actions over MQTT: a message on an action's topic starts a tracked run.

Off unless ``[mqtt] invoke_actions = true``. Then the binding subscribes to one
topic per action (exact topics, no wildcards, so invocations meant for another
servient sharing the prefix never reach this one)::

    {prefix}/{thing}/actions/{name}              invoke: the payload is the input (JSON)
    {prefix}/{thing}/actions/{name}/problems     why an invocation was refused (problem)

This is the shape ``@node-wot/binding-mqtt`` 0.8.16 sends: its ``invokeResource``
publishes the serialised input (an empty payload for none) to the form's href
path with the form's ``mqv:qos`` and ``mqv:retain``, and returns at once without
waiting for any reply. The run is the same tracked run an HTTP ``POST`` starts
(``Servient.invoke_action``): it is listed under ``/actions``, its updates are
published on ``{prefix}/{thing}/actions/{name}/{id}``, and it is queried and
cancelled over HTTP.

An MQTT invocation carries no HTTP credentials: what protects it is the broker
(its authentication and ACLs decide who may publish to the invoke topics). That
is why it is opt-in, and why a config with ``[security]`` may enable it only
when the servient itself logs in to the broker (``_config.py``).

Nothing a publisher sends may break the binding. A payload that is too large,
not JSON, breaks the action's input schema, names an action that is gone, comes
from the broker's retained store (it would run again on every reconnect), or
meets a full queue (``action_max_pending``, HTTP's 503) is refused: logged,
counted in :attr:`Invoker.refused`, and answered with an RFC 9457 problem record.

MQTT 5 requesters that give a response topic (and correlation data) get the
answer there: the run's record once it is accepted (for a ``synchronous``
action, once it has ended), or the problem. The record names the run by ``id``,
which is the ``actionID`` of the TD's HTTP ``queryaction``/``cancelaction``
forms. Without a response topic a problem goes to the ``/problems`` topic above.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from .._affordances import NO_INPUT
from .._errors import InputError, NotAllowedError, NotFoundError, WotLabthingError
from .._jsonutil import dumps, loads
from .._problems import http_status, problem_for, public_problem

if TYPE_CHECKING:
    from .._invocations import Invocation
    from .._servient import Servient

__all__ = ["PROBLEMS", "Invoker", "valid_publish_topic"]

_log = logging.getLogger(__name__)

#: The level appended to an invoke topic for its problem records.
PROBLEMS = "problems"
#: The longest topic MQTT allows, in UTF-8 bytes.
_MAX_TOPIC = 65_535
#: Seconds between two refusal warnings (a flood of bad messages must not flood the log).
_WARN_EVERY = 1.0

#: ``send(topic, payload, properties)``: hand a message to the binding's outbox.
Send = Callable[[str, bytes, Properties | None], None]


def valid_publish_topic(topic: str) -> bool:
    """Whether ``topic`` may be published to (a requester's response topic is checked)."""
    return (
        bool(topic)
        and not any(char in topic for char in "+#\0")
        and len(topic.encode()) <= _MAX_TOPIC
    )


class Invoker:
    """Turns messages on invoke topics into runs through the servient's API.

    Attributes:
        received: messages seen on invoke topics.
        invoked: runs started from them.
        refused: messages refused (bad payload, unknown action, full queue, ...).
        refusals: ``refused`` split by problem slug (``invalid-input``, ``busy``, ...).
    """

    def __init__(
        self,
        servient: Servient,
        topic: Callable[[str, str], str],
        send: Send,
    ) -> None:
        self.servient = servient
        self._topic = topic
        self._send = send
        #: The invoke topics the binding is subscribed to, and whose action each is.
        self.routes: dict[str, tuple[str, str]] = {}
        self._waiters: set[asyncio.Task[None]] = set()
        self.received = 0
        self.invoked = 0
        self.refused = 0
        self.refusals: collections.Counter[str] = collections.Counter()
        self._warned_at = -_WARN_EVERY

    def wanted(self) -> dict[str, tuple[str, str]]:
        """The invoke topic of every action of every exposed Thing."""
        return {
            self._topic(name, action): (name, action)
            for name, thing in list(self.servient.things.items())
            for action in thing.actions
        }

    async def close(self) -> None:
        """Stop waiting for synchronous runs to answer (the runs themselves go on)."""
        waiters, self._waiters = self._waiters, set()
        for task in waiters:
            task.cancel()
        for task in waiters:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def handle(
        self, topic: str, payload: bytes, *, retain: bool, properties: Properties | None
    ) -> None:
        """Start a run for one message, or refuse it; never raises."""
        self.received += 1
        reply_to = _response_topic(properties)
        correlation = getattr(properties, "CorrelationData", None) if properties else None
        try:
            invocation = self._invoke(topic, payload, retain=retain)
        except WotLabthingError as exc:
            self._refuse(topic, exc, reply_to, correlation)
            return
        except Exception as exc:  # a bug must not end the connection
            _log.exception("MQTT: invoking from %s failed", topic)
            self._refuse(topic, exc, reply_to, correlation)
            return
        self.invoked += 1
        _log.info(
            "MQTT: %s.%s invoked (run %s)", invocation.thing_name, invocation.action, invocation.id
        )
        if reply_to is None:
            return
        if invocation.affordance.synchronous:
            task = asyncio.create_task(self._answer_when_ended(invocation, reply_to, correlation))
            self._waiters.add(task)
            task.add_done_callback(self._waiters.discard)
        else:
            self._reply(reply_to, correlation, invocation.as_record())

    def _invoke(self, topic: str, payload: bytes, *, retain: bool) -> Invocation:
        route = self.routes.get(topic)
        if route is None:
            raise NotFoundError(f"no action is invoked at topic {topic!r}", kind="action")
        thing, action = route
        if retain:
            raise NotAllowedError(
                "a retained message on an invoke topic is not run: it would run again at "
                "every reconnect; publish invocations with retain=false"
            )
        limit = self.servient.settings.max_body_bytes
        if len(payload) > limit:
            raise InputError(
                f"the payload ({len(payload)} bytes) is larger than the limit of {limit} bytes",
                thing=thing,
                affordance=action,
            )
        value: Any = NO_INPUT if not payload.strip() else loads(payload)
        return self.servient.invoke_action(thing, action, value)

    def _refuse(
        self, topic: str, exc: BaseException, reply_to: str | None, correlation: bytes | None
    ) -> None:
        problem = public_problem(problem_for(exc))
        problem["status"] = http_status(exc)
        problem["topic"] = topic
        slug = str(problem["type"]).rsplit(":", 1)[-1]
        self.refused += 1
        self.refusals[slug] += 1
        now = time.monotonic()
        loud = now - self._warned_at >= _WARN_EVERY
        if loud:
            self._warned_at = now
        _log.log(
            logging.WARNING if loud else logging.DEBUG,
            "MQTT: invocation at %s refused (%d so far): %s",
            topic,
            self.refused,
            problem["detail"],
        )
        if reply_to is not None:
            self._reply(reply_to, correlation, problem)
        elif topic in self.routes:  # only topics we subscribed to, never arbitrary ones
            self._send(f"{topic}/{PROBLEMS}", dumps(problem).encode(), None)

    async def _answer_when_ended(
        self, invocation: Invocation, reply_to: str, correlation: bytes | None
    ) -> None:
        await self.servient.wait_for_invocation(invocation, None)
        self._reply(reply_to, correlation, invocation.as_record())

    def _reply(self, topic: str, correlation: bytes | None, body: dict[str, Any]) -> None:
        properties = None
        if correlation is not None:
            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            properties.CorrelationData = correlation
        self._send(topic, dumps(body).encode(), properties)


def _response_topic(properties: Properties | None) -> str | None:
    """The requester's MQTT 5 response topic, if it gave a usable one."""
    topic = getattr(properties, "ResponseTopic", None) if properties is not None else None
    if not isinstance(topic, str):
        return None
    if not valid_publish_topic(topic):
        _log.warning("MQTT: ignoring the unusable response topic %r", topic[:200])
        return None
    return topic
