"""Property, action and event descriptors: metadata only, no protocol.

Each descriptor is declared in a :class:`~wot_labthing.Thing` subclass body. Its
JSON Schema is resolved from annotations when the class is created (see
``Thing.__init_subclass__``), so a missing or unsupported annotation fails at
definition time. From plain Python the descriptors behave like ordinary
attributes and methods: ``stage.position`` reads, ``stage.move(1)`` calls.
"""

from __future__ import annotations

import copy
import functools
import inspect
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, overload

from ._errors import DefinitionError, InputError, NotAllowedError
from ._schema import SchemaValidator, from_json, normalise_keywords, schema_for, to_json

if TYPE_CHECKING:
    from ._thing import Thing

__all__ = [
    "NO_INPUT",
    "ActionAffordance",
    "BoundEvent",
    "EventAffordance",
    "PropertyAffordance",
    "action",
    "event",
    "thing_property",
]

_MISSING: Any = object()


class _NoInput:
    """The input of an invocation whose request carried none (an empty body)."""

    def __repr__(self) -> str:
        return "NO_INPUT"


#: Passed by a binding when a request has no body: ``{}`` for an action with input.
NO_INPUT: Any = _NoInput()

#: The Python type of a property's value, for type checkers.
T = TypeVar("T")
V = TypeVar("V")
#: An action method, returned unchanged to type checkers.
F = TypeVar("F", bound=Callable[..., Any])


def _doc_summary(func: Callable[..., Any] | None) -> str | None:
    doc = inspect.getdoc(func) if func is not None else None
    return doc.strip() if doc else None


class Affordance:
    """What properties, actions and events share: a name, an owner and metadata."""

    kind: typing.ClassVar[str] = "affordance"

    def __init__(self, *, title: str | None, description: str | None) -> None:
        self.name = ""
        self.owner: type[Thing] | None = None
        self.title = title
        self.description = description

    def __set_name__(self, owner: type[Any], name: str) -> None:
        if self.name and self.owner is owner:
            return  # a second attribute (a setter under its own name) is only an alias
        self.name = name
        self.owner = owner

    @property
    def where(self) -> str:
        """``Class.name``, for error messages."""
        owner = self.owner.__name__ if self.owner else "?"
        return f"{owner}.{self.name}"

    def finalise(self, hints: dict[str, Any]) -> None:
        """Resolve annotations into schemas; called once when the owning class is created."""
        raise NotImplementedError


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
        #: Why ``thing.x = value`` is refused ("" if it is not); None: not decided yet.
        self._python_write_refusal: str | None = None

    def __call__(self, getter: Callable[[Any], V]) -> PropertyAffordance[V]:
        """Use ``@wl.property(observable=True)`` as a decorator on a getter."""
        if self.getter is not None or self.default is not _MISSING:
            raise DefinitionError("wl.property(...) used as a decorator twice or with a default")
        self.getter = getter
        self._python_write_refusal = None
        return typing.cast("PropertyAffordance[V]", self)

    def setter(self, function: Callable[[Any, T], Any]) -> PropertyAffordance[T]:
        """Declare the setter of a decorator-form property, like the builtin ``property``."""
        self.setter_function = function
        self._python_write_refusal = None
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
        refusal = self._python_write_refusal
        if refusal is None:  # the first write since the getter or setter was declared
            refusal = self._python_write_refusal = self._refuse_python_write()
        if refusal:
            raise NotAllowedError(refusal, allowed=("read",))
        data = self.check(value)
        self.apply(instance, self.coerce(data), data)

    def _refuse_python_write(self) -> str:
        """Why ``thing.x = value`` cannot write this property ("" when it can).

        Cached by ``__set__``: a driver may assign a value hundreds of times a
        second, and the answer only changes while the class is being defined.
        """
        if self.read_only:
            return f"{self.where} is read-only"
        if inspect.iscoroutinefunction(self.setter_function):
            return f"{self.where} has an async setter: write it through the servient"
        return ""

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


class ActionAffordance(Affordance):
    """An action: a method whose parameters form the input and whose return is the output."""

    kind = "action"

    def __init__(
        self,
        function: Callable[..., Any] | None = None,
        *,
        synchronous: bool = False,
        wait: float | None = None,
        timeout: float | None = None,
        exclusive: bool = False,
        busy: Literal["queue", "reject"] = "queue",
        retry_after: float = 1.0,
        safe: bool = False,
        idempotent: bool = False,
        content_type: str = "application/json",
        title: str | None = None,
        description: str | None = None,
    ) -> None:
        super().__init__(title=title, description=description)
        self.function = function
        self.synchronous = synchronous
        self.wait = wait
        self.timeout = timeout
        self.exclusive = exclusive
        if busy not in ("queue", "reject"):
            raise DefinitionError(f"busy must be 'queue' or 'reject', not {busy!r}")
        self.busy = busy
        self.retry_after = retry_after
        self.safe = safe
        self.idempotent = idempotent
        self.content_type = content_type
        self.parameters: dict[str, Any] = {}
        self.input_schema: dict[str, Any] | None = None
        self.output_hint: Any = None
        self.output_schema: dict[str, Any] | None = None
        self.input_validator: SchemaValidator | None = None
        self._signature: inspect.Signature | None = None

    def __call__(self, function: Callable[..., Any]) -> ActionAffordance:
        """Use ``@wl.action(...)`` with arguments as a decorator."""
        if self.function is not None:
            raise DefinitionError("wl.action(...) applied twice")
        self.function = function
        return self

    @property
    def is_async(self) -> bool:
        """True for ``async def`` actions (run on the event loop, not in a worker)."""
        return inspect.iscoroutinefunction(self.function)

    def finalise(self, hints: dict[str, Any]) -> None:
        """Build the input schema from the parameters and the output schema from the return."""
        if self.function is None:
            raise DefinitionError(f"{self.where}: wl.action must decorate a method")
        self.description = self.description or _doc_summary(self.function)
        signature = inspect.signature(self.function)
        function_hints = typing.get_type_hints(self.function, include_extras=True)
        properties: dict[str, Any] = {}
        required: list[str] = []
        for index, parameter in enumerate(signature.parameters.values()):
            if index == 0:
                continue  # self
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                raise DefinitionError(f"{self.where}: *args and **kwargs cannot form an input")
            if parameter.kind is parameter.POSITIONAL_ONLY:
                raise DefinitionError(f"{self.where}: parameters must be passable by name")
            if parameter.name not in function_hints:
                raise DefinitionError(f"{self.where}: annotate parameter {parameter.name!r}")
            hint = function_hints[parameter.name]
            self.parameters[parameter.name] = hint
            schema = schema_for(hint, where=f"{self.where}({parameter.name})")
            if parameter.default is parameter.empty:
                required.append(parameter.name)
            else:
                schema["default"] = to_json(parameter.default)
            properties[parameter.name] = schema
        if properties:
            # The TD states what is enforced: no argument the method does not take.
            self.input_schema = {
                "type": "object",
                "properties": properties,
                "additionalProperties": False,
            }
            if required:
                self.input_schema["required"] = required
            self.input_validator = SchemaValidator(self.input_schema)
        if "return" not in function_hints:
            raise DefinitionError(f"{self.where}: annotate the return type (-> None if none)")
        self.output_hint = function_hints["return"]
        if self.output_hint is not None and self.output_hint is not type(None):
            self.output_schema = schema_for(self.output_hint, where=f"{self.where} -> return")

    def parse_input(self, value: Any) -> dict[str, Any]:
        """Validate a JSON input and return the keyword arguments for the method.

        ``None`` is "no input" only for an action without input: where the TD says
        the input is an object, a JSON ``null`` is refused like any other non-object
        (the HTTP binding passes ``{}`` for an empty body).
        """
        if self.input_validator is None:
            if value not in (None, {}):
                raise InputError(f"action {self.name!r} takes no input", affordance=self.name)
            return {}
        self.input_validator.validate(value, affordance=self.name)
        return {key: from_json(self.parameters[key], item) for key, item in value.items()}

    def bind_arguments(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """A call from Python as a JSON input: positional arguments named, values as JSON."""
        assert self.function is not None
        if self._signature is None:
            self._signature = inspect.signature(self.function)
        try:
            bound = self._signature.bind(instance, *args, **kwargs)
        except TypeError as exc:
            raise InputError(f"{self.where}: {exc}", affordance=self.name) from None
        arguments = dict(bound.arguments)
        arguments.pop(next(iter(arguments)))  # self
        return {name: to_json(value) for name, value in arguments.items()}

    def __get__(self, instance: Any, owner: type[Any] | None = None) -> Any:
        if instance is None:
            return self
        function = self.function
        assert function is not None

        @functools.wraps(function)
        def checked(*args: Any, **kwargs: Any) -> Any:
            # A call from Python is validated exactly as an HTTP input would be, so a
            # limit (or NaN) cannot reach the instrument by going around the servient.
            arguments = self.parse_input(self.bind_arguments(instance, args, kwargs))
            return function(instance, **arguments)

        if self.is_async:
            return _mark_coroutine_function(checked)
        return checked


def _mark_coroutine_function(function: Callable[..., Any]) -> Callable[..., Any]:
    """Let ``inspect.iscoroutinefunction`` see through the validating wrapper (3.12+)."""
    mark = getattr(inspect, "markcoroutinefunction", None)
    return mark(function) if mark is not None else function


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


@overload
def action(function: F, /) -> F: ...


@overload
def action(function: None = None, /, **options: Any) -> Callable[[F], F]: ...


def action(function: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Declare an action: ``@wl.action`` or ``@wl.action(synchronous=True, timeout=10)``.

    Options: ``synchronous`` (False: answer 201 with an invocation record; True: answer
    with the output), ``wait`` (seconds a POST waits for a quick result, default 1),
    ``timeout`` (seconds before the run fails), ``exclusive`` (runs of exclusive actions
    of one Thing never overlap), ``busy`` (``"queue"``: an exclusive run waits for the
    Thing, ``"reject"``: it is refused with 503 and ``Retry-After: retry_after``),
    ``safe``, ``idempotent``, ``content_type`` of the output,
    ``title``, ``description``.

    Type checkers see the decorated method unchanged.
    """
    if function is not None:
        return ActionAffordance(function, **options)
    return ActionAffordance(**options)


def event(**options: Any) -> Any:
    """Declare an event: ``overheated = wl.event(data=float, description=...)``."""
    return EventAffordance(**options)
