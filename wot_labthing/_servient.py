"""The servient: the composition root; a registry of Things and their protocol-neutral API.

Protocol bindings (``_http``, later MQTT) translate requests into the calls
here, which cover every WoT operation (read/write one, all or several
properties; invoke, query, cancel and list runs; observe properties; subscribe
to events and to one run's updates) and name nothing of any protocol: records
carry ids, and the binding adds its own links. Bindings never reach the event
hub or the invocation manager directly (``tests/http/test_layering.py``).

The servient is also the composition root (see ``_lifecycle.py``): it starts
its Things, bindings, advertisers and registrars in that order and stops them
in reverse through one shutdown path, and it reports readiness.

Sync getters and setters run in a bounded worker pool so blocking instrument
I/O never runs on the event loop; ``async def`` ones run on the loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

from ._affordances import ActionAffordance, EventAffordance, PropertyAffordance
from ._errors import ConfigError, DisconnectedError, InputError, NotAllowedError, NotFoundError
from ._events import EventHub, Message, Subscription, Topic
from ._ids import ServientIds
from ._invocations import FINISHED, Invocation, InvocationManager
from ._lifecycle import Advertiser, Binding, Endpoint, FormContributor, Registrar
from ._schema import Constraints, to_json
from ._thing import Thing

__all__ = ["Servient", "ServientSettings"]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")


_AT_LEAST_ONE = Constraints(minimum=1)
_NOT_NEGATIVE = Constraints(minimum=0)


@dataclass
class ServientSettings:
    """Tunables of a servient; every field can be set in the config's ``[servient]`` table.

    The config schema of each field is generated from its annotation (``_config.py``),
    so a new field is a new config key with no other table to edit.
    """

    #: Worker threads for sync property getters and setters.
    property_workers: Annotated[int, _AT_LEAST_ONE] = 8
    #: Worker threads for sync actions; a run waiting for one is ``pending``.
    action_workers: Annotated[int, _AT_LEAST_ONE] = 8
    #: Seconds a POST on an asynchronous action waits for a quick result.
    action_wait: Annotated[float, _NOT_NEGATIVE] = 1.0
    #: Seconds finished invocation records are kept.
    action_retention: Annotated[float, _NOT_NEGATIVE] = 300.0
    #: Finished invocation records kept at most (oldest expire first).
    action_max_records: Annotated[int, _AT_LEAST_ONE] = 1000
    #: Seconds shutdown waits for cancelled actions to end.
    shutdown_grace: Annotated[float, _NOT_NEGATIVE] = 5.0
    #: Largest request body accepted, in bytes.
    max_body_bytes: Annotated[int, _AT_LEAST_ONE] = 1024 * 1024
    #: Most concurrent observers (SSE and long-poll) before 503.
    max_subscribers: Annotated[int, _AT_LEAST_ONE] = 2000


class Servient:
    """Exposes Things: owns their lifecycle, worker pools and the event hub.

    Use it as an async context manager or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        things: Iterable[Thing] = (),
        *,
        settings: ServientSettings | None = None,
        ids: ServientIds | None = None,
    ) -> None:
        self.settings = settings or ServientSettings()
        #: Where derived TD ids come from (see ``_ids.py``); claimed at start.
        self.ids = ids or ServientIds(_configured_state_dir(self.settings))
        self.things: dict[str, Thing] = {}
        self.hub = EventHub(max_subscribers=self.settings.max_subscribers)
        self.invocations = InvocationManager(self.settings, self.hub)
        self._property_pool = self._new_pool()
        self._started = False
        self._pool_closed = False
        self._listeners: list[Callable[[str, Thing | None], Any]] = []
        #: Protocol bindings, advertisers and registrars, started in this order.
        self.bindings: list[Binding] = []
        self.advertisers: list[Advertiser] = []
        self.registrars: list[Registrar] = []
        self._opened: list[Thing] = []
        self._open_bindings: list[Binding] = []
        self._open_advertisers: list[Advertiser] = []
        self._open_registrars: list[Registrar] = []
        self._unreachable: dict[str, str] = {}
        for thing in things:
            self.add(thing)

    def _new_pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(
            max_workers=self.settings.property_workers, thread_name_prefix="wot-property"
        )

    # Registry ---------------------------------------------------------------

    def add(self, thing: Thing) -> None:
        """Expose ``thing`` under its name; names must be unique."""
        name = thing.thing_name
        if name in self.things:
            raise ConfigError(f"a Thing named {name!r} is already exposed", entry=name)
        self.things[name] = thing
        thing._wot_attach(functools.partial(self._on_change, name))
        for listener in self._listeners:
            listener(name, thing)

    def remove(self, name: str) -> Thing:
        """Stop exposing the Thing ``name`` and return it."""
        thing = self.thing(name)
        thing._wot_attach(None)
        del self.things[name]
        for listener in self._listeners:
            listener(name, None)
        return thing

    def on_registry_change(self, listener: Callable[[str, Thing | None], Any]) -> None:
        """Call ``listener(name, thing_or_None)`` whenever a Thing is added or removed."""
        self._listeners.append(listener)

    def off_registry_change(self, listener: Callable[[str, Thing | None], Any]) -> None:
        """Stop calling ``listener`` (unknown listeners are ignored)."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def thing(self, name: str) -> Thing:
        """The exposed Thing ``name``, or :class:`NotFoundError`."""
        try:
            return self.things[name]
        except KeyError:
            raise NotFoundError(f"no Thing named {name!r}", kind="thing", name=name) from None

    def thing_id(self, thing: Thing) -> str:
        """The TD ``id`` of ``thing``: the configured one, else derived from this servient's ids."""
        return thing.thing_id or self.ids.thing_id(thing.thing_name)

    def property_affordance(self, thing: str, name: str) -> PropertyAffordance[Any]:
        """The property ``name`` of Thing ``thing``, or :class:`NotFoundError`."""
        affordance: PropertyAffordance[Any] = self._affordance(thing, "properties", name)
        return affordance

    def action_affordance(self, thing: str, name: str) -> ActionAffordance:
        """The action ``name`` of Thing ``thing``, or :class:`NotFoundError`."""
        affordance: ActionAffordance = self._affordance(thing, "actions", name)
        return affordance

    def event_affordance(self, thing: str, name: str) -> EventAffordance:
        """The event ``name`` of Thing ``thing``, or :class:`NotFoundError`."""
        affordance: EventAffordance = self._affordance(thing, "events", name)
        return affordance

    def _affordance(self, thing: str, table: str, name: str) -> Any:
        affordances = getattr(self.thing(thing), table)
        try:
            return affordances[name]
        except KeyError:
            raise NotFoundError(
                f"Thing {thing!r} has no {table[:-1].replace('ie', 'y')} named {name!r}",
                kind=table,
                name=name,
            ) from None

    # Properties -------------------------------------------------------------

    async def run_sync(self, function: Callable[..., _T], *args: Any) -> _T:
        """Run blocking ``function`` in the property worker pool, keeping context variables."""
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        return await loop.run_in_executor(
            self._property_pool, functools.partial(context.run, function, *args)
        )

    async def read_property(self, thing: str, name: str) -> Any:
        """Read a property and return its value as JSON data."""
        prop = self.property_affordance(thing, name)
        if prop.write_only:
            raise NotAllowedError(f"property {name!r} is write-only", allowed=("PUT",))
        instance = self.thing(thing)
        try:
            if prop.getter is not None and prop.is_async:
                value = await prop.getter(instance)
            elif prop.getter is not None:
                value = await self.run_sync(prop.getter, instance)
            else:
                value = prop.__get__(instance)
        except DisconnectedError as exc:
            self._reachable(thing, exc)
            raise
        if prop.getter is not None:
            self._reachable(thing, None)
        return to_json(value)

    async def write_property(self, thing: str, name: str, value: Any) -> None:
        """Validate a JSON ``value`` against the property's schema and write it."""
        prop = self.property_affordance(thing, name)
        if prop.read_only:
            raise NotAllowedError(f"property {name!r} is read-only", allowed=("GET", "HEAD"))
        prop.validate(value)
        instance = self.thing(thing)
        python_value = prop.coerce(value)
        try:
            if prop.setter_function is not None and prop.is_async:
                await prop.setter_function(instance, python_value)
                if prop.observable:
                    instance._wot_property_changed(name, python_value)
            else:
                await self.run_sync(prop.__set__, instance, python_value)
        except DisconnectedError as exc:
            self._reachable(thing, exc)
            raise
        if prop.setter_function is not None:
            self._reachable(thing, None)

    async def read_all_properties(self, thing: str) -> dict[str, Any]:
        """Every readable property of ``thing``, read concurrently."""
        names = [name for name, prop in self.thing(thing).properties.items() if not prop.write_only]
        values = await asyncio.gather(*(self.read_property(thing, name) for name in names))
        return dict(zip(names, values, strict=True))

    async def read_multiple_properties(self, thing: str, names: Iterable[str]) -> dict[str, Any]:
        """``readmultipleproperties``: the named properties, read concurrently.

        Every name is checked (known, readable) before any instrument is read.
        """
        wanted = list(dict.fromkeys(names))
        for name in wanted:
            if self.property_affordance(thing, name).write_only:
                raise NotAllowedError(f"property {name!r} is write-only", allowed=("PUT",))
        values = await asyncio.gather(*(self.read_property(thing, name) for name in wanted))
        return dict(zip(wanted, values, strict=True))

    async def write_properties(self, thing: str, values: dict[str, Any]) -> None:
        """Write several properties; all are validated before any is written.

        A read-only property among them makes the whole request invalid input, not
        a 405: the properties resource does accept writes (RFC 9110 §15.5.6).
        """
        for name, value in values.items():
            prop = self.property_affordance(thing, name)
            if prop.read_only:
                raise InputError(
                    f"property {name!r} is read-only; leave it out of the values to write",
                    pointer=f"/{name}",
                    thing=thing,
                    affordance=name,
                )
            prop.validate(value)
        for name, value in values.items():
            await self.write_property(thing, name, value)

    # Actions ----------------------------------------------------------------

    def invoke_action(self, thing: str, name: str, input_value: Any) -> Invocation:
        """``invokeaction``: validate the input and start a tracked run of action ``name``.

        Raises:
            NotFoundError: no such Thing or action.
            InputError: the input breaks the action's schema (nothing is recorded).
            BusyError: an exclusive action with ``busy="reject"`` finds the Thing busy.
        """
        affordance = self.action_affordance(thing, name)
        return self.invocations.invoke(self.thing(thing), affordance, input_value)

    async def wait_for_invocation(
        self,
        invocation: Invocation,
        timeout: float | None,  # noqa: ASYNC109 - a protocol's window, kept past the wait
    ) -> bool:
        """Wait up to ``timeout`` seconds (None: forever) for a run to end; True if it did."""
        return await self.invocations.wait(invocation, timeout)

    def query_action(self, invocation_id: str) -> Invocation:
        """``queryaction``: the run ``invocation_id`` (NotFoundError once unknown or expired)."""
        return self.invocations.get(invocation_id)

    def list_invocations(
        self, *, thing: str | None = None, action: str | None = None, status: str | None = None
    ) -> list[Invocation]:
        """``queryallactions``: runs newest first, filtered by Thing, action and status.

        Filters select, they do not check: an unknown Thing or action has no runs.

        Raises:
            InputError: ``status`` is not a status a run can have.
        """
        if status is not None and status not in {"pending", "running", *FINISHED}:
            raise InputError(f"unknown status {status!r}", pointer="/status")
        return self.invocations.list(thing=thing, action=action, status=status)

    async def cancel_action(self, invocation_id: str, wait: float | None = None) -> None:
        """``cancelaction``: cancel a pending or running run; forget a finished record.

        A cancelled run is waited for up to ``wait`` seconds (default
        ``action_wait``), so whoever asked sees how it ended; a run slower to stop
        keeps reporting through its record.
        """
        record = self.invocations.get(invocation_id)
        was_running = not record.is_finished
        self.invocations.cancel_or_remove(invocation_id)
        if was_running:
            timeout = self.settings.action_wait if wait is None else wait
            await self.invocations.wait(record, timeout)

    @property
    def invocation_policy(self) -> dict[str, Any]:
        """How long finished runs are kept (``retentionSeconds``, ``maxRecords``)."""
        return self.invocations.policy

    # Observing --------------------------------------------------------------

    def observe_properties(
        self,
        thing: str,
        names: Iterable[str] | None = None,
        *,
        after: int | None = None,
        size: int | None = None,
    ) -> Subscription:
        """``observeproperty`` / ``observeallproperties``: a subscription to changes.

        ``names`` None means every observable property. ``after`` replays newer
        history first; ``size`` bounds the subscriber's queue (at most the hub's).
        Closing the subscription is unobserving.

        Raises:
            NotFoundError: no such Thing, a property is unknown or not observable,
                or (for all) the Thing has no observable property.
            BusyError: too many observers.
        """
        properties = self.thing(thing).properties
        if names is None:
            wanted = [name for name, prop in properties.items() if prop.observable]
            if not wanted:
                raise NotFoundError(
                    f"Thing {thing!r} has no observable property", kind="properties"
                )
        else:
            wanted = list(names)
            for name in wanted:
                if not self.property_affordance(thing, name).observable:
                    raise NotFoundError(
                        f"property {name!r} is not observable", kind="properties", name=name
                    )
        return self._subscribe(Topic.of(thing, "property", wanted), after, size)

    def subscribe_events(
        self,
        thing: str,
        names: Iterable[str] | None = None,
        *,
        after: int | None = None,
        size: int | None = None,
    ) -> Subscription:
        """``subscribeevent`` / ``subscribeallevents``: a subscription to emitted events.

        Raises:
            NotFoundError: no such Thing or event, or (for all) the Thing has no events.
            BusyError: too many observers.
        """
        if names is None:
            if not self.thing(thing).events:
                raise NotFoundError(f"Thing {thing!r} has no events", kind="events")
            return self._subscribe(Topic.of(thing, "event"), after, size)
        wanted = list(names)
        for name in wanted:
            self.event_affordance(thing, name)
        return self._subscribe(Topic.of(thing, "event", wanted), after, size)

    def subscribe_actions(
        self, thing: str, names: Iterable[str] | None = None, *, size: int | None = None
    ) -> Subscription:
        """Every update (status, progress, output) of every run of ``thing``'s actions.

        ``names`` None means every action. Bindings that push run updates (MQTT)
        use this; a client following one run uses :meth:`subscribe_invocation`.

        Raises:
            NotFoundError: no such Thing or action, or the Thing has no actions.
            BusyError: too many observers.
        """
        if names is None:
            if not self.thing(thing).actions:
                raise NotFoundError(f"Thing {thing!r} has no actions", kind="actions")
            return self._subscribe(Topic.of(thing, "action"), None, size)
        wanted = list(names)
        for name in wanted:
            self.action_affordance(thing, name)
        return self._subscribe(Topic.of(thing, "action", wanted), None, size)

    def subscribe_invocation(
        self, invocation_id: str, *, after: int | None = None
    ) -> tuple[Invocation, Subscription | None]:
        """Every update of one run (status, progress, data, output) until it ends.

        Returns the run and a subscription to its updates, or None when the run has
        already finished (its record is all there is). Updates published before
        this call are delivered first, so the record read right after this call
        is never newer than the first update that follows.
        """
        invocation = self.invocations.get(invocation_id)
        self.hub.flush()  # so no update queued before the snapshot arrives after it
        if invocation.is_finished:
            return invocation, None

        def this_run(message: Message) -> bool:
            return bool(message.data.get("id") == invocation_id)

        topic = Topic.of(invocation.thing_name, "action", [invocation.action], where=this_run)
        return invocation, self._subscribe(topic, after, None)

    def _subscribe(self, topic: Topic, after: int | None, size: int | None) -> Subscription:
        limit = self.hub.queue_size if size is None else min(size, self.hub.queue_size)
        return self.hub.subscribe(topic, after=after, size=limit)

    # Changes ----------------------------------------------------------------

    def _on_change(self, thing: str, kind: str, name: str, value: Any) -> None:
        self.hub.publish(thing, kind, name, value)

    # Composition ------------------------------------------------------------

    def add_binding(self, binding: Binding) -> None:
        """Serve over ``binding`` from the next :meth:`start` on (opened after the Things)."""
        if binding not in self.bindings:
            self.bindings.append(binding)

    def add_advertiser(self, advertiser: Advertiser) -> None:
        """Advertise with ``advertiser`` from the next :meth:`start` on (after the bindings)."""
        self.advertisers.append(advertiser)

    def add_registrar(self, registrar: Registrar) -> None:
        """Register with ``registrar`` from the next :meth:`start` on (after advertising)."""
        self.registrars.append(registrar)

    def extend_description(self, thing: str, td: dict[str, Any]) -> dict[str, Any]:
        """Let every binding that offers forms (``FormContributor``) add them to ``td``.

        The binding that serves TDs builds its own forms, then calls this so a
        TD lists every protocol the Thing is reachable by (e.g. MQTT forms next
        to the HTTP ones). Returns ``td``, changed in place.
        """
        for binding in self.bindings:
            if isinstance(binding, FormContributor):
                binding.add_forms(thing, td)
        return td

    @property
    def endpoints(self) -> list[Endpoint]:
        """Where the open bindings listen."""
        return [b.endpoint for b in self.bindings if b.endpoint is not None]

    # Health -----------------------------------------------------------------

    @property
    def started(self) -> bool:
        """True between a successful :meth:`start` and :meth:`stop`."""
        return self._started

    def readiness(self) -> dict[str, Any]:
        """Whether the servient is ready for work, and which Things are not.

        Ready means started and every Thing open with its instrument reachable.
        A Thing whose instrument could not be reached (its ``open`` or its last
        operation raised :class:`DisconnectedError`) is listed under
        ``unreachable`` with the reason until an operation on it succeeds again.
        """
        unreachable = [
            {"thing": name, "detail": detail} for name, detail in self._unreachable.items()
        ]
        ready = self._started and not unreachable
        return {"ready": ready, "things": sorted(self.things), "unreachable": unreachable}

    def _reachable(self, thing: str, exc: BaseException | None) -> None:
        if isinstance(exc, DisconnectedError):
            if thing not in self._unreachable:
                _log.warning("Thing %r is unreachable: %s", thing, exc)
            self._unreachable[thing] = str(exc)
        elif exc is None:
            self._unreachable.pop(thing, None)

    # Lifecycle --------------------------------------------------------------

    async def start(self) -> None:
        """Open every Thing, then the bindings, advertisers and registrars, in that order.

        A Thing whose instrument is unreachable (``open`` raises
        :class:`DisconnectedError`) does not stop the servient: it is served and
        reported by :meth:`readiness`. Any other failure undoes what was started
        and is raised. On a started servient it opens bindings added since.
        """
        if self._started:
            for binding in self.bindings:
                if binding not in self._open_bindings:
                    await binding.open(self)
                    self._open_bindings.append(binding)
            return
        if self._pool_closed:
            self._property_pool = self._new_pool()
            self._pool_closed = False
        self.hub.bind_loop(asyncio.get_running_loop())
        await self.run_sync(self.ids.open)
        self.invocations.start()
        try:
            for thing in list(self.things.values()):
                self._opened.append(thing)
                try:
                    await self.run_sync(thing.open)
                except DisconnectedError as exc:
                    self._reachable(thing.thing_name, exc)
            for binding in self.bindings:
                await binding.open(self)
                self._open_bindings.append(binding)
            endpoints = self.endpoints
            for advertiser in self.advertisers:
                await advertiser.open(self, endpoints)
                self._open_advertisers.append(advertiser)
            for registrar in self.registrars:
                await registrar.register(self, endpoints)
                self._open_registrars.append(registrar)
        except BaseException:
            await self._shutdown(self._opened)
            raise
        self._opened.clear()
        self._started = True

    async def stop(self) -> None:
        """Undo :meth:`start` in reverse; idempotent.

        Registrations and advertisements are withdrawn first, then running
        actions are cancelled and event streams closed (so the bindings have
        nothing in flight), then the bindings stop and the Things close.
        """
        if not self._started:
            return
        self._started = False
        await self._shutdown(list(self.things.values()))

    async def _shutdown(self, things: list[Thing]) -> None:
        """The one shutdown path, for :meth:`stop` and for a :meth:`start` that failed.

        ``things`` are closed last, in reverse: on stop every exposed Thing (also
        those added while serving), after a failed start those it opened.
        """
        while self._open_registrars:
            await _quietly(self._open_registrars.pop().deregister(), "deregistering")
        while self._open_advertisers:
            await _quietly(self._open_advertisers.pop().close(), "closing an advertiser")
        await self.invocations.shutdown()
        await self.hub.close()
        while self._open_bindings:
            await _quietly(self._open_bindings.pop().close(), "closing a binding")
        for thing in reversed(things):
            await self._close_quietly(thing)
        self._opened.clear()
        self._unreachable.clear()
        self._property_pool.shutdown(wait=False, cancel_futures=True)
        self._pool_closed = True
        self.ids.close()

    async def _close_quietly(self, thing: Thing) -> None:
        try:
            await self.run_sync(thing.close)
        except Exception:
            _log.exception("closing Thing %r failed", thing.thing_name)

    async def __aenter__(self) -> Servient:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def _configured_state_dir(settings: ServientSettings) -> Path | None:
    """The ``state_dir`` setting (issue #13) when this build has one, as a path."""
    configured = getattr(settings, "state_dir", None)
    return Path(configured).expanduser() if configured else None


async def _quietly(step: Awaitable[None], what: str) -> None:
    """Run one shutdown step; a failure is logged so the other steps still run."""
    try:
        await step
    except Exception:
        _log.exception("%s failed during shutdown", what)
