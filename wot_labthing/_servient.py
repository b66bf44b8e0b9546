"""The servient: a registry of exposed Things and their protocol-neutral interaction API.

Protocol bindings (``_http``) translate requests into the coroutines here:
read and write properties, invoke actions, subscribe to changes. Sync getters
and setters run in a bounded worker pool so blocking instrument I/O never runs
on the event loop; ``async def`` ones run on the loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ._affordances import NO_INPUT, ActionAffordance, EventAffordance, PropertyAffordance
from ._errors import ConfigError, NotAllowedError, NotFoundError, WotLabthingError
from ._events import EventHub
from ._invocations import Invocation, InvocationManager
from ._schema import to_json
from ._settings_store import SettingsStore
from ._state import resolve_state_dir
from ._thing import Thing

__all__ = ["NO_INPUT", "Servient", "ServientSettings"]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")


@dataclass
class ServientSettings:
    """Tunables of a servient; every field can be set in the config's ``[servient]`` table."""

    #: Worker threads for sync property getters and setters.
    property_workers: int = 8
    #: Worker threads for sync actions; a run waiting for one is ``pending``.
    action_workers: int = 8
    #: Seconds a POST on an asynchronous action waits for a quick result.
    action_wait: float = 1.0
    #: Seconds finished invocation records are kept.
    action_retention: float = 300.0
    #: Finished invocation records kept at most (oldest expire first).
    action_max_records: int = 1000
    #: Seconds shutdown waits for cancelled actions to end.
    shutdown_grace: float = 5.0
    #: Largest request body accepted, in bytes.
    max_body_bytes: int = 1024 * 1024
    #: Most concurrent observers (SSE and long-poll) before 503.
    max_subscribers: int = 2000
    #: Directory of persisted settings (None: the user state directory, see _state.py).
    state_dir: str | None = None
    #: Name of this servient's settings file in ``state_dir`` (``<state_name>.json``);
    #: ``serve`` uses the config file's name.
    state_name: str = "servient"


class Servient:
    """Exposes Things: owns their lifecycle, worker pools and the event hub.

    Use it as an async context manager or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self, things: Iterable[Thing] = (), *, settings: ServientSettings | None = None
    ) -> None:
        self.settings = settings or ServientSettings()
        self.things: dict[str, Thing] = {}
        self.hub = EventHub(max_subscribers=self.settings.max_subscribers)
        self.invocations = InvocationManager(self.settings, self.hub)
        self._property_pool = self._new_pool()
        self._started = False
        self._pool_closed = False
        self._listeners: list[Callable[[str, Thing | None], Any]] = []
        self._store: SettingsStore | None = None
        self._pollers: list[asyncio.Task[None]] = []
        #: The last value published per (thing, property), so a poll publishes changes only.
        self._last_values: dict[tuple[str, str], Any] = {}
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

    def thing(self, name: str) -> Thing:
        """The exposed Thing ``name``, or :class:`NotFoundError`."""
        try:
            return self.things[name]
        except KeyError:
            raise NotFoundError(f"no Thing named {name!r}", kind="thing", name=name) from None

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
        if prop.getter is not None and prop.is_async:
            value = await prop.getter(instance)
        elif prop.getter is not None:
            value = await self.run_sync(prop.getter, instance)
        else:
            value = prop.__get__(instance)
        return to_json(value)

    async def write_property(self, thing: str, name: str, value: Any) -> None:
        """Validate a JSON ``value`` against the property's schema and write it.

        Observers then receive the value written, and a persisted one is saved.
        """
        prop = self.property_affordance(thing, name)
        if prop.read_only:
            raise NotAllowedError(f"property {name!r} is read-only", allowed=("GET",))
        prop.validate(value)
        await self._write_checked(thing, prop, value)

    async def _write_checked(self, thing: str, prop: PropertyAffordance[Any], value: Any) -> None:
        instance = self.thing(thing)
        python_value = prop.coerce(value)
        data = to_json(python_value)
        if prop.setter_function is not None and prop.is_async:
            await prop.setter_function(instance, python_value)
            if prop.observable:
                instance._wot_property_changed(prop.name, data)
            if prop.persist:
                await self.run_sync(self._persist, thing, "property", prop.name, data)
        else:
            await self.run_sync(prop.apply, instance, python_value, data)

    async def read_all_properties(self, thing: str) -> dict[str, Any]:
        """Every readable property of ``thing``, read concurrently."""
        names = [name for name, prop in self.thing(thing).properties.items() if not prop.write_only]
        values = await asyncio.gather(*(self.read_property(thing, name) for name in names))
        return dict(zip(names, values, strict=True))

    async def write_properties(self, thing: str, values: dict[str, Any]) -> None:
        """Write several properties; all are validated before any is written.

        Writes then go one by one in the given order. When one fails (the instrument
        refuses it), the error says which were already applied (``applied``) and
        which were not written; those applied stay applied.
        """
        checked: list[PropertyAffordance[Any]] = []
        for name, value in values.items():
            prop = self.property_affordance(thing, name)
            if prop.read_only:
                raise NotAllowedError(f"property {name!r} is read-only", allowed=("GET",))
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

    def invoke_action(self, thing: str, name: str, input_value: Any) -> Invocation:
        """Validate the input and start a tracked run of action ``name`` (see InvocationManager).

        ``input_value`` is the JSON input, or :data:`NO_INPUT` when the request
        carried none (an empty body): that is ``{}`` for an action with an input.
        """
        affordance = self.action_affordance(thing, name)
        if input_value is NO_INPUT:
            input_value = {} if affordance.input_schema is not None else None
        return self.invocations.invoke(self.thing(thing), affordance, input_value)

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

    # Lifecycle --------------------------------------------------------------

    async def start(self) -> None:
        """Bind the event hub to the running loop and open every Thing (in worker threads)."""
        if self._started:
            return
        if self._pool_closed:
            self._property_pool = self._new_pool()
            self._pool_closed = False
        self.hub.bind_loop(asyncio.get_running_loop())
        self.invocations.start()
        saved: dict[str, dict[str, Any]] = {}
        if any(self._persisted(thing) for thing in self.things.values()):
            self._store = SettingsStore(self.state_file)
            saved = await self.run_sync(self._store.load)
        opened: list[Thing] = []
        try:
            for name, thing in self.things.items():
                await self._restore(name, thing, saved.get(name, {}), fields=True)
                await self.run_sync(thing.open)
                opened.append(thing)
                await self._restore(name, thing, saved.get(name, {}), fields=False)
        except BaseException:
            for thing in reversed(opened):
                await self._close_quietly(thing)
            raise
        self._pollers = [
            asyncio.get_running_loop().create_task(self._poll(name, prop))
            for name, thing in self.things.items()
            for prop in thing.properties.values()
            if prop.poll is not None
        ]
        self._started = True

    async def stop(self) -> None:
        """Cancel running actions, close event streams and every Thing; idempotent."""
        if not self._started:
            return
        self._started = False
        for poller in self._pollers:
            poller.cancel()
        await asyncio.gather(*self._pollers, return_exceptions=True)
        self._pollers = []
        await self.invocations.shutdown()
        await self.hub.close()
        for thing in reversed(list(self.things.values())):
            await self._close_quietly(thing)
        self._property_pool.shutdown(wait=False, cancel_futures=True)
        self._pool_closed = True

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
