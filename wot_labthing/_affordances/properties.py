"""Properties: a stored field or a getter (and setter), validated like a client's write."""

from __future__ import annotations

import copy
import inspect
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, overload

from .._errors import DefinitionError, InputError, NotAllowedError
from .._schema import SchemaValidator, from_json, normalise_keywords, schema_for, to_json
from .base import _MISSING, Affordance, T, V, _doc_summary

if TYPE_CHECKING:
    from .._thing import Thing


__all__ = ["PropertyAffordance", "thing_property"]


class PropertyAffordance(Affordance, Generic[T]):
    """A property: a stored field with a default, or a getter (and optional setter).

    Generic in the value type, so that type checkers see ``stage.position`` as the
    getter's return type.
    """

    kind = "property"

    def __init__(
        self,
        getter: Callable[[Any], Any] | None = None,
        *,
        default: Any = _MISSING,
        observable: bool | None = None,
        poll: float | None = None,
        persist: bool = False,
        title: str | None = None,
        description: str | None = None,
        **keywords: Any,
    ) -> None:
        super().__init__(title=title, description=description)
        self.getter = getter
        self.setter_function: Callable[[Any, Any], Any] | None = None
        self.default = default
        if poll is not None and not (isinstance(poll, (int, float)) and poll > 0):
            raise DefinitionError(f"poll must be a positive number of seconds, not {poll!r}")
        if poll is not None and observable is False:
            raise DefinitionError("poll= needs an observable property; drop observable=False")
        #: None until finalise: then writable properties default to observable.
        self._observable = observable
        #: Seconds between reads of the getter while someone observes it (None: no polling).
        self.poll = float(poll) if poll is not None else None
        #: Saved on every write and restored when a servient starts.
        self.persist = persist
        self.keywords = normalise_keywords("property", keywords)
        self.hint: Any = None
        self.schema: dict[str, Any] = {}
        self.validator: SchemaValidator | None = None

    def __call__(self, getter: Callable[[Any], V]) -> PropertyAffordance[V]:
        """Use ``@wl.property(observable=True)`` as a decorator on a getter."""
        if self.getter is not None or self.default is not _MISSING:
            raise DefinitionError("wl.property(...) used as a decorator twice or with a default")
        self.getter = getter
        return typing.cast("PropertyAffordance[V]", self)

    def setter(self, function: Callable[[Any, T], Any]) -> PropertyAffordance[T]:
        """Declare the setter of a decorator-form property, like the builtin ``property``."""
        self.setter_function = function
        return self

    @property
    def observable(self) -> bool:
        """True when clients may observe it: asked for, polled, or (by default) writable."""
        if self._observable is not None:
            return self._observable
        return self.poll is not None or not (self.read_only or self.write_only)

    @observable.setter
    def observable(self, value: bool) -> None:
        self._observable = value

    @property
    def is_field(self) -> bool:
        """True for the field form (a stored value with a default)."""
        return self.getter is None

    @property
    def read_only(self) -> bool:
        """True when no client may write this property."""
        if self.keywords.get("readOnly"):
            return True
        return not self.is_field and self.setter_function is None

    @property
    def write_only(self) -> bool:
        """True when no client may read this property."""
        return bool(self.keywords.get("writeOnly"))

    @property
    def is_async(self) -> bool:
        """True when the getter or setter is a coroutine function (runs on the event loop)."""
        return inspect.iscoroutinefunction(self.getter) or inspect.iscoroutinefunction(
            self.setter_function
        )

    def finalise(self, hints: dict[str, Any]) -> None:
        """Resolve the type from the class annotation (field) or the getter's return type."""
        if self.is_field:
            if self.name not in hints:
                raise DefinitionError(f"{self.where}: annotate the field, e.g. `x: float = ...`")
            if self.default is _MISSING:
                raise DefinitionError(f"{self.where}: a field property needs default=")
            self.hint = hints[self.name]
        else:
            getter_hints = typing.get_type_hints(self.getter, include_extras=True)
            if "return" not in getter_hints:
                raise DefinitionError(f"{self.where}: annotate the getter's return type")
            self.hint = getter_hints["return"]
            self.description = self.description or _doc_summary(self.getter)
        schema = schema_for(self.hint, where=self.where)
        schema.update(self.keywords)
        schema.pop("readOnly", None)
        schema.pop("writeOnly", None)
        self.schema = schema
        self.validator = SchemaValidator(schema)
        if self.is_field:
            try:
                self.validate(to_json(self.default))
            except InputError as exc:
                raise DefinitionError(
                    f"{self.where}: the default {self.default!r} breaks the property's own "
                    f"schema: {exc}"
                ) from None
        if self.persist and self.read_only:
            raise DefinitionError(f"{self.where}: persist=True needs a writable property")
        if self.poll is not None and self.is_field:
            raise DefinitionError(f"{self.where}: poll= needs a getter (a field changes by writes)")

    def validate(self, value: Any) -> None:
        """Raise :class:`InputError` if the JSON ``value`` breaks the schema."""
        assert self.validator is not None
        self.validator.validate(value, affordance=self.name)

    def coerce(self, value: Any) -> Any:
        """Convert a validated JSON value into the annotated Python type."""
        return from_json(self.hint, value)

    # Plain-Python access -------------------------------------------------

    @overload
    def __get__(self, instance: None, owner: type[Any] | None = None) -> PropertyAffordance[T]: ...

    @overload
    def __get__(self, instance: Thing, owner: type[Any] | None = None) -> T: ...

    def __get__(self, instance: Thing | None, owner: type[Any] | None = None) -> Any:
        if instance is None:
            return self
        if self.getter is not None:
            return self.getter(instance)
        values = instance.__dict__.setdefault("_wot_values", {})
        if self.name not in values:
            values[self.name] = copy.deepcopy(self.default)
        return values[self.name]

    def __set__(self, instance: Thing, value: T) -> None:
        """``thing.x = value`` from Python: validated exactly like a write over HTTP."""
        if self.read_only:
            raise NotAllowedError(f"{self.where} is read-only", allowed=("read",))
        if inspect.iscoroutinefunction(self.setter_function):
            raise NotAllowedError(
                f"{self.where} has an async setter: write it through the servient",
                allowed=("read",),
            )
        data = self.check(value)
        self.apply(instance, self.coerce(data), data)

    def check(self, value: Any) -> Any:
        """Validate a Python value as a write; return its JSON form.

        Raises:
            InputError: the value is not JSON (NaN included) or breaks the schema.
        """
        data = to_json(value)
        self.validate(data)
        return data

    def apply(self, instance: Thing, value: Any, data: Any) -> None:
        """Store or set an already validated value, then publish and persist it.

        ``value`` is the Python value, ``data`` its JSON form. Async setters are
        applied by the servient, which awaits them; this calls sync ones only.
        """
        if self.is_field:
            instance.__dict__.setdefault("_wot_values", {})[self.name] = value
        else:
            assert self.setter_function is not None
            self.setter_function(instance, value)
        self.written(instance, data)

    def written(self, instance: Thing, data: Any) -> None:
        """After a write: tell observers and save a persisted value."""
        if self.observable:
            instance._wot_json_changed(self.name, data)
        if self.persist:
            instance._wot_persist(self.name, data)


@overload
def thing_property(getter: Callable[[Any], T], /) -> PropertyAffordance[T]: ...


@overload
def thing_property(*, default: T, **options: Any) -> T: ...


@overload
def thing_property(**options: Any) -> PropertyAffordance[Any]: ...


def thing_property(getter: Callable[[Any], Any] | None = None, /, **options: Any) -> Any:
    """Declare a property, as a field (``x: float = property(default=1.0)``) or a getter.

    Forms:
        ``x: float = wl.property(default=0.0, minimum=0, unit="mm")``
        ``@wl.property`` / ``@wl.property(observable=True)`` on a getter, with
        ``@x.setter`` for a writable one.

    For type checkers the field form is its default's type (like
    :func:`dataclasses.field`) and the decorator form a descriptor of the getter's
    return type. mypy accepts a setter that reuses the getter's name only for the
    builtin ``property``, so give the setter its own name (``@x.setter`` on
    ``def _set_x``): the property keeps the getter's name and stays typed.

    Keyword arguments are JSON Schema and TD terms: ``minimum``, ``maximum``, ``enum``,
    ``unit``, ``read_only``/``readOnly``, ``write_only``, ``observable``, ``title``,
    ``description`` and the other DataSchema constraints, plus:

    - ``observable``: default True for writable properties (every write is published),
      False for read-only ones; pass it to opt in or out.
    - ``poll=SECONDS`` (getter form): while someone observes the property, the servient
      reads it every ``SECONDS`` and publishes the value when it changed.
    - ``persist=True``: every write is saved in the servient's state file and restored
      at the next start (before ``open()`` for fields, right after it for setters).

    Every write, from Python or a client, is validated against the schema first.
    """
    if getter is not None:
        return PropertyAffordance(getter, **options)
    return PropertyAffordance(**options)
