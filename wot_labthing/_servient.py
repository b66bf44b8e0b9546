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
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from ._affordances import NO_INPUT, ActionAffordance, EventAffordance, PropertyAffordance
from ._errors import (
    ConfigError,
    DisconnectedError,
    InputError,
    NotAllowedError,
    NotFoundError,
    WotLabthingError,
)
from ._events import EventHub, Message, Subscription, Topic
from ._ids import ServientIds
from ._invocations import FINISHED, Invocation, InvocationManager
from ._lifecycle import Advertiser, Binding, Endpoint, FormContributor, Registrar
from ._schema import Constraints, to_json
from ._settings_store import SettingsStore
from ._state import resolve_state_dir
from ._thing import Thing
from ._workers import PropertyWorkers

__all__ = ["NO_INPUT", "Servient", "ServientSettings"]

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

    #: Worker threads for sync property getters and setters, per Thing (one Thing's
    #: blocked instrument never delays another Thing's properties).
    property_workers: Annotated[int, _AT_LEAST_ONE] = 8
    #: Sync action runs with a thread of their own at once; past it a run is ``pending``.
    action_threads: Annotated[int, _AT_LEAST_ONE] = 2048
    #: Runs waiting (for a thread or an exclusive Thing) servient-wide; more get 503.
    action_max_pending: Annotated[int, _NOT_NEGATIVE] = 10_000
    #: Runs waiting on one Thing; more get 503.
    action_max_pending_per_thing: Annotated[int, _NOT_NEGATIVE] = 1000
    #: Log entries kept per run (the oldest are dropped, with a marker entry).
    action_log_lines: Annotated[int, _AT_LEAST_ONE] = 1000
    #: Seconds a POST on an asynchronous action waits for a quick result.
    action_wait: Annotated[float, _NOT_NEGATIVE] = 1.0
    #: Seconds finished invocation records are kept.
    action_retention: Annotated[float, _NOT_NEGATIVE] = 300.0
    #: Invocation records kept at most; past it finished records already read go first,
    #: then the oldest finished ones (pending and running ones always stay).
    action_max_records: Annotated[int, _AT_LEAST_ONE] = 20_000
    #: Seconds shutdown waits for cancelled actions to end, and for each Thing to close.
    shutdown_grace: Annotated[float, _NOT_NEGATIVE] = 5.0
    #: Largest request body accepted, in bytes.
    max_body_bytes: Annotated[int, _AT_LEAST_ONE] = 1024 * 1024
    #: Seconds a long-poll GET is held without a change before the client is told to poll
    #: again (under node-wot 0.9.2's one-hour fetch timeout, which would end its observation).
    longpoll_hold: Annotated[float, Constraints(exclusiveMinimum=0, maximum=3500)] = 3000.0
    #: Most concurrent observers (SSE and long-poll) before 503.
    max_subscribers: Annotated[int, _AT_LEAST_ONE] = 2000
    #: Open HTTP connections accepted at once; more are answered 503 and closed.
    max_connections: Annotated[int, _AT_LEAST_ONE] = 1024
    #: Open HTTP connections accepted at once from one client address (above
    #: ``[security] max_streams_per_client``: every held stream is a connection).
    max_connections_per_client: Annotated[int, _AT_LEAST_ONE] = 128
    #: Seconds a connection may stay idle, or take to send a request head (slowloris).
    idle_timeout: Annotated[float, Constraints(exclusive_minimum=0)] = 5.0
    #: Largest request head (request line and header fields), in bytes.
    max_header_bytes: Annotated[int, Constraints(minimum=1024)] = 16 * 1024
    #: Most header fields in one request.
    max_headers: Annotated[int, Constraints(minimum=16)] = 100
    #: Longest request target (path and query), in bytes.
    max_url_bytes: Annotated[int, Constraints(minimum=256)] = 4096
    #: Directory of persisted settings (None: the user state directory, see _state.py).
    state_dir: str | None = None
    #: Name of this servient's settings file in ``state_dir`` (``<state_name>.json``);
    #: ``serve`` uses the config file's name.
    state_name: Annotated[str, Constraints(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")] = "servient"
    #: Show exception details (tracebacks, device paths) to clients; for development only.
    debug: bool = False


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
        self._workers = PropertyWorkers(self.settings.property_workers)
        self._started = False
        self._listeners: list[Callable[[str, Thing | None], Any]] = []
        self._store: SettingsStore | None = None
        self._pollers: list[asyncio.Task[None]] = []
        #: The last value published per (thing, property), so a poll publishes changes only.
        self._last_values: dict[tuple[str, str], Any] = {}
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

    # Registry ---------------------------------------------------------------

    def add(self, thing: Thing) -> None:
        """Expose ``thing`` under its name; names must be unique."""
        name = thing.thing_name
        if name in self.things:
            raise ConfigError(f"a Thing named {name!r} is already exposed", entry=name)
        self.things[name] = thing
        thing._wot_attach(functools.partial(self._on_change, name))
        thing._wot_attach_persister(functools.partial(self._persist, name))
        for listener in self._listeners:
            listener(name, thing)

    def remove(self, name: str) -> Thing:
        """Stop exposing the Thing ``name`` and return it."""
        thing = self.thing(name)
        thing._wot_attach(None)
        thing._wot_attach_persister(None)
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
        """Run blocking ``function`` on its Thing's property workers, keeping context variables.

        The Thing is the first argument or the bound method's owner (see ``_workers``).
        """
        return await self._workers.run(function, *args)

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
        """Validate a JSON ``value`` against the property's schema and write it.

        Observers then receive the value written, and a persisted one is saved.
        """
        prop = self.property_affordance(thing, name)
        if prop.read_only:
            raise NotAllowedError(f"property {name!r} is read-only", allowed=("GET", "HEAD"))
        prop.validate(value)
        await self._write_checked(thing, prop, value)

    async def _write_checked(self, thing: str, prop: PropertyAffordance[Any], value: Any) -> None:
        instance = self.thing(thing)
        python_value = prop.coerce(value)
        data = to_json(python_value)
        try:
            if prop.setter_function is not None and prop.is_async:
                await prop.setter_function(instance, python_value)
                if prop.observable:
                    instance._wot_property_changed(prop.name, data)
                if prop.persist:
                    await self.run_sync(self._persist, thing, "property", prop.name, data)
            else:
                await self.run_sync(prop.apply, instance, python_value, data)
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

        Writes then go one by one in the given order. When one fails (the instrument
        refuses it), the error says which were already applied (``applied``) and
        which were not written; those applied stay applied.
        """
        checked: list[PropertyAffordance[Any]] = []
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
            checked.append(prop)
        applied: list[str] = []
        for prop in checked:
            try:
                await self._write_checked(thing, prop, values[prop.name])
            except WotLabthingError as exc:
                rest = [other.name for other in checked if other.name not in applied]
                note = (
                    f"; already applied: {', '.join(applied) or 'none'}; "
                    f"not written: {', '.join(rest)}"
                )
                exc.args = (f"{exc}{note}", *exc.args[1:])
                exc.applied = applied  # type: ignore[attr-defined]
                raise
            applied.append(prop.name)

    # Actions ----------------------------------------------------------------

    def invoke_action(self, thing: str, name: str, input_value: Any = NO_INPUT) -> Invocation:
        """``invokeaction``: validate the input and start a tracked run of action ``name``.

        ``input_value`` is the JSON input, or :data:`NO_INPUT` (the default) when
        there is none, e.g. an empty request body: that is ``{}`` for an action with an
        input. ``None`` is JSON ``null``, which an action with an input refuses.

        Raises:
            NotFoundError: no such Thing or action.
            InputError: the input breaks the action's schema (nothing is recorded).
            BusyError: an exclusive action with ``busy="reject"`` finds the Thing busy.
        """
        affordance = self.action_affordance(thing, name)
        if input_value is NO_INPUT:
            input_value = {} if affordance.input_schema is not None else None
        return self.invocations.invoke(self.thing(thing), affordance, input_value)

    async def wait_for_invocation(
        self,
        invocation: Invocation,
        timeout: float | None,  # noqa: ASYNC109 - a protocol's window, kept past the wait
    ) -> bool:
        """Wait up to ``timeout`` seconds (None: forever) for a run to end; True if it did.

        A run seen ended here, by :meth:`query_action` or :meth:`list_invocations`
        counts as read: past ``action_max_records`` read records are evicted first.
        """
        ended = await self.invocations.wait(invocation, timeout)
        self.invocations.mark_read(invocation)
        return ended

    def query_action(self, invocation_id: str) -> Invocation:
        """``queryaction``: the run ``invocation_id`` (NotFoundError once unknown or expired)."""
        invocation = self.invocations.get(invocation_id)
        self.invocations.mark_read(invocation)
        return invocation

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
        runs = self.invocations.list(thing=thing, action=action, status=status)
        for run in runs:
            self.invocations.mark_read(run)
        return runs

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
        return self._subscribe_all_or_named(thing, "events", names, after, size)

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
        return self._subscribe_all_or_named(thing, "actions", names, None, size)

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

    def _subscribe_all_or_named(
        self,
        thing: str,
        table: Literal["events", "actions"],
        names: Iterable[str] | None,
        after: int | None,
        size: int | None,
    ) -> Subscription:
        """A subscription to every (``names`` None) or the named events or actions (``table``).

        Every name is checked first, so a typo is a :class:`NotFoundError`, not a
        subscription that never delivers.
        """
        kind = table.removesuffix("s")
        if names is None:
            if not getattr(self.thing(thing), table):
                raise NotFoundError(f"Thing {thing!r} has no {table}", kind=table)
            return self._subscribe(Topic.of(thing, kind), after, size)
        wanted = list(names)
        for name in wanted:
            self._affordance(thing, table, name)
        return self._subscribe(Topic.of(thing, kind, wanted), after, size)

    def _subscribe(self, topic: Topic, after: int | None, size: int | None) -> Subscription:
        limit = self.hub.queue_size if size is None else min(size, self.hub.queue_size)
        return self.hub.subscribe(topic, after=after, size=limit)

    # Changes ----------------------------------------------------------------

    def _on_change(self, thing: str, kind: str, name: str, value: Any) -> None:
        if kind == "property":
            self._last_values[(thing, name)] = value
        self.hub.publish(thing, kind, name, value)

    def _persist(self, thing: str, kind: str, name: str, value: Any) -> None:
        """Save a written persisted property (blocking; runs in the writer's thread)."""
        store = self._store
        if store is not None:
            try:
                store.save(thing, name, value)
            except OSError as exc:
                _log.warning("cannot save %s.%s to %s: %s", thing, name, store.path, exc)

    # Persisted settings -------------------------------------------------------

    @property
    def state_file(self) -> Path:
        """The file persisted settings are kept in."""
        directory = resolve_state_dir(self.settings.state_dir)
        return directory / f"{self.settings.state_name}.json"

    def _persisted(self, thing: Thing) -> list[PropertyAffordance[Any]]:
        return [prop for prop in thing.properties.values() if prop.persist]

    async def _restore(self, name: str, thing: Thing, saved: dict[str, Any], fields: bool) -> None:
        """Apply saved values: fields before ``open()``, setter forms after it."""
        for prop in self._persisted(thing):
            if prop.is_field != fields or prop.name not in saved:
                continue
            value = saved[prop.name]
            if not prop.validator or not prop.validator.is_valid(value):
                _log.warning(
                    "persisted %s.%s = %r no longer fits its schema; using the default",
                    name,
                    prop.name,
                    value,
                )
                continue
            python_value = prop.coerce(value)
            try:
                if prop.is_field:
                    thing.__dict__.setdefault("_wot_values", {})[prop.name] = python_value
                elif prop.is_async:
                    assert prop.setter_function is not None
                    await prop.setter_function(thing, python_value)
                else:
                    assert prop.setter_function is not None
                    await self.run_sync(prop.setter_function, thing, python_value)
            except WotLabthingError as exc:
                _log.warning("restoring %s.%s = %r failed: %s", name, prop.name, value, exc)

    # Polled observables -------------------------------------------------------

    async def _poll(self, thing: str, prop: PropertyAffordance[Any]) -> None:
        """Read ``prop`` every ``prop.poll`` seconds while observed; publish changes only."""
        assert prop.poll is not None
        key = (thing, prop.name)
        failing = False
        while True:
            await asyncio.sleep(prop.poll)
            if not self.hub.observers(thing, "property", prop.name):
                self._last_values.pop(key, None)  # a new observer gets the value at once
                continue
            try:
                value = await self.read_property(thing, prop.name)
            except WotLabthingError as exc:
                if not failing:
                    _log.warning("polling %s.%s failed: %s", thing, prop.name, exc)
                failing = True
                continue
            failing = False
            if key not in self._last_values or self._last_values[key] != value:
                self._on_change(thing, "property", prop.name, value)

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
        self._workers.reopen()
        self.hub.bind_loop(asyncio.get_running_loop())
        await self.run_sync(self.ids.open)
        self.invocations.start()
        saved: dict[str, dict[str, Any]] = {}
        if any(self._persisted(thing) for thing in self.things.values()):
            path = await self.run_sync(lambda: self.state_file)  # resolving touches the disk
            self._store = SettingsStore(path)
            saved = await self.run_sync(self._store.load)
        try:
            for name, thing in list(self.things.items()):
                self._opened.append(thing)
                await self._restore(name, thing, saved.get(name, {}), fields=True)
                try:
                    await self.run_sync(thing.open)
                except DisconnectedError as exc:
                    self._reachable(thing.thing_name, exc)
                await self._restore(name, thing, saved.get(name, {}), fields=False)
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
        self._pollers = [
            asyncio.get_running_loop().create_task(self._poll(name, prop))
            for name, thing in self.things.items()
            for prop in thing.properties.values()
            if prop.poll is not None
        ]
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
        for poller in self._pollers:
            poller.cancel()
        await asyncio.gather(*self._pollers, return_exceptions=True)
        self._pollers = []
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
        abandoned = self._workers.close()
        if abandoned:
            _log.warning(
                "%d property or close call(s) still running at shutdown (an instrument that never"
                " answers); their threads are abandoned",
                abandoned,
            )
        self.ids.close()

    async def _close_quietly(self, thing: Thing) -> None:
        """Close one Thing, waiting at most ``shutdown_grace`` (its port may be stuck).

        The close is not cancelled when the wait ends: it still runs (or starts, once
        a worker is free), so a slow instrument is closed after all if it can be.
        """
        closing = asyncio.ensure_future(self.run_sync(thing.close))
        try:
            await asyncio.wait_for(asyncio.shield(closing), self.settings.shutdown_grace)
        except TimeoutError:
            closing.add_done_callback(_retrieved)
            _log.warning(
                "closing Thing %r took over %.3g s; its thread is abandoned",
                thing.thing_name,
                self.settings.shutdown_grace,
            )
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


def _retrieved(task: asyncio.Future[Any]) -> None:
    """Log how an abandoned close ended (a failure must not go unretrieved)."""
    if not task.cancelled() and task.exception() is not None:
        _log.error("closing a Thing failed after shutdown", exc_info=task.exception())


async def _quietly(step: Awaitable[None], what: str) -> None:
    """Run one shutdown step; a failure is logged so the other steps still run."""
    try:
        await step
    except Exception:
        _log.exception("%s failed during shutdown", what)
