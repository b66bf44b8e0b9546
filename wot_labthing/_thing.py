"""The :class:`Thing` base class: collects affordances and reports changes.

A subclass body declares properties, actions and events; ``__init_subclass__``
resolves their annotations into JSON Schemas at class-definition time. An
instance is usable from plain Python with no servient; once a servient exposes
it, the servient installs a listener that receives property changes and events
from any thread.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from typing import Any, ClassVar

from ._affordances import (
    ActionAffordance,
    Affordance,
    EventAffordance,
    PropertyAffordance,
)
from ._errors import DefinitionError, NotFoundError

__all__ = ["ChangeListener", "Thing", "describe_only"]

#: Receives ``(kind, affordance name, JSON value)`` with kind ``"property"`` or ``"event"``.
ChangeListener = Callable[[str, str, Any], None]

_MISSING: Any = object()
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.~-]*$")


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def check_name(name: str, what: str) -> str:
    """Names become URL path segments: letters, digits, ``_ . ~ -`` only."""
    if not _NAME_PATTERN.match(name):
        raise DefinitionError(f"{what} {name!r} must match {_NAME_PATTERN.pattern}")
    return name


def _check_not_reserved(cls: type[Thing], name: str, affordance: Affordance) -> None:
    """An affordance may not hide what a base class uses (``open``, ``close``, ``thing_name``).

    Hiding ``open`` with an action, say, would pass class creation and then break
    the servient at start; here it fails at once with the offending base named.
    """
    if name.startswith("_wot"):
        raise DefinitionError(f"{cls.__qualname__}.{name}: names starting with _wot are reserved")
    for base in cls.__mro__[1:]:
        if name in vars(base) and not isinstance(vars(base)[name], Affordance):
            raise DefinitionError(
                f"{cls.__qualname__}: the {affordance.kind} {name!r} would hide "
                f"{base.__qualname__}.{name}, which the class needs; choose another name "
                f"(names a Thing reserves: {', '.join(RESERVED_NAMES)}, and the base classes' "
                "own attributes)"
            )


#: Google-style docstring sections about the constructor or attributes, never in a TD.
_HIDDEN_SECTIONS = re.compile(
    r"^(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|Attributes|Other Parameters"
    r"|Raises|Example|Examples):\s*$"
)


def describe_class(cls: type) -> str | None:
    """A class docstring as a TD description: summary and body, no Args:/Attributes:.

    Paragraphs stay apart (a blank line); the lines inside one are joined. A
    section such as "Args:" runs until the next line that is not indented.
    """
    doc = cls.__doc__
    if not doc:
        return None
    lines = inspect.cleandoc(doc).splitlines()
    kept: list[str] = []
    hiding = False
    for line in lines:
        if _HIDDEN_SECTIONS.match(line.strip()) and not line.startswith((" ", "\t")):
            hiding = True
            continue
        if hiding and (not line.strip() or line.startswith((" ", "\t"))):
            continue
        hiding = False
        kept.append(line)
    paragraphs = [" ".join(part.split()) for part in "\n".join(kept).split("\n\n")]
    text = "\n\n".join(paragraph for paragraph in paragraphs if paragraph)
    return text or None


class Thing:
    """Base class of every instrument exposed by wot-labthing.

    Subclasses declare affordances with :func:`wot_labthing.property`,
    :func:`wot_labthing.action` and :func:`wot_labthing.event`. The class
    docstring becomes the TD ``description``.

    Args:
        name: URL-safe name of this instance (defaults to the class name in snake_case).
        title: human-readable title (defaults to the class name).
        description: overrides the class docstring.
        id: the TD ``id`` (a URI such as ``urn:uuid:...``); by default the servient
            derives a stable one from the host and the name.
    """

    properties: ClassVar[dict[str, PropertyAffordance[Any]]] = {}
    actions: ClassVar[dict[str, ActionAffordance]] = {}
    events: ClassVar[dict[str, EventAffordance]] = {}

    _name: str | None = None
    _title: str | None = None
    _description: str | None = None
    _id: str | None = None
    _listener: ChangeListener | None = None
    _persister: ChangeListener | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        try:
            hints = typing.get_type_hints(cls, include_extras=True)
        except (NameError, TypeError) as exc:
            raise DefinitionError(f"{cls.__qualname__}: cannot resolve annotations: {exc}") from exc
        collected: dict[str, dict[str, Any]] = {"property": {}, "action": {}, "event": {}}
        for base in reversed(cls.__mro__):
            for name, value in vars(base).items():
                if isinstance(value, Affordance) and value.name == name:
                    for table in collected.values():
                        table.pop(name, None)
                    collected[value.kind][name] = value
        for name, value in vars(cls).items():
            if isinstance(value, Affordance) and value.name == name:
                check_name(name, f"{cls.__qualname__}: affordance")
                _check_not_reserved(cls, name, value)
                value.finalise(hints)
        cls.properties = collected["property"]
        cls.actions = collected["action"]
        cls.events = collected["event"]

    def __init__(
        self,
        *,
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        id: str | None = None,
    ) -> None:
        if name is not None:
            self._name = check_name(name, "Thing name")
        self._title = title
        self._description = description
        self._id = id

    # Identity -------------------------------------------------------------

    @property
    def thing_name(self) -> str:
        """URL-safe name of this instance."""
        return self._name or _snake_case(type(self).__name__)

    @property
    def thing_title(self) -> str:
        """Human-readable title, used in the TD and in discovery."""
        return self._title or type(self).__name__

    @property
    def thing_description(self) -> str | None:
        """The TD description: ``description=`` or the class docstring."""
        if self._description:
            return self._description
        return describe_class(type(self))

    @property
    def thing_id(self) -> str | None:
        """The configured TD ``id``, or None to let the servient derive a stable one."""
        return self._id

    # Lifecycle hooks --------------------------------------------------------

    def open(self) -> None:
        """Connect to the instrument; the servient calls it in a worker thread at start."""

    def close(self) -> None:
        """Release the instrument; called at stop in a worker thread. Must be idempotent."""

    # Change notification ----------------------------------------------------

    def notify_property_changed(self, name: str, value: Any = _MISSING) -> None:
        """Tell observers that property ``name`` changed (for values that change on their own).

        Without ``value`` the property is read again (in the calling thread). Safe to
        call from any thread; does nothing when no servient exposes this Thing.
        """
        affordance = self.properties.get(name)
        if affordance is None:
            raise NotFoundError(f"{type(self).__name__} has no property {name!r}", kind="property")
        if value is _MISSING:
            value = getattr(self, name)
        self._wot_property_changed(name, value)

    def emit_event(self, name: str, data: Any = None) -> None:
        """Emit event ``name`` with ``data`` (validated against its schema); thread-safe."""
        affordance = self.events.get(name)
        if affordance is None:
            raise NotFoundError(f"{type(self).__name__} has no event {name!r}", kind="event")
        affordance.__get__(self).emit(data)

    def _wot_property_changed(self, name: str, value: Any) -> None:
        if self._listener is not None:
            from ._schema import to_json

            self._wot_json_changed(name, to_json(value))

    def _wot_json_changed(self, name: str, data: Any) -> None:
        """Like ``_wot_property_changed`` for a value already in its JSON form (a write)."""
        listener = self._listener
        if listener is not None:
            listener("property", name, data)

    def _wot_persist(self, name: str, value: Any) -> None:
        persister = self._persister
        if persister is not None:
            persister("property", name, value)

    def _wot_event(self, name: str, payload: Any) -> None:
        listener = self._listener
        if listener is not None:
            listener("event", name, payload)

    def _wot_attach(self, listener: ChangeListener | None) -> None:
        """Install (or with None remove) the servient's change listener."""
        self._listener = listener

    def _wot_attach_persister(self, persister: ChangeListener | None) -> None:
        """Install (or with None remove) what saves persisted properties on every write."""
        self._persister = persister


def describe_only(cls: type[Thing]) -> Thing:
    """An instance of ``cls`` good for its TD only: the constructor is not run.

    A TD depends on the class (affordances, docstring), not on an instrument, so
    ``wot-labthing td`` needs neither constructor arguments nor the device. Such an
    instance must not be exposed or used for anything but describing the class.
    """
    thing = cls.__new__(cls)
    Thing.__init__(thing)
    return thing


#: Names every Thing uses itself; no affordance may take them.
RESERVED_NAMES = tuple(sorted(name for name in vars(Thing) if not name.startswith("_")))
