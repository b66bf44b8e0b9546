"""Events: a declared payload schema, and the bound form a Thing emits through."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._errors import InputError
from .._schema import SchemaValidator, normalise_keywords, schema_for, to_json
from .base import Affordance

if TYPE_CHECKING:
    from .._thing import Thing


__all__ = ["BoundEvent", "EventAffordance", "event"]


class BoundEvent:
    """An event of one Thing instance: call :meth:`emit` to publish a payload."""

    def __init__(self, affordance: EventAffordance, thing: Thing) -> None:
        self.affordance = affordance
        self.thing = thing

    def emit(self, data: Any = None) -> None:
        """Validate ``data`` against the event's schema and publish it (thread-safe)."""
        payload = to_json(data)
        self.affordance.validate(payload)
        self.thing._wot_event(self.affordance.name, payload)


class EventAffordance(Affordance):
    """An event with an optional data schema given by ``data=`` (a type hint)."""

    kind = "event"

    def __init__(
        self,
        *,
        data: Any = None,
        title: str | None = None,
        description: str | None = None,
        **keywords: Any,
    ) -> None:
        super().__init__(title=title, description=description)
        self.data_hint = data
        self.keywords = normalise_keywords("event", keywords)
        self.data_schema: dict[str, Any] | None = None
        self.validator: SchemaValidator | None = None

    def finalise(self, hints: dict[str, Any]) -> None:
        """Build the data schema from ``data=``."""
        if self.data_hint is not None:
            self.data_schema = schema_for(self.data_hint, where=self.where)
            self.data_schema.update(self.keywords)
            self.validator = SchemaValidator(self.data_schema)

    def validate(self, payload: Any) -> None:
        """Raise :class:`InputError` if ``payload`` breaks the data schema."""
        if self.validator is None:
            if payload is not None:
                raise InputError(f"event {self.where} carries no data", affordance=self.name)
            return
        self.validator.validate(payload, affordance=self.name)

    def __get__(self, instance: Thing | None, owner: type[Any] | None = None) -> Any:
        if instance is None:
            return self
        return BoundEvent(self, instance)


def event(**options: Any) -> Any:
    """Declare an event: ``overheated = wl.event(data=float, description=...)``."""
    return EventAffordance(**options)
