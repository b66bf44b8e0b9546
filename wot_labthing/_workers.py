"""Worker threads for sync property getters and setters, one bounded pool per Thing.

A silent serial device holds its port lock and every worker that waits on it;
with a pool per Thing that only delays the same Thing's properties, never
another instrument's. Pools are made on first use, threads on demand
(``property_workers`` per Thing at most). After :meth:`PropertyWorkers.close`
a call raises :class:`BusyError` (HTTP 503), not a closed pool's RuntimeError.

The threads are daemon threads of our own rather than a ``ThreadPoolExecutor``'s:
concurrent.futures joins its threads when the interpreter exits, so one getter
stuck forever on a dead instrument would keep a stopped servient's process alive.
A call still running when the servient stops is abandoned (counted, logged by the
servient) like an action thread that ignores its cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass
class _Job:
    call: Callable[[], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    """Hand a call's outcome to its awaiting coroutine (on the loop)."""
    if future.done():  # the caller was cancelled meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class _DaemonPool:
    """At most ``size`` daemon threads taking jobs from one queue, started on demand.

    Only the loop submits, so the bookkeeping needs no lock the loop could wait on:
    a worker that finished a job leaves a token in ``_idle`` before it takes the
    next one, and a submit that finds a token knows a worker is coming; without
    one it starts a thread while under ``size``, else the job waits its turn.
    """

    def __init__(self, size: int, name: str) -> None:
        self._size = size
        self._name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._idle: queue.SimpleQueue[None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        #: Threads in a call (set.add/discard are atomic; a counter's += is not).
        self._busy: set[int] = set()

    def submit(self, job: _Job) -> None:
        self._jobs.put(job)
        try:
            self._idle.get_nowait()
        except queue.Empty:
            if len(self._threads) < self._size:
                thread = threading.Thread(
                    target=self._work,
                    name=f"{self._name}_{len(self._threads)}",
                    daemon=True,
                )
                self._threads.append(thread)
                thread.start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            if job.future.cancelled():  # a caller gone before the start: skip the call
                self._idle.put(None)
                continue
            self._busy.add(threading.get_ident())
            result: Any = None
            error: BaseException | None = None
            try:
                result = job.call()
            except BaseException as exc:  # handed to the awaiting coroutine
                error = exc
            finally:
                self._busy.discard(threading.get_ident())
            # the token goes first: the caller, once woken, may submit its next call
            self._idle.put(None)
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits
                job.loop.call_soon_threadsafe(_settle, job.future, result, error)
            del job, result, error  # no reference cycle through the traceback

    def close(self) -> int:
        """Cancel queued jobs and let idle threads end; returns the calls still running."""
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                with contextlib.suppress(RuntimeError):  # its loop is closed already
                    job.loop.call_soon_threadsafe(job.future.cancel)
        for _ in self._threads:  # one each; a busy thread takes its own when it is done
            self._jobs.put(None)
        return len(self._busy)


class PropertyWorkers:
    """Bounded pools of daemon threads keyed by Thing name."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._pools: dict[str, _DaemonPool] = {}
        self.closed = False

    def _pool(self, name: str) -> _DaemonPool:
        pool = self._pools.get(name)
        if pool is None:
            pool = self._pools[name] = _DaemonPool(self.size, f"wot-property-{name or 'shared'}")
        return pool

    async def run(self, function: Callable[..., _T], *args: Any) -> _T:
        """Run blocking ``function(*args)`` on its Thing's pool, keeping context variables."""
        if self.closed:
            raise BusyError("the servient is shutting down", retry_after=RETRY_AFTER)
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        future: asyncio.Future[_T] = loop.create_future()
        call = functools.partial(context.run, function, *args)
        self._pool(_owner(function, args)).submit(_Job(call, loop, future))
        return await future

    def close(self) -> int:
        """Refuse new calls and let the pools' threads end (never waits for them).

        Returns how many calls were still running: their threads are abandoned
        (daemon threads, they never hold up the process's exit).
        """
        self.closed = True
        running = sum(pool.close() for pool in self._pools.values())
        self._pools.clear()
        return running

    def reopen(self) -> None:
        """Accept calls again (a servient started after it was stopped)."""
        self.closed = False
