"""Opening an mDNS responder without blocking the event loop: :func:`open_zeroconf`.

``AsyncZeroconf()`` reads every network interface (ifaddr) and opens, configures
and binds its multicast sockets in its constructor, then attaches itself to the
running loop. That blocking half is run in a worker thread here; only the
attachment (scheduling its reader tasks) is done on the loop, where it belongs.
"""

from __future__ import annotations

import asyncio
from typing import Any

from zeroconf import InterfaceChoice, IPVersion, Zeroconf
from zeroconf.asyncio import AsyncZeroconf

__all__ = ["open_zeroconf"]

#: Closings of responders nobody waits for (a reference keeps each task alive).
_closing: set[asyncio.Future[None]] = set()


class _DetachedZeroconf(Zeroconf):
    """A Zeroconf whose constructor does not start it: it is made in a worker thread.

    ``Zeroconf.__init__`` ends with ``start()``, which attaches to the running loop
    or, with none (as in a worker thread), starts a loop thread of its own. Here
    ``start`` waits until :meth:`attach` is called on the loop that will drive it.
    """

    _attached = False

    def start(self) -> None:
        if self._attached:
            super().start()

    def attach(self) -> None:
        """Start on the running loop (call from it)."""
        self._attached = True
        self.start()


def _make(interfaces: Any, ip_version: IPVersion) -> _DetachedZeroconf:
    return _DetachedZeroconf(interfaces=interfaces, ip_version=ip_version)


async def open_zeroconf(
    *, interfaces: Any = InterfaceChoice.All, ip_version: IPVersion = IPVersion.V4Only
) -> AsyncZeroconf:
    """An ``AsyncZeroconf`` on the running loop, its sockets opened in a worker thread.

    Raises what ``Zeroconf()`` raises (``OSError`` when e.g. IPv6 multicast is
    unusable). Cancelled while the thread works, the sockets it opened are closed.
    """
    opening = asyncio.ensure_future(asyncio.to_thread(_make, interfaces, ip_version))
    try:
        zeroconf = await asyncio.shield(opening)
    except asyncio.CancelledError:
        opening.add_done_callback(_close_unused)
        raise
    zeroconf.attach()
    return AsyncZeroconf(zc=zeroconf)


def _close_unused(opening: asyncio.Future[_DetachedZeroconf]) -> None:
    """Close the sockets of a responder made for a caller that was cancelled meanwhile."""
    if opening.cancelled() or opening.exception() is not None:
        return
    zeroconf = opening.result()
    zeroconf.attach()
    closing = asyncio.ensure_future(AsyncZeroconf(zc=zeroconf).async_close())
    _closing.add(closing)
    closing.add_done_callback(_closing.discard)
