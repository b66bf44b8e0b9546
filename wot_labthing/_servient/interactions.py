"""Every WoT operation on the exposed Things, protocol-neutrally.

Protocol bindings (``_http``, ``_mqtt``) translate requests into the calls
here, which cover every WoT operation (read/write one, all or several
properties; invoke, query, cancel and list runs; observe properties; subscribe
to events and to one run's updates) and name nothing of any protocol: records
carry ids, and the binding adds its own links. Bindings never reach the event
hub or the invocation manager directly (``tests/http/test_layering.py``).

Sync getters and setters run in a bounded worker pool so blocking instrument
I/O never runs on the event loop; ``async def`` ones run on the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, Literal

from .._affordances import NO_INPUT, PropertyAffordance
from .._errors import (
    DisconnectedError,
    InputError,
    NotAllowedError,
    NotFoundError,
    WotLabthingError,
)
from .._events import Message, Subscription, Topic
from .._invocations import FINISHED, Invocation
from .._schema import to_json
from .registry import ThingRegistry

__all__ = ["Interactions"]


class Interactions(ThingRegistry):
    """The protocol-neutral interaction API: properties, actions, observation."""

    # Properties -------------------------------------------------------------

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
