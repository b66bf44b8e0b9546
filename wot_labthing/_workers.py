"""Worker threads for sync property getters and setters, one bounded pool per Thing.

A silent serial device holds its port lock and every worker that waits on it;
with a pool per Thing that only delays the same Thing's properties, never
another instrument's. Pools are made on first use, threads on demand
(``property_workers`` per Thing at most). After :meth:`PropertyWorkers.close`
a call raises :class:`BusyError` (HTTP 503), not the closed pool's RuntimeError.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ._errors import BusyError
from ._thing import Thing

__all__ = ["PropertyWorkers"]

_T = TypeVar("_T")
#: Seconds a client refused during shutdown is asked to wait.
RETRY_AFTER = 5


def _owner(function: Callable[..., Any], args: tuple[Any, ...]) -> str:
    """The name of the Thing the call works on ("" when none: the shared pool)."""
    if args and isinstance(args[0], Thing):
        return args[0].thing_name
    owner = getattr(function, "__self__", None)
    return owner.thing_name if isinstance(owner, Thing) else ""


class PropertyWorkers:
    """Bounded thread pools keyed by Thing name."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self.closed = False

    def _pool(self, name: str) -> ThreadPoolExecutor:
        pool = self._pools.get(name)
        if pool is None:
            pool = self._pools[name] = ThreadPoolExecutor(
                max_workers=self.size, thread_name_prefix=f"wot-property-{name or 'shared'}"
            )
        return pool

    async def run(self, function: Callable[..., _T], *args: Any) -> _T:
        """Run blocking ``function(*args)`` on its Thing's pool, keeping context variables."""
        if self.closed:
            raise BusyError("the servient is shutting down", retry_after=RETRY_AFTER)
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        try:
            future = loop.run_in_executor(
                self._pool(_owner(function, args)), functools.partial(context.run, function, *args)
            )
        except RuntimeError as exc:  # the pool closed between the check and the submit
            raise BusyError("the servient is shutting down", retry_after=RETRY_AFTER) from exc
        return await future

    def close(self) -> None:
        """Refuse new calls and let the pools' threads end (never waits for them)."""
        self.closed = True
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)
        self._pools.clear()

    def reopen(self) -> None:
        """Accept calls again (a servient started after it was stopped)."""
        self.closed = False
