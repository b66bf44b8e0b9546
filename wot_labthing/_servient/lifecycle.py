"""The servient: the composition root, which starts and stops everything in one order.

:class:`Servient` puts together the registry (``registry.py``) and the
interaction API (``interactions.py``) with what it composes (see
``_lifecycle.py``): it starts its Things, bindings, advertisers and
registrars in that order and stops them in reverse through one shutdown path,
restores persisted settings around each Thing's ``open``, polls observable
properties that have no change notification, and reports readiness.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable
from pathlib import Path
from typing import Any

from .._affordances import PropertyAffordance
from .._errors import DisconnectedError, WotLabthingError
from .._ids import ServientIds
from .._lifecycle import Advertiser, Binding, Endpoint, FormContributor, Registrar
from .._settings_store import SettingsStore
from .._state import resolve_state_dir
from .._thing import Thing
from .interactions import Interactions
from .settings import ServientSettings

__all__ = ["Servient"]

_log = logging.getLogger(__name__)


class Servient(Interactions):
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
        self._started = False
        self._pollers: list[asyncio.Task[None]] = []
        #: Protocol bindings, advertisers and registrars, started in this order.
        self.bindings: list[Binding] = []
        self.advertisers: list[Advertiser] = []
        self.registrars: list[Registrar] = []
        self._opened: list[Thing] = []
        self._open_bindings: list[Binding] = []
        self._open_advertisers: list[Advertiser] = []
        self._open_registrars: list[Registrar] = []
        super().__init__(things, settings=settings, ids=ids)

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
