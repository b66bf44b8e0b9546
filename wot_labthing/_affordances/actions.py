"""Actions: a method whose parameters form the input and whose return is the output."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any, Literal, overload

from .._errors import DefinitionError, InputError
from .._schema import SchemaValidator, from_json, schema_for, to_json
from .base import Affordance, F, _doc_summary

__all__ = ["ActionAffordance", "action"]


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
