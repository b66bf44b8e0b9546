"""A real Eclipse Mosquitto broker for the tests, on a free loopback port.

``scripts/bootstrap`` installs the Debian ``mosquitto`` package when run as root
(CI); without it these tests skip locally and fail under CI=true.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from ..conftest import IN_CI

__all__ = ["Mosquitto", "free_port", "require_mosquitto"]


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


class Mosquitto:
    """One mosquitto process with a temporary config; can be stopped and started again."""

    def __init__(self, directory: Path, port: int | None = None, extra: str = "") -> None:
        self.executable = require_mosquitto()
        self.port = port or free_port()
        self.config = directory / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence false\n"
            "log_dest stderr\n"
            "log_type error\n"
            "log_type warning\n" + extra
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The broker URL the servient's ``[mqtt]`` table takes."""
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, deadline: float = 10.0) -> None:
        """Start the broker and wait until it accepts connections."""
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
