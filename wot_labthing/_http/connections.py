"""A bound on open HTTP connections, in total and per client address.

hypercorn has no connection limit, and by the time the ASGI app sees a request
a connection already exists (and a slowloris connection never reaches it). So
the bound sits where connections are born: the listening socket.
:class:`LimitedListener` is the socket hypercorn serves; asyncio's event loop
calls its :meth:`~LimitedListener.accept`, which counts the connection and
hands out a socket that uncounts itself when closed, or, past a limit, answers
``503`` with ``Retry-After`` (a closed connection under TLS, where no plain
text may be sent) and closes at once, before any request is parsed.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections import Counter
from typing import Any

from .._problems import problem_type

__all__ = ["ConnectionLimiter", "LimitedListener"]

_log = logging.getLogger(__name__)

#: Refused connections handled per accept call, so a flood cannot starve the event loop.
_REFUSALS_PER_ACCEPT = 64
#: Seconds between two log lines about refused connections.
_LOG_INTERVAL = 10.0
RETRY_AFTER = 5


def _refusal(detail: str) -> bytes:
    body = json.dumps(
        {
            "type": problem_type("too-many-connections"),
            "title": "Too many connections",
            "status": 503,
            "detail": detail,
        }
    ).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: application/problem+json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Retry-After: {RETRY_AFTER}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class ConnectionLimiter:
    """Counts open connections per client address and in total."""

    def __init__(self, total: int, per_client: int) -> None:
        self.total = total
        self.per_client = per_client
        self.open: Counter[str] = Counter()
        self.refused = 0
        self._last_log = -_LOG_INTERVAL
        self._unlogged = 0

    @property
    def count(self) -> int:
        """Connections open now."""
        return sum(self.open.values())

    def admit(self, address: str) -> str | None:
        """Count a new connection from ``address``; why not, when it is refused."""
        if self.open[address] >= self.per_client:
            return f"at most {self.per_client} connections per client address"
        if self.count >= self.total:
            return f"at most {self.total} connections in all"
        self.open[address] += 1
        return None

    def release(self, address: str) -> None:
        """Uncount a closed connection from ``address``."""
        self.open[address] -= 1
        if self.open[address] <= 0:
            del self.open[address]

    def note_refusal(self, address: str, reason: str) -> None:
        """Log refusals, one line per interval with the number left unlogged."""
        self.refused += 1
        now = time.monotonic()
        if now - self._last_log < _LOG_INTERVAL:
            self._unlogged += 1
            return
        _log.warning(
            "refused a connection from %s: %s (%d more refused since the last report)",
            address,
            reason,
            self._unlogged,
        )
        self._last_log = now
        self._unlogged = 0


class _CountedSocket(socket.socket):
    """An accepted connection that uncounts itself once, when closed."""

    _limiter: ConnectionLimiter | None = None
    _address = ""

    def close(self) -> None:
        limiter, self._limiter = self._limiter, None
        if limiter is not None:
            limiter.release(self._address)
        super().close()


class LimitedListener(socket.socket):
    """A listening socket whose ``accept`` enforces a :class:`ConnectionLimiter`.

    Args (besides :class:`socket.socket`'s): set :attr:`limiter` and :attr:`tls`
    before serving.
    """

    limiter: ConnectionLimiter
    tls = False

    def accept(self) -> tuple[socket.socket, Any]:
        """The next admitted connection; refused ones are answered and closed here."""
        for _ in range(_REFUSALS_PER_ACCEPT):
            fd, address = self._accept()  # type: ignore[attr-defined]  # BlockingIOError: none
            conn = _CountedSocket(self.family, self.type, self.proto, fileno=fd)
            host = str(address[0]) if isinstance(address, tuple) else str(address)
            reason = self.limiter.admit(host)
            if reason is None:
                conn._limiter, conn._address = self.limiter, host
                return conn, address
            self._refuse(conn, reason)
            self.limiter.note_refusal(host, reason)
        raise BlockingIOError("refused connections only; the loop comes back for more")

    def _refuse(self, conn: socket.socket, reason: str) -> None:
        try:
            conn.setblocking(False)
            if not self.tls:
                try:  # read what already came, so closing does not reset the answer away
                    conn.recv(65536)
                except BlockingIOError:
                    pass
                conn.send(_refusal(f"this server accepts {reason}; retry later"))
                conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            conn.close()
