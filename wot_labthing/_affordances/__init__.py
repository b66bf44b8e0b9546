"""Property, action and event descriptors: metadata only, no protocol.

Each descriptor is declared in a :class:`~wot_labthing.Thing` subclass body. Its
JSON Schema is resolved from annotations when the class is created (see
``Thing.__init_subclass__``), so a missing or unsupported annotation fails at
definition time. From plain Python the descriptors behave like ordinary
attributes and methods: ``stage.position`` reads, ``stage.move(1)`` calls.
"""

from __future__ import annotations

from .actions import ActionAffordance, action
from .base import NO_INPUT, Affordance
from .events import BoundEvent, EventAffordance, event
from .properties import PropertyAffordance, thing_property

__all__ = [
    "NO_INPUT",
    "ActionAffordance",
    "Affordance",
    "BoundEvent",
    "EventAffordance",
    "PropertyAffordance",
    "action",
    "event",
    "thing_property",
]
