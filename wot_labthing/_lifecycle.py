"""What a servient composes: protocol bindings, advertisers and registrars.

The :class:`~wot_labthing.Servient` is the composition root. ``async with
servient:`` (or :meth:`~wot_labthing.Servient.start`) opens its Things, then
its bindings (each starts serving), then its advertisers (mDNS) and registrars
(TD Directories); :meth:`~wot_labthing.Servient.stop` takes the same steps
back in reverse: withdraw registrations and advertisements, end running
actions and event streams, stop the bindings, close the Things. The CLI's
``serve`` is this path too, so an embedded servient behaves like the CLI's.

These protocols are what the servient needs of each part; the core imports no
implementation (the HTTP binding lives in ``_http``, mDNS in ``_discovery``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ._servient import Servient

__all__ = ["Advertiser", "Binding", "Endpoint", "FormContributor", "Registrar"]


@dataclass(frozen=True)
class Endpoint:
    """Where a binding can be reached, for advertisers and registrars.

    Attributes:
        scheme: URI scheme (``http``, later ``mqtt``).
        host: the address the binding is bound to (may be a wildcard).
        port: the port it listens on.
        thing_path: the path of a Thing's TD, given the Thing's name.
        directory_path: the path of the servient's directory TD, if it serves one.
        describe: the TD of a Thing (by name) exactly as this binding serves it from
            a base URL (``http://host:port/``), built in-process: registrars take TDs
            from here, so they need no credentials of their own (None when the
            binding serves no TDs or the Thing is gone).
    """

    scheme: str
    host: str
    port: int
    thing_path: Callable[[str], str]
    directory_path: str | None = None
    describe: Callable[[str, str], dict[str, Any] | None] | None = None


@runtime_checkable
class Binding(Protocol):
    """A protocol binding: translates its protocol into the servient's operations."""

    async def open(self, servient: Servient) -> None:
        """Start serving ``servient`` (its Things are open by now)."""

    async def close(self) -> None:
        """Stop serving; idempotent. Streams and running actions have ended by now."""

    @property
    def endpoint(self) -> Endpoint | None:
        """Where the binding listens, once open (None before, or if not addressable)."""


@runtime_checkable
class FormContributor(Protocol):
    """A binding whose forms appear in TDs another binding serves (MQTT next to HTTP)."""

    def add_forms(self, thing: str, td: dict[str, Any]) -> None:
        """Add this binding's forms (and any ``@context`` terms they use) to ``td``."""


@runtime_checkable
class Advertiser(Protocol):
    """Makes the servient findable (mDNS / DNS-SD) while it serves."""

    async def open(self, servient: Servient, endpoints: list[Endpoint]) -> None:
        """Start advertising ``servient``'s Things at ``endpoints``; follow adds and removes."""

    async def close(self) -> None:
        """Withdraw every advertisement (goodbye packets); idempotent."""


@runtime_checkable
class Registrar(Protocol):
    """Registers the servient's TDs with a TD Directory while it serves."""

    async def register(self, servient: Servient, endpoints: list[Endpoint]) -> None:
        """Register every Thing of ``servient``, reachable at ``endpoints``."""

    async def deregister(self) -> None:
        """Remove the registrations; idempotent."""
