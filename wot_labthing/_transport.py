"""A line-oriented serial transport on pyserial, shared safely between threads.

Instrument drivers talk to their device through one :class:`SerialTransport`.
It opens any pyserial URL (``/dev/ttyUSB0``, ``loop://``, ``socket://``,
``rfc2217://``, ``spy://``) or finds a USB adapter by VID/PID/serial number, so
a config survives replugging into another socket. Every exchange holds a lock
per port (process-wide), so a property read from one worker thread never
interleaves its bytes with a move running in another.

Failures become the library's errors, naming the port and the command:
no complete reply in time is an :class:`InstrumentTimeoutError`; the device
vanishing is a :class:`DisconnectedError`, after which the port is closed and
the next use reopens it, with back-off between failed attempts so a missing
device costs nothing while it stays missing.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import serial
from serial.tools import list_ports

from ._backoff import backoff_delay
from ._errors import DisconnectedError, InstrumentError, InstrumentTimeoutError

__all__ = ["SerialTransport", "find_serial_port"]

_log = logging.getLogger(__name__)

try:  # termios errors (not OSError) come from tcflush on a pty whose far end is gone
    from termios import error as _TermiosError
except ImportError:  # pragma: no cover - Windows
    _TermiosError = OSError  # type: ignore[misc,assignment]

#: What a vanished device raises from pyserial, whatever the platform and URL type.
_LOST = (serial.SerialException, OSError, _TermiosError)

#: A reply longer than this without a terminator is garbage, not a reply.
MAX_LINE_BYTES = 65536

_locks_guard = threading.Lock()
_port_locks: dict[str, threading.RLock] = {}


def _lock_for(name: str) -> threading.RLock:
    """The one lock of a port, shared by every transport that names it."""
    with _locks_guard:
        return _port_locks.setdefault(name, threading.RLock())


class PortLike(Protocol):
    """The part of :class:`serial.SerialBase` the transport uses (a fake implements it too)."""

    timeout: float | None

    @property
    def is_open(self) -> bool:
        """Whether the port is open."""

    def write(self, data: bytes, /) -> int | None:
        """Send bytes."""

    def read_until(self, expected: bytes = ..., size: int | None = ...) -> bytes:
        """Read up to and including ``expected``, or until the timeout."""

    def reset_input_buffer(self) -> None:
        """Drop bytes received but not read."""

    def close(self) -> None:
        """Release the port."""


def find_serial_port(
    vid: int | None = None, pid: int | None = None, serial_number: str | None = None
) -> str:
    """The device path of the one USB serial port matching the given ids.

    Raises:
        DisconnectedError: no port matches (the device is unplugged), or several do.
    """
    wanted = _usb_label(vid, pid, serial_number)
    matches = [
        info.device
        for info in list_ports.comports()
        if (vid is None or info.vid == vid)
        and (pid is None or info.pid == pid)
        and (serial_number is None or info.serial_number == serial_number)
    ]
    if not matches:
        raise DisconnectedError(f"no serial port matches {wanted}", port=wanted)
    if len(matches) > 1:
        raise DisconnectedError(
            f"{len(matches)} serial ports match {wanted} ({', '.join(sorted(matches))}); "
            "add a serial number to pick one",
            port=wanted,
        )
    return matches[0]


def _usb_label(vid: int | None, pid: int | None, serial_number: str | None) -> str:
    parts = [
        f"{vid:04x}" if vid is not None else "*",
        f"{pid:04x}" if pid is not None else "*",
    ]
    label = "usb " + ":".join(parts)
    return f"{label} serial {serial_number}" if serial_number else label


class SerialTransport:
    """Commands and reply lines over one serial port, safe to share between threads.

    Args:
        port: a device path or pyserial URL; omit it to find the port by USB ids.
        vid, pid, serial_number: USB ids of the adapter, looked up on every (re)open.
        baudrate, bytesize, parity, stopbits: line settings (``parity`` is ``"N"``,
            ``"E"``, ``"O"``, ``"M"`` or ``"S"``).
        rtscts, dsrdtr, xonxoff: hardware (RTS/CTS, DSR/DTR) or software flow control,
            for instruments that pace the host (an HP 34401A holds DSR while busy).
        timeout: seconds to wait for a complete reply line.
        write_timeout: seconds a write may block (a stuck handshake line).
        read_terminator, write_terminator: line endings; a carriage return before the read
            terminator is stripped as well.
        encoding: text encoding of commands and replies.
        on_connect: called with the transport, holding the lock, after every
            (re)open; a driver sends its setup commands here.
        reconnect_min, reconnect_max: back-off bounds (seconds) between failed opens.
        flush_before_query: drop stale input before each query, so a late reply to
            an earlier timed-out command is never taken for the answer.
    """

    def __init__(
        self,
        port: str | None = None,
        *,
        vid: int | None = None,
        pid: int | None = None,
        serial_number: str | None = None,
        baudrate: int = 9600,
        bytesize: int = 8,
        parity: str = "N",
        stopbits: float = 1,
        rtscts: bool = False,
        dsrdtr: bool = False,
        xonxoff: bool = False,
        timeout: float = 1.0,
        write_timeout: float = 1.0,
        read_terminator: str = "\n",
        write_terminator: str = "\n",
        encoding: str = "ascii",
        on_connect: Callable[[SerialTransport], None] | None = None,
        reconnect_min: float = 0.1,
        reconnect_max: float = 5.0,
        flush_before_query: bool = True,
    ) -> None:
        if port is None and vid is None and pid is None and serial_number is None:
            raise ValueError("give a port (path or URL) or USB ids (vid, pid, serial_number)")
        self.port = port
        self.vid, self.pid, self.serial_number = vid, pid, serial_number
        self.name = port if port is not None else _usb_label(vid, pid, serial_number)
        self.settings: dict[str, Any] = {
            "baudrate": baudrate,
            "bytesize": bytesize,
            "parity": parity,
            "stopbits": stopbits,
            "rtscts": rtscts,
            "dsrdtr": dsrdtr,
            "xonxoff": xonxoff,
            "write_timeout": write_timeout,
        }
        self.timeout = timeout
        self.read_terminator = read_terminator.encode(encoding)
        self.write_terminator = write_terminator.encode(encoding)
        self.encoding = encoding
        self.on_connect = on_connect
        self.reconnect_min = reconnect_min
        self.reconnect_max = reconnect_max
        self.flush_before_query = flush_before_query
        self._lock = _lock_for(self.name)
        self._port: PortLike | None = None
        self._connecting = False
        self._failures = 0
        self._next_attempt = 0.0
        self._last_failure = ""

    def __repr__(self) -> str:
        state = "open" if self.is_open else "closed"
        return f"<{type(self).__name__} {self.name} {state}>"

    # -- connection -----------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """Whether the port is open now (it reopens by itself on the next use)."""
        return self._port is not None and self._port.is_open

    def open(self) -> None:
        """Open the port now rather than on first use.

        Raises:
            DisconnectedError: the port cannot be opened (or we are backing off).
        """
        with self._lock:
            self._ensure_open(command=None)

    def close(self) -> None:
        """Close the port; safe to call twice, and the next use reopens it."""
        with self._lock:
            self._drop_port()
            self._failures = 0
            self._next_attempt = 0.0

    def _open_port(self) -> PortLike:
        """Open the underlying pyserial port (overridden by test transports)."""
        device = self.port
        if device is None:
            device = find_serial_port(self.vid, self.pid, self.serial_number)
        port: PortLike = serial.serial_for_url(device, timeout=self.timeout, **self.settings)
        return port

    def _ensure_open(self, command: str | None) -> PortLike:
        if self._port is not None and self._port.is_open:
            return self._port
        if self._connecting:
            raise DisconnectedError(
                f"{self.name}: used while connecting outside on_connect", port=self.name
            )
        now = time.monotonic()
        if now < self._next_attempt:
            # Rounded up: "retrying in 0.0 s" reads as "never" or "now", and is neither.
            wait = math.ceil((self._next_attempt - now) * 10) / 10
            raise DisconnectedError(
                f"{self.name} is disconnected ({self._last_failure}); retrying in {wait:.1f} s",
                port=self.name,
                command=command,
            )
        try:
            self._port = self._open_port()
        except DisconnectedError as exc:
            self._back_off(str(exc))
            raise DisconnectedError(str(exc), port=self.name, command=command) from None
        except (serial.SerialException, OSError, ValueError) as exc:
            self._back_off(str(exc))
            raise DisconnectedError(
                f"cannot open {self.name}: {exc}", port=self.name, command=command
            ) from exc
        _log.info("opened serial port %s", self.name)
        if self.on_connect is not None:
            self._connecting = True
            try:
                self.on_connect(self)
            except BaseException:
                self._drop_port()
                raise
            finally:
                self._connecting = False
        self._failures = 0
        port = self._port
        if port is None:  # on_connect lost the device again
            raise DisconnectedError(f"{self.name} vanished while connecting", port=self.name)
        return port

    def _back_off(self, reason: str) -> None:
        delay = backoff_delay(self._failures, first=self.reconnect_min, maximum=self.reconnect_max)
        self._failures += 1
        self._next_attempt = time.monotonic() + delay
        self._last_failure = reason

    def _drop_port(self) -> None:
        port, self._port = self._port, None
        if port is None:
            return
        # pyserial's socket:// close() skips closing its socket when shutdown() fails
        # (the peer already vanished), which would leak it; close it ourselves too.
        sock = getattr(port, "_socket", None)
        with contextlib.suppress(Exception):
            port.close()
        if sock is not None:
            with contextlib.suppress(Exception):
                sock.close()

    def _disconnected(self, exc: BaseException, command: str | None) -> DisconnectedError:
        """Close the dead port and describe the loss; the next use reopens it."""
        self._drop_port()
        self._last_failure = str(exc)
        _log.warning("serial port %s disconnected: %s", self.name, exc)
        what = f" during {command!r}" if command else ""
        return DisconnectedError(
            f"{self.name} disconnected{what}: {exc}", port=self.name, command=command
        )

    # -- exchanges ------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self) -> Iterator[SerialTransport]:
        """Hold the port across several exchanges (reentrant)."""
        with self._lock:
            yield self

    def write(self, command: str) -> None:
        """Send one command line."""
        data = command.encode(self.encoding) + self.write_terminator
        with self._lock:
            port = self._ensure_open(command)
            try:
                port.write(data)
            except serial.SerialTimeoutException as exc:
                raise InstrumentTimeoutError(
                    f"{self.name}: writing {command!r} timed out after "
                    f"{self.settings['write_timeout']} s",
                    port=self.name,
                    command=command,
                ) from exc
            except _LOST as exc:
                raise self._disconnected(exc, command) from exc

    def read_line(self, timeout: float | None = None, *, command: str | None = None) -> str:
        """Read one reply line, without its terminator.

        Args:
            timeout: seconds to wait instead of the transport's ``timeout``.
            command: the command being answered, for error messages.
        """
        wait = self.timeout if timeout is None else timeout
        with self._lock:
            port = self._ensure_open(command)
            try:
                port.timeout = wait
                raw = port.read_until(self.read_terminator, MAX_LINE_BYTES)
            except _LOST as exc:
                raise self._disconnected(exc, command) from exc
            finally:
                if port.is_open:
                    with contextlib.suppress(Exception):
                        port.timeout = self.timeout
        if not raw.endswith(self.read_terminator):
            what = f" to {command!r}" if command else ""
            got = f" (got {raw[:80]!r})" if raw else ""
            if len(raw) >= MAX_LINE_BYTES:
                raise InstrumentError(
                    f"{self.name}: reply{what} exceeds {MAX_LINE_BYTES} bytes without a "
                    "line end; is the baud rate right?",
                    port=self.name,
                    command=command,
                )
            raise InstrumentTimeoutError(
                f"{self.name}: no complete reply{what} within {wait:g} s{got}",
                port=self.name,
                command=command,
            )
        line = raw[: -len(self.read_terminator)].rstrip(b"\r")
        try:
            return line.decode(self.encoding)
        except UnicodeDecodeError:
            what = f" to {command!r}" if command else ""
            raise InstrumentError(
                f"{self.name}: garbled reply{what}: {line[:80]!r}; is the baud rate right?",
                port=self.name,
                command=command,
            ) from None

    def query(self, command: str, timeout: float | None = None) -> str:
        """Send ``command`` and return its one-line reply, atomically."""
        return self.query_lines(command, 1, timeout)[0]

    def query_lines(self, command: str, count: int, timeout: float | None = None) -> list[str]:
        """Send ``command`` and return its ``count`` reply lines, atomically."""
        with self._lock:
            if self.flush_before_query:
                self.clear_input()
            self.write(command)
            return [self.read_line(timeout, command=command) for _ in range(count)]

    def clear_input(self) -> None:
        """Drop bytes received but not yet read (stale replies)."""
        with self._lock:
            port = self._ensure_open(None)
            try:
                port.reset_input_buffer()
            except _LOST as exc:
                raise self._disconnected(exc, None) from exc
