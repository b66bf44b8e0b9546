"""The :class:`SerialThing` base: a Thing that owns one serial transport.

Every serial driver needs the same plumbing: constructor arguments naming the
port (a path or pyserial URL, or USB ids that survive replugging) and the line
settings, a :class:`~wot_labthing.SerialTransport` built from them (or one
handed in by a test), setup commands after every (re)connection, and an
``open``/``close`` pair that connects at start without failing the servient
when the instrument is still switched off. This module owns all of it, so a
driver declares its line settings as class attributes and writes only what is
particular to its instrument.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from ._errors import InstrumentError
from ._thing import Thing
from ._transport import SerialTransport

__all__ = ["SerialThing"]

_log = logging.getLogger(__name__)


class SerialThing(Thing):
    """Base class of drivers that talk to their instrument over one serial line.

    Subclasses set the line settings their instrument uses as class attributes
    (:attr:`baudrate`, :attr:`serial_options`), override :meth:`on_connect` to
    put a freshly (re)connected instrument into a known state, and use
    :attr:`transport` (``query``, ``write``, ``locked``) in their properties
    and actions. The transport reconnects by itself, with back-off, after the
    instrument vanishes; :meth:`on_connect` runs again every time.

    Args:
        port: device path or pyserial URL (``/dev/ttyUSB0``, ``socket://host:port``);
            omit it to find a USB adapter by ``vid``/``pid``/``serial_number``.
        vid, pid, serial_number: USB ids of the adapter, looked up on every (re)open.
        baudrate: line speed; the class's :attr:`baudrate` when omitted.
        bytesize, parity, stopbits: character format; the class's
            :attr:`serial_options` when omitted.
        timeout: seconds to wait for a reply line.
        transport: a ready transport (a :class:`wot_labthing.testing.ScriptedTransport`
            in tests, or a port shared with another driver); the port arguments are
            then ignored.
        **thing_kwargs: ``name``, ``title``, ``description``, ``id`` of the Thing.
    """

    #: Line speed used when the driver builds its own transport.
    baudrate: ClassVar[int] = 9600
    #: Other :class:`SerialTransport` options of this instrument (``stopbits``,
    #: ``parity``, ``bytesize``, flow control, terminators, ``encoding``).
    serial_options: ClassVar[dict[str, Any]] = {}

    #: The transport every exchange goes through (set by ``__init__``).
    transport: SerialTransport

    def __init__(
        self,
        port: str | None = None,
        *,
        vid: int | None = None,
        pid: int | None = None,
        serial_number: str | None = None,
        baudrate: int | None = None,
        bytesize: int | None = None,
        parity: str | None = None,
        stopbits: float | None = None,
        timeout: float = 1.0,
        transport: SerialTransport | None = None,
        **thing_kwargs: Any,
    ) -> None:
        super().__init__(**thing_kwargs)
        no_ids = vid is None and pid is None and serial_number is None
        if transport is None and port is None and no_ids:
            # A missing required argument is a TypeError, as for any Python call.
            raise TypeError(
                f"{type(self).__name__} needs a port (path or pyserial URL), USB ids "
                "(vid, pid, serial_number) or a transport"
            )
        if transport is None:
            options = dict(self.serial_options)
            given = {"bytesize": bytesize, "parity": parity, "stopbits": stopbits}
            options.update({key: value for key, value in given.items() if value is not None})
            transport = SerialTransport(
                port,
                vid=vid,
                pid=pid,
                serial_number=serial_number,
                baudrate=baudrate or self.baudrate,
                timeout=timeout,
                **options,
            )
        previous = transport.on_connect

        def on_connect(connected: SerialTransport) -> None:
            if previous is not None:
                previous(connected)
            self.on_connect(connected)

        transport.on_connect = on_connect
        self.transport = transport

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.thing_name} on {self.transport.name}>"

    def on_connect(self, transport: SerialTransport) -> None:
        """Put a freshly (re)connected instrument into a known state.

        Runs after every open and reopen, holding the port, before any other
        exchange; use ``transport`` (not :attr:`transport`'s other users) here.
        Raising closes the port again, so a wrong device is never used.
        """

    def open(self) -> None:
        """Connect now if the instrument is there; if not, log it and connect on first use.

        A servient starts even with the instrument unplugged or switched off:
        every later use retries (with back-off), so plugging it in is enough.
        Subclasses that override this call ``super().open()`` first and may then
        check :attr:`SerialTransport.is_open`.
        """
        try:
            self.transport.open()
        except InstrumentError as exc:
            _log.warning(
                "%s on %s is not available yet: %s", type(self).__name__, self.transport.name, exc
            )

    def close(self) -> None:
        """Release the serial port (idempotent; the next use would reopen it)."""
        self.transport.close()
