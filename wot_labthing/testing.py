"""Helpers for testing instrument drivers without hardware.

:class:`ScriptedTransport` is a :class:`~wot_labthing.SerialTransport` whose far
end follows a script of command/reply pairs. A driver test lists exactly what
the driver must send and what the instrument answers; a wrong or missing
command fails the test, and so does a pair left unconsumed::

    with ScriptedTransport([("p?", "0 0 0"), ("mr 10 0 0", None)]) as transport:
        board = Sangaboard(transport=transport)
        assert board.position == [0, 0, 0]
        ...

Everything above the bytes (terminators, encoding, locking, timeouts, error
mapping) is the real transport's code.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from ._transport import PortLike, SerialTransport

__all__ = ["ScriptedTransport"]

Reply = str | Sequence[str] | None

_counter = itertools.count(1)


class _ScriptedPort:
    """The far end of a :class:`ScriptedTransport`: checks writes, queues replies."""

    def __init__(self, owner: ScriptedTransport) -> None:
        self._owner = owner
        self._pending = bytearray()
        self.timeout: float | None = None
        self._open = True

    @property
    def is_open(self) -> bool:
        return self._open

    def write(self, data: bytes, /) -> int:
        owner = self._owner
        terminator = owner.write_terminator
        if not data.endswith(terminator):
            raise AssertionError(f"command {data!r} does not end with {terminator!r}")
        command = data[: -len(terminator)].decode(owner.encoding)
        with owner.script_lock:
            if not owner.remaining:
                raise AssertionError(f"unexpected command {command!r}: the script is exhausted")
            expected, reply = owner.remaining[0]
            if command != expected:
                raise AssertionError(f"expected command {expected!r}, the driver sent {command!r}")
            owner.remaining.popleft()
        lines = [reply] if isinstance(reply, str) else list(reply or ())
        for line in lines:
            self._pending += line.encode(owner.encoding) + owner.read_terminator
        return len(data)

    def read_until(self, expected: bytes = b"\n", size: int | None = None) -> bytes:
        index = self._pending.find(expected)
        if index < 0:  # nothing scripted: the device stays silent, i.e. a timeout
            return b""
        end = index + len(expected)
        line = bytes(self._pending[:end])
        del self._pending[:end]
        return line

    def reset_input_buffer(self) -> None:
        # A real device's reply is not stale if the script already queued it; keep it.
        pass

    def close(self) -> None:
        self._open = False


class ScriptedTransport(SerialTransport):
    """A transport whose instrument answers from a script of (command, reply) pairs.

    Args:
        script: pairs of the exact command the driver must write (without
            terminator) and the reply line, several lines, or None for no reply.
        **kwargs: :class:`SerialTransport` options (terminators, ``on_connect``, ...).
    """

    def __init__(self, script: Sequence[tuple[str, Reply]], **kwargs: Any) -> None:
        kwargs.setdefault("reconnect_min", 0.0)
        super().__init__(f"scripted://{next(_counter)}", **kwargs)
        self.script_lock = threading.Lock()
        self.remaining: deque[tuple[str, Reply]] = deque(script)

    def _open_port(self) -> PortLike:
        return _ScriptedPort(self)

    def expect(self, *pairs: tuple[str, Reply]) -> None:
        """Append more pairs to the script."""
        with self.script_lock:
            self.remaining.extend(pairs)

    def assert_consumed(self) -> None:
        """Fail if the driver did not send every scripted command."""
        with self.script_lock:
            left = list(self.remaining)
        if left:
            commands = ", ".join(repr(command) for command, _ in left)
            raise AssertionError(f"{len(left)} scripted commands never sent: {commands}")

    def __enter__(self) -> ScriptedTransport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
        if exc_type is None:
            self.assert_consumed()
