"""A real Eclipse Mosquitto broker for the tests, on a free loopback port.

``scripts/bootstrap`` installs the Debian ``mosquitto`` package when run as root
(CI); without it these tests skip locally and fail under CI=true.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from ..conftest import IN_CI

__all__ = ["Mosquitto", "free_port", "require_mosquitto", "running", "write_passwords"]

#: A client mosquitto let in, as its ``log_type notice`` logs it (``u'name'`` if it logged in).
_CONNECTED = re.compile(r"New client connected from \S+ as \S+ \(([^)]*)\)")
_USER = re.compile(r"u'([^']*)'")


def require_mosquitto() -> str:
    """Path of the ``mosquitto`` broker; a skip locally, a failure under CI=true."""
    found = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if found is None:
        message = "mosquitto is needed for the MQTT tests (scripts/bootstrap installs it as root)"
        if IN_CI:
            pytest.fail(message + " (CI=true: not skipping)")
        pytest.skip(message)
    return found


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_passwords(path: Path, users: Iterable[str]) -> None:
    """A mosquitto password file: each user's password is ``{user}-pw``."""
    tool = shutil.which("mosquitto_passwd")
    if tool is None:  # it ships in the same Debian package as the broker
        pytest.fail("mosquitto_passwd is missing although mosquitto is installed")
    for index, user in enumerate(users):
        flags = ["-b", "-c"] if index == 0 else ["-b"]
        subprocess.run(
            [tool, *flags, str(path), user, f"{user}-pw"], check=True, capture_output=True
        )


class Mosquitto:
    """One mosquitto process with a temporary config; can be stopped and started again.

    ``users`` makes a broker that wants a login (each user's password is
    ``{user}-pw``, anonymous clients refused); ``log_connections`` logs every client
    it lets in, with its user name (:meth:`logins`).
    """

    def __init__(
        self,
        directory: Path,
        port: int | None = None,
        extra: str = "",
        *,
        users: Iterable[str] = (),
        log_connections: bool = False,
    ) -> None:
        self.executable = require_mosquitto()
        self.port = port or free_port()
        self.config = directory / "mosquitto.conf"
        self.users = tuple(users)
        self.passwords = directory / "mosquitto.passwd"
        self.log = directory / "mosquitto.log"
        if self.users or log_connections:
            # as root mosquitto drops to its own user, who cannot read pytest's tmp_path
            # (0700); "user root" keeps it (and means nothing to a broker run by another user)
            extra = "user root\n" + extra
        if self.users:
            extra += f"password_file {self.passwords}\n"
        if log_connections:
            extra += f"log_dest file {self.log}\nlog_type notice\n"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            f"allow_anonymous {'false' if self.users else 'true'}\n"
            "persistence false\n"
            "log_dest stderr\n"
            "log_type error\n"
            "log_type warning\n" + extra
        )
        self.process: subprocess.Popen[bytes] | None = None

    def logins(self) -> list[str | None]:
        """The user name of every client let in so far (None: anonymous), in order."""
        if not self.log.exists():
            return []
        found: list[str | None] = []
        for match in _CONNECTED.finditer(self.log.read_text()):
            user = _USER.search(match.group(1))
            found.append(user.group(1) if user else None)
        return found

    @property
    def url(self) -> str:
        """The broker URL the servient's ``[mqtt]`` table takes."""
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, deadline: float = 10.0) -> None:
        """Start the broker and wait until it accepts connections."""
        if self.users and not self.passwords.exists():
            write_passwords(self.passwords, self.users)
        self.process = subprocess.Popen(
            [self.executable, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        end = time.monotonic() + deadline
        while True:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"mosquitto exited: {error}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if time.monotonic() > end:
                    raise RuntimeError("mosquitto did not start listening") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop the broker (it keeps no state: persistence is off)."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            if self.process.stderr is not None:
                self.process.stderr.close()
            self.process = None


@asynccontextmanager
async def running(broker: Mosquitto) -> AsyncIterator[Mosquitto]:
    """``broker`` started and stopped around a block (in a thread: both wait on the port)."""
    await asyncio.to_thread(broker.start)
    try:
        yield broker
    finally:
        await asyncio.to_thread(broker.stop)
