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
from typing import Any, TypeVar

from ._affordances import ActionAffordance, EventAffordance, PropertyAffordance
from ._errors import ConfigError, NotAllowedError, NotFoundError
from ._events import EventHub
from ._invocations import Invocation, InvocationManager
from ._schema import to_json
from ._thing import Thing

__all__ = ["Servient", "ServientSettings"]

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
    #: Show exception details (tracebacks, device paths) to clients; for development only.
    debug: bool = False


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
        """Validate a JSON ``value`` against the property's schema and write it."""
        prop = self.property_affordance(thing, name)
        if prop.read_only:
            raise NotAllowedError(f"property {name!r} is read-only", allowed=("GET",))
        prop.validate(value)
        instance = self.thing(thing)
        python_value = prop.coerce(value)
        if prop.setter_function is not None and prop.is_async:
            await prop.setter_function(instance, python_value)
            if prop.observable:
                instance._wot_property_changed(name, python_value)
        else:
            await self.run_sync(prop.__set__, instance, python_value)

    async def read_all_properties(self, thing: str) -> dict[str, Any]:
        """Every readable property of ``thing``, read concurrently."""
        names = [name for name, prop in self.thing(thing).properties.items() if not prop.write_only]
        values = await asyncio.gather(*(self.read_property(thing, name) for name in names))
        return dict(zip(names, values, strict=True))

    async def write_properties(self, thing: str, values: dict[str, Any]) -> None:
        """Write several properties; all are validated before any is written."""
        for name, value in values.items():
            prop = self.property_affordance(thing, name)
            if prop.read_only:
                raise NotAllowedError(f"property {name!r} is read-only", allowed=("GET",))
            prop.validate(value)
        for name, value in values.items():
            await self.write_property(thing, name, value)

    # Actions ----------------------------------------------------------------

    def invoke_action(self, thing: str, name: str, input_value: Any) -> Invocation:
        """Validate the input and start a tracked run of action ``name`` (see InvocationManager)."""
        affordance = self.action_affordance(thing, name)
        return self.invocations.invoke(self.thing(thing), affordance, input_value)

    # Changes ----------------------------------------------------------------

    def _on_change(self, thing: str, kind: str, name: str, value: Any) -> None:
        self.hub.publish(thing, kind, name, value)

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
        opened: list[Thing] = []
        try:
            for thing in self.things.values():
                await self.run_sync(thing.open)
                opened.append(thing)
        except BaseException:
            for thing in reversed(opened):
                await self._close_quietly(thing)
            raise
        self._started = True

    async def stop(self) -> None:
        """Cancel running actions, close event streams and every Thing; idempotent."""
        if not self._started:
            return
        self._started = False
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
