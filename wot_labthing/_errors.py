"""The one exception tree of wot-labthing.

Every error the library raises on purpose derives from :class:`WotLabthingError`.
Errors carry fields (thing, affordance, invocation id, JSON pointer, port) so
that callers can react without parsing messages. Each class also carries, as
the one table of what it means to a client, its RFC 9457 problem slug
(``problem_slug``, the tail of the problem ``type`` URI), ``problem_title``
and ``http_status``; ``_problems.py`` builds problem objects and the HTTP
binding answers with the status from these, and nothing else maps them.

::

    WotLabthingError
    ├── DefinitionError          a Thing class is declared wrongly (at class creation)
    ├── ConfigError              a servient config file or entry is wrong
    ├── NotFoundError            unknown Thing, affordance or invocation
    ├── InputError               a value breaks its JSON Schema or is not JSON at all
    ├── NotAllowedError          write to a read-only property, read a write-only one
    ├── NotFiniteError           NaN or Infinity would have to be sent as JSON
    ├── BusyError                an exclusive Thing is busy and the action may not queue
    ├── ActionTimeoutError       an action ran past its declared timeout
    ├── InstrumentError          the instrument could not do what was asked
    │   ├── InstrumentTimeoutError   no (complete) reply in time
    │   └── DisconnectedError        the port vanished or cannot be opened
    └── ConsumerError            a consumed (remote) Thing failed (client side)
        ├── RemoteError          the remote answered with a 4xx/5xx problem
        └── TDError              a TD could not be fetched or breaks the schema

    BaseException
    └── InvocationCancelled      raised inside an action that is being cancelled;
                                 a BaseException so ``except Exception`` cannot swallow it
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "ActionTimeoutError",
    "BusyError",
    "ConfigError",
    "ConsumerError",
    "DefinitionError",
    "DisconnectedError",
    "InputError",
    "InstrumentError",
    "InstrumentTimeoutError",
    "InvocationCancelled",
    "NotAllowedError",
    "NotFiniteError",
    "NotFoundError",
    "RemoteError",
    "TDError",
    "WotLabthingError",
]


class WotLabthingError(Exception):
    """Base class of every error wot-labthing raises on purpose."""

    problem_slug: ClassVar[str] = "internal-error"
    problem_title: ClassVar[str] = "Internal error"
    http_status: ClassVar[int] = 500


class DefinitionError(WotLabthingError, TypeError):
    """A Thing class declares an affordance wrongly.

    Raised when the class is defined, never on the first request.
    """

    problem_slug: ClassVar[str] = "definition-error"
    problem_title: ClassVar[str] = "Thing definition error"
    http_status: ClassVar[int] = 500


class ConfigError(WotLabthingError):
    """A servient configuration is wrong; ``entry`` names the offending part."""

    def __init__(self, message: str, *, entry: str | None = None) -> None:
        super().__init__(f"{entry}: {message}" if entry else message)
        self.entry = entry


class NotFoundError(WotLabthingError, LookupError):
    """An unknown Thing, affordance or invocation was named."""

    problem_slug: ClassVar[str] = "not-found"
    problem_title: ClassVar[str] = "Not found"
    http_status: ClassVar[int] = 404

    def __init__(self, message: str, *, kind: str = "resource", name: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.name = name


class InputError(WotLabthingError, ValueError):
    """A value is not valid JSON or breaks its schema.

    ``pointer`` is the RFC 6901 JSON pointer of the offending field inside the
    value (``""`` for the value itself).
    """

    problem_slug: ClassVar[str] = "invalid-input"
    problem_title: ClassVar[str] = "Invalid input"
    http_status: ClassVar[int] = 400

    def __init__(
        self,
        message: str,
        *,
        pointer: str = "",
        thing: str | None = None,
        affordance: str | None = None,
    ) -> None:
        super().__init__(message)
        self.pointer = pointer
        self.thing = thing
        self.affordance = affordance


class NotAllowedError(WotLabthingError):
    """The operation is not offered by this affordance (e.g. writing a read-only property)."""

    problem_slug: ClassVar[str] = "not-allowed"
    problem_title: ClassVar[str] = "Operation not allowed"
    http_status: ClassVar[int] = 405

    def __init__(self, message: str, *, allowed: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.allowed = allowed


class NotFiniteError(WotLabthingError, ValueError):
    """A value holds NaN or Infinity, which JSON (RFC 8259) cannot carry."""

    problem_slug: ClassVar[str] = "not-finite"
    problem_title: ClassVar[str] = "Value is not finite"
    http_status: ClassVar[int] = 500


class BusyError(WotLabthingError):
    """The Thing is busy with an exclusive action; retry after ``retry_after`` seconds."""

    problem_slug: ClassVar[str] = "busy"
    problem_title: ClassVar[str] = "Thing is busy"
    http_status: ClassVar[int] = 503

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ActionTimeoutError(WotLabthingError, TimeoutError):
    """An action ran longer than its declared ``timeout``."""

    problem_slug: ClassVar[str] = "action-timeout"
    problem_title: ClassVar[str] = "Action timed out"
    http_status: ClassVar[int] = 504


class InstrumentError(WotLabthingError):
    """The instrument could not do what was asked."""

    problem_slug: ClassVar[str] = "instrument-error"
    problem_title: ClassVar[str] = "Instrument error"
    http_status: ClassVar[int] = 502

    def __init__(self, message: str, *, port: str | None = None, command: str | None = None):
        super().__init__(message)
        self.port = port
        self.command = command


class InstrumentTimeoutError(InstrumentError, TimeoutError):
    """The instrument sent no (complete) reply within the timeout."""

    problem_slug: ClassVar[str] = "instrument-timeout"
    problem_title: ClassVar[str] = "Instrument did not answer in time"
    http_status: ClassVar[int] = 504


class DisconnectedError(InstrumentError, ConnectionError):
    """The instrument's port vanished or cannot be opened."""

    problem_slug: ClassVar[str] = "disconnected"
    problem_title: ClassVar[str] = "Instrument disconnected"
    http_status: ClassVar[int] = 503


class ConsumerError(WotLabthingError):
    """A remote Thing used through its TD failed (client side)."""


class RemoteError(ConsumerError):
    """The remote servient answered with an error status; ``problem`` is its body."""

    def __init__(self, message: str, *, status: int, problem: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.problem = problem or {}


class TDError(ConsumerError):
    """A Thing Description could not be fetched, parsed or validated."""


class InvocationCancelled(BaseException):
    """Raised inside an action when its invocation is being cancelled.

    It derives from :class:`BaseException` so a user's ``except Exception``
    cannot swallow it, like :class:`asyncio.CancelledError`.
    """

    problem_slug: ClassVar[str] = "cancelled"
    problem_title: ClassVar[str] = "Action cancelled"
    http_status: ClassVar[int] = 409
