"""What every descriptor shares: its name, title and description, and the type variables."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .._thing import Thing


__all__ = ["NO_INPUT", "Affordance"]

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
