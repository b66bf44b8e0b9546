"""The registry of exposed Things and the state every part of the servient shares.

:class:`ThingRegistry` is the base the servient is built from: it owns the
settings, the Things by name, the event hub, the invocation manager and the
property workers, looks Things and affordances up (a :class:`NotFoundError`
for an unknown name), runs blocking calls on the workers, and receives the
Things' change notifications (published on the hub, persisted when asked).
The interaction API (``interactions.py``) and the lifecycle (``lifecycle.py``)
build on it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from .._affordances import ActionAffordance, EventAffordance, PropertyAffordance
from .._errors import ConfigError, DisconnectedError, NotFoundError
from .._events import EventHub
from .._ids import ServientIds
from .._invocations import InvocationManager
from .._settings_store import SettingsStore
from .._thing import Thing
from .._workers import PropertyWorkers
from .settings import ServientSettings, _configured_state_dir

__all__ = ["ThingRegistry"]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")


class ThingRegistry:
    """Exposed Things by name, with the hub, invocation manager and workers they share."""

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
        self._listeners: list[Callable[[str, Thing | None], Any]] = []
        self._store: SettingsStore | None = None
        #: The last value published per (thing, property), so a poll publishes changes only.
        self._last_values: dict[tuple[str, str], Any] = {}
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

    # Blocking calls ---------------------------------------------------------

    async def run_sync(self, function: Callable[..., _T], *args: Any) -> _T:
        """Run blocking ``function`` on its Thing's property workers, keeping context variables.

        The Thing is the first argument or the bound method's owner (see ``_workers``).
        """
        return await self._workers.run(function, *args)

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

    # Reachability -----------------------------------------------------------

    def _reachable(self, thing: str, exc: BaseException | None) -> None:
        if isinstance(exc, DisconnectedError):
            if thing not in self._unreachable:
                _log.warning("Thing %r is unreachable: %s", thing, exc)
            self._unreachable[thing] = str(exc)
        elif exc is None:
            self._unreachable.pop(thing, None)
