"""A base for SCPI instruments on a serial line: identity, reset, and the error queue.

SCPI (IEEE 488.2) instruments share a core every driver needs: ``*IDN?`` names
the instrument, ``*RST`` and ``*CLS`` reset it, ``*OPC?`` waits for pending
operations, and ``SYSTem:ERRor?`` pops the oldest entry of an error queue
(``-113,"Undefined header"``; ``+0,"No error"`` when empty).

A SCPI setting command has no reply, so a rejected one is silent on the wire.
:meth:`ScpiInstrument.write` therefore reads the error queue after every
setting, holding the port so no other thread's command lands in between, and
raises :class:`ScpiError` with the instrument's own code and message. A query
the instrument does not understand gets no reply at all; when a query times
out, :meth:`ScpiInstrument.query` reads the queue too, so the user sees
``-113 Undefined header`` rather than a bare timeout.

Subclasses add their affordances and use :meth:`~ScpiInstrument.write`,
:meth:`~ScpiInstrument.query` and :meth:`~ScpiInstrument.query_float`. All of
them block, so they belong in sync properties and actions (worker threads).
"""

from __future__ import annotations

import logging
import re
from typing import ClassVar, TypedDict

import wot_labthing as wl

__all__ = ["Identity", "ScpiError", "ScpiInstrument", "parse_error"]

_log = logging.getLogger(__name__)

_ERROR_REPLY = re.compile(r'^\s*([+-]?\d+)\s*,\s*"(.*)"\s*$')

#: SCPI instruments keep 10 to 30 errors; stop reading a queue that never empties.
MAX_QUEUE_READS = 64


class Identity(TypedDict):
    """The four fields of the ``*IDN?`` reply."""

    manufacturer: str
    model: str
    serial: str
    firmware: str


def parse_error(reply: str) -> tuple[int, str] | None:
    """``-113,"Undefined header"`` → ``(-113, "Undefined header")``; None if not an error reply."""
    match = _ERROR_REPLY.match(reply)
    if match is None:
        return None
    return int(match.group(1)), match.group(2)


class ScpiError(wl.InstrumentError):
    """The instrument rejected a command; its error queue held these entries.

    Attributes:
        code: the first (oldest) error's SCPI code, e.g. -222.
        error_message: that error's text, e.g. ``Data out of range``.
        errors: every ``(code, message)`` read from the queue, oldest first.
    """

    def __init__(
        self,
        errors: list[tuple[int, str]],
        *,
        port: str | None = None,
        command: str | None = None,
    ) -> None:
        listed = "; ".join(f"{code} {message}" for code, message in errors)
        where = f" after {command!r}" if command else ""
        super().__init__(f"instrument error{where}: {listed}", port=port, command=command)
        self.errors = errors
        self.code, self.error_message = errors[0]


class ScpiInstrument(wl.SerialThing):
    """A SCPI instrument on a serial port: identification, reset and error reporting.

    Args:
        port: device path or pyserial URL (``/dev/ttyUSB0``, ``socket://host:port``);
            omit it to find a USB adapter by ``vid``/``pid``/``serial_number``.
        **kwargs: the other :class:`wot_labthing.SerialThing` arguments (USB ids,
            line settings, ``timeout``, ``transport``) and ``name``, ``title``,
            ``description``, ``id`` of the Thing.
    """

    #: Sent after every (re)connection, before anything else (no replies expected).
    connect_commands: ClassVar[tuple[str, ...]] = ("*CLS",)
    #: The ``*IDN?`` model this driver was written for; another one is only logged.
    expected_model: ClassVar[str | None] = None

    def on_connect(self, transport: wl.SerialTransport) -> None:
        """Put a freshly (re)connected instrument into a known state."""
        for command in self.connect_commands:
            transport.write(command)

    # Lifecycle ------------------------------------------------------------------

    def open(self) -> None:
        """Connect and identify; a missing or mute instrument is logged, not fatal.

        The servient keeps running and the transport reconnects on the next use,
        so an instrument switched on later simply starts working.
        """
        super().open()
        if not self.transport.is_open:
            return
        try:
            identity = self.identity
        except wl.InstrumentError as exc:
            _log.warning("%s: instrument not available yet: %s", self.transport.name, exc)
            return
        _log.info(
            "%s: connected to %s %s (serial %s, firmware %s)",
            self.transport.name,
            identity["manufacturer"],
            identity["model"],
            identity["serial"],
            identity["firmware"],
        )
        if self.expected_model and identity["model"] != self.expected_model:
            _log.warning(
                "%s: expected a %s but the instrument says it is a %s",
                self.transport.name,
                self.expected_model,
                identity["model"],
            )

    # Helpers for subclasses -----------------------------------------------------

    def write(self, command: str, *, check: bool = True) -> None:
        """Send a command that has no reply, then raise if the instrument rejected it.

        Raises:
            ScpiError: the error queue was not empty after the command.
        """
        with self.transport.locked():
            self.transport.write(command)
            if check:
                self.raise_for_errors(command)

    def query(self, command: str, timeout: float | None = None) -> str:
        """Send a query and return its reply line.

        Raises:
            ScpiError: the query timed out and the instrument reported why.
            InstrumentTimeoutError: no reply and no error either.
        """
        with self.transport.locked():
            try:
                return self.transport.query(command, timeout)
            except wl.DisconnectedError:
                raise
            except wl.InstrumentTimeoutError as timed_out:
                errors = self._errors_after_timeout()
                if errors:
                    raise ScpiError(
                        errors, port=self.transport.name, command=command
                    ) from timed_out
                raise

    def query_float(self, command: str, timeout: float | None = None) -> float:
        """Send a query whose reply is one number (``+1.00000000E+01``)."""
        reply = self.query(command, timeout)
        try:
            return float(reply)
        except ValueError:
            raise wl.InstrumentError(
                f"{self.transport.name}: expected a number in reply to {command!r}, "
                f"got {reply[:80]!r}",
                port=self.transport.name,
                command=command,
            ) from None

    def read_error_queue(self) -> list[tuple[int, str]]:
        """Pop every entry of the error queue (``SYSTem:ERRor?`` until ``+0``), oldest first."""
        errors: list[tuple[int, str]] = []
        with self.transport.locked():
            for _ in range(MAX_QUEUE_READS):
                reply = self.transport.query("SYST:ERR?")
                parsed = parse_error(reply)
                if parsed is None:
                    raise wl.InstrumentError(
                        f"{self.transport.name}: unexpected reply to 'SYST:ERR?': "
                        f"{reply[:80]!r}; is another program talking to the instrument?",
                        port=self.transport.name,
                        command="SYST:ERR?",
                    )
                if parsed[0] == 0:
                    return errors
                errors.append(parsed)
        raise wl.InstrumentError(
            f"{self.transport.name}: the error queue did not empty after {MAX_QUEUE_READS} reads",
            port=self.transport.name,
            command="SYST:ERR?",
        )

    def raise_for_errors(self, command: str | None = None) -> None:
        """Raise :class:`ScpiError` if the error queue holds anything (and empty it)."""
        errors = self.read_error_queue()
        if errors:
            raise ScpiError(errors, port=self.transport.name, command=command)

    def _errors_after_timeout(self) -> list[tuple[int, str]]:
        try:
            return self.read_error_queue()
        except wl.InstrumentError:
            return []  # mute or confused: the original timeout says it best

    def wait_until_complete(self, timeout: float | None = None) -> None:
        """Block until every pending operation has finished (``*OPC?`` answers ``1``)."""
        reply = self.query("*OPC?", timeout)
        if reply.strip() not in ("1", "+1"):
            raise wl.InstrumentError(
                f"{self.transport.name}: unexpected reply to '*OPC?': {reply[:80]!r}",
                port=self.transport.name,
                command="*OPC?",
            )

    # Affordances ----------------------------------------------------------------

    @wl.property
    def identity(self) -> Identity:
        """Manufacturer, model, serial number and firmware revision (*IDN?)."""
        reply = self.query("*IDN?")
        fields = [field.strip() for field in reply.split(",")]
        if len(fields) != 4:
            raise wl.InstrumentError(
                f"{self.transport.name}: '*IDN?' should answer four comma-separated "
                f"fields, got {reply[:80]!r}",
                port=self.transport.name,
                command="*IDN?",
            )
        manufacturer, model, serial, firmware = fields
        return Identity(manufacturer=manufacturer, model=model, serial=serial, firmware=firmware)

    @wl.action(exclusive=True, idempotent=True)
    def reset(self) -> None:
        """Reset the instrument to its power-on settings (*RST); the error queue stays."""
        self.write("*RST")
        self.wait_until_complete()

    @wl.action(idempotent=True)
    def clear_status(self) -> None:
        """Clear the error queue and the status registers (*CLS)."""
        self.write("*CLS", check=False)
