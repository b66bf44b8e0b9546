"""Serve a line protocol over a pseudo-terminal or TCP, so real drivers run unchanged.

A simulator is two parts. A :class:`LineSimulator` subclass is the instrument's
protocol logic with no I/O: it receives command lines and answers through a
``reply`` callback, now or later (a move that ends after a while). A
:class:`SimulatorEndpoint` puts it at the far end of a pseudo-terminal (the
driver opens the slave like a USB serial adapter) or of a TCP port
(``socket://``, as with a serial-to-Ethernet server).

An endpoint can be stopped and restarted at the same URL, like a device that is
unplugged and plugged back in: a pseudo-terminal is reached through a symlink
that is re-pointed at the new one (as udev's ``/dev/serial/by-id`` links are),
a TCP endpoint listens on the same port again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import tempfile
import threading
import tty
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Literal

__all__ = ["LineSimulator", "Reply", "SimulatorEndpoint"]

_log = logging.getLogger(__name__)

Reply = Callable[[str], None]


class LineSimulator:
    """An instrument's command protocol, one command line at a time.

    Subclasses set :attr:`name` and implement :meth:`handle`. ``handle`` runs in
    the endpoint's reader thread; ``reply`` is thread-safe, so a timer thread may
    answer later. Bad commands get the real instrument's error answer, never an
    exception.
    """

    name: ClassVar[str] = "simulator"
    read_terminator: ClassVar[bytes] = b"\n"
    write_terminator: ClassVar[bytes] = b"\n"
    encoding: ClassVar[str] = "ascii"

    def handle(self, line: str, reply: Reply) -> None:
        """Answer one command line (without terminator or trailing a carriage return)."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop timers; the endpoint stopped (it may start again later)."""


class SimulatorEndpoint:
    """Serves one :class:`LineSimulator` over a pseudo-terminal or a TCP port.

    Args:
        simulator: the protocol logic.
        kind: ``"pty"`` (a pseudo-terminal) or ``"socket"`` (TCP, ``socket://`` URL).
        link: for a pty, the symlink path drivers open; a temporary one by default.
        host, port: for a socket, where to listen (port 0 picks a free one once;
            restarts reuse it).
    """

    def __init__(
        self,
        simulator: LineSimulator,
        *,
        kind: Literal["pty", "socket"] = "pty",
        link: str | os.PathLike[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if kind not in ("pty", "socket"):
            raise ValueError(f"kind must be 'pty' or 'socket', not {kind!r}")
        self.simulator = simulator
        self.kind = kind
        self._own_dir: str | None = None
        if kind == "pty" and link is None:
            self._own_dir = tempfile.mkdtemp(prefix="wot-labthing-sim-")
            link = Path(self._own_dir) / simulator.name
        self.link = Path(link) if link is not None else None
        self.host = host
        self.port = port
        self.url = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._write_lock = threading.Lock()
        self._master: int | None = None  # pty master fd
        self._slave: int | None = None  # kept open so the line settings persist
        self._listener: socket.socket | None = None
        self._client: socket.socket | None = None

    def __repr__(self) -> str:
        return f"<SimulatorEndpoint {self.simulator.name} {self.url or 'stopped'}>"

    @property
    def running(self) -> bool:
        """Whether the far end is there (between start and stop)."""
        return self._thread is not None

    def start(self) -> str:
        """Start serving; returns the URL a :class:`SerialTransport` opens."""
        if self._thread is not None:
            return self.url
        self._stop.clear()
        if self.kind == "pty":
            self._start_pty()
            target = self._serve_pty
        else:
            self._start_socket()
            target = self._serve_socket
        self._thread = threading.Thread(
            target=target, name=f"simulator-{self.simulator.name}", daemon=True
        )
        self._thread.start()
        _log.info("simulator %s serving at %s", self.simulator.name, self.url)
        return self.url

    def stop(self) -> None:
        """Vanish, like an unplugged device: the driver's next I/O fails."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        with self._write_lock:
            for fd in (self._master, self._slave):
                if fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._master = self._slave = None
            for sock in (self._client, self._listener):
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                    sock.close()
            self._client = self._listener = None
        thread.join(timeout=5)
        self.simulator.close()

    def restart(self) -> None:
        """Come back at the same URL after :meth:`stop` (replugging the device)."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop and remove the temporary symlink directory."""
        self.stop()
        if self._own_dir is not None:
            with contextlib.suppress(OSError):
                if self.link is not None:
                    self.link.unlink()
                os.rmdir(self._own_dir)

    def __enter__(self) -> SimulatorEndpoint:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- replies --------------------------------------------------------------------

    def _reply(self, text: str) -> None:
        data = text.encode(self.simulator.encoding) + self.simulator.write_terminator
        with self._write_lock:
            try:
                if self._master is not None:
                    os.write(self._master, data)
                elif self._client is not None:
                    self._client.sendall(data)
            except OSError:
                pass  # the driver went away; the instrument talks into the void

    def _feed(self, buffer: bytearray, data: bytes) -> None:
        buffer += data
        terminator = self.simulator.read_terminator
        while (index := buffer.find(terminator)) >= 0:
            raw = bytes(buffer[:index]).rstrip(b"\r")
            del buffer[: index + len(terminator)]
            line = raw.decode(self.simulator.encoding, errors="replace")
            try:
                self.simulator.handle(line, self._reply)
            except Exception:  # a simulator bug must not kill the endpoint
                _log.exception("simulator %s failed on %r", self.simulator.name, line)

    # -- pseudo-terminal --------------------------------------------------------------

    def _start_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR/LF translation: bytes as a UART sends them
        self._master, self._slave = master, slave
        assert self.link is not None
        temporary = self.link.with_name(f".{self.link.name}.{os.getpid()}.tmp")
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        os.symlink(os.ttyname(slave), temporary)
        os.replace(temporary, self.link)
        self.url = str(self.link)

    def _serve_pty(self) -> None:
        master = self._master
        buffer = bytearray()
        while not self._stop.is_set() and master is not None:
            try:
                ready, _, _ = select.select([master], [], [], 0.1)
                if not ready:
                    continue
                data = os.read(master, 4096)
            except (OSError, ValueError):
                return  # closed by stop()
            if data:
                self._feed(buffer, data)

    # -- TCP ----------------------------------------------------------------------

    def _start_socket(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(1)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self.url = f"socket://{self.host}:{self.port}"

    def _serve_socket(self) -> None:
        listener = self._listener
        while not self._stop.is_set() and listener is not None:
            try:
                ready, _, _ = select.select([listener], [], [], 0.1)
                if not ready:
                    continue
                client, _ = listener.accept()
            except (OSError, ValueError):
                return
            with self._write_lock:
                self._client = client
            self._serve_client(client)
            with self._write_lock:
                if self._client is client:
                    self._client = None
            with contextlib.suppress(OSError):
                client.close()

    def _serve_client(self, client: socket.socket) -> None:
        buffer = bytearray()
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([client], [], [], 0.1)
                if not ready:
                    continue
                data = client.recv(4096)
            except (OSError, ValueError):
                return
            if not data:
                return  # the driver closed the connection; wait for the next one
            self._feed(buffer, data)
