"""Threads for synchronous action runs: the ``action_threads`` slots and the idle-thread pool.

Each running sync run gets a thread of its own (an idle one reused, or one
started on demand, up to ``action_threads`` at once), so a one-hour
acquisition never delays an unrelated run; only past that cap does a run wait
as ``pending``. The slots count threads, the pool keeps idle threads to hand
the next run to: two small loop-side and thread-side mechanisms the manager
composes, kept here so the manager reads as the run's life, not its plumbing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import _context
from .._errors import ActionTimeoutError

if TYPE_CHECKING:
    from .._servient import ServientSettings
    from .record import Invocation

__all__ = ["IDLE_SECONDS", "ThreadRunner"]

_log = logging.getLogger(__name__)

#: Seconds an action thread with nothing to do waits for the next run before it ends.
IDLE_SECONDS = 5.0


class _ThreadSlots:
    """Counts running action threads against ``action_threads``; runs past it wait in order.

    Used on the event loop only. A slot is held until the thread really ends,
    so an abandoned thread (an action that ignored its cancellation) still counts.
    """

    def __init__(self, cap: int) -> None:
        self.cap = max(1, cap)
        self.active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    def try_acquire(self) -> bool:
        if self.active < self.cap and not self._waiters:
            self.active += 1
            return True
        return False

    async def acquire(self) -> None:
        if self.try_acquire():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over just as we were cancelled
            raise

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # hand the slot over
                return
        self.active -= 1


#: A pooled thread's work: returns what to call once the thread is idle again, if anything.
_Job = Callable[[], Callable[[], None] | None]


class _IdleThread:
    """An idle action thread: it sleeps on ``wake`` (held) until a run is handed to it."""

    __slots__ = ("job", "wake")

    def __init__(self) -> None:
        self.job: _Job | None = None
        self.wake = threading.Lock()
        self.wake.acquire()


class _ThreadPool:
    """Daemon threads for sync runs, reused: an idle thread takes the next run, else one starts.

    Starting a thread blocks the loop until the OS schedules it (on a loaded
    machine, often a millisecond or more), so a quick action paid for a thread
    start on every run; handing a run to an idle thread is a lock release that
    never blocks. Threads are started on demand without a bound of their own (the
    manager's ``action_threads`` slots bound them), the most recently idle one is
    reused first, and a thread ends after ``idle`` seconds with nothing to do, or
    at :meth:`stop_idle`. ``list.append``/``pop``/``remove`` are atomic, so the
    idle list needs no lock of its own.
    """

    def __init__(self, idle: float) -> None:
        self._idle_seconds = idle
        self._idle: list[_IdleThread] = []
        self._names = itertools.count(1)

    def submit(self, job: _Job) -> None:
        """Run ``job`` on an idle thread, or on a new one (RuntimeError if none can start).

        What ``job`` returns, if anything, is called once the thread is back in the
        idle list: a run's last report goes out then, so the run its caller starts
        next finds this thread idle instead of starting another.
        """
        try:
            idle = self._idle.pop()
        except IndexError:
            name = f"wot-action-{next(self._names)}"
            threading.Thread(target=self._work, args=(job,), name=name, daemon=True).start()
        else:
            idle.job = job
            idle.wake.release()

    def _work(self, job: _Job | None) -> None:
        me = _IdleThread()
        while job is not None:
            then = job()
            job = None
            self._idle.append(me)
            if then is not None:
                then()
            if not me.wake.acquire(timeout=self._idle_seconds):
                try:
                    self._idle.remove(me)
                    return  # nobody claimed this thread: it ends
                except ValueError:  # a submitter claimed it just now: its job is on the way
                    me.wake.acquire()
            job, me.job = me.job, None

    def stop_idle(self) -> None:
        """Let every idle thread end now (running ones end when they are idle too long)."""
        while True:
            try:
                idle = self._idle.pop()
            except IndexError:
                return
            idle.job = None
            idle.wake.release()


class ThreadRunner:
    """Runs a sync action's function on a pooled thread and hands its outcome to the loop.

    The manager holds the run's slot; this starts the thread, queues the
    thread's reports ("running", "done") for the loop, and waits for the
    outcome with the action's timeout and a bounded wait on cancellation.
    """

    def __init__(self, settings: ServientSettings) -> None:
        self.settings = settings
        self.pool = _ThreadPool(IDLE_SECONDS)
        #: Calls action threads hand to the loop, run in order by one wake-up (see _from_thread).
        self._inbox: list[tuple[Callable[..., None], tuple[Any, ...]]] = []
        self._inbox_lock = threading.Lock()
        self._inbox_scheduled = False

    def reset(self) -> None:
        """Forget reports for a previous loop's runs: nobody waits for them."""
        with self._inbox_lock:
            self._inbox.clear()
            self._inbox_scheduled = False

    def start(
        self,
        record: Invocation,
        mark_running: Callable[[Invocation], None],
        release_slot: Callable[[], None],
    ) -> asyncio.Future[tuple[Any, BaseException | None]]:
        """Start the run's own thread (its slot is already held); a future for its outcome.

        ``mark_running`` is called on the loop once the thread really runs,
        ``release_slot`` once it has ended.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[Any, BaseException | None]] = loop.create_future()
        assert record.affordance.function is not None
        function = functools.partial(
            record.affordance.function, record.thing, **(record.arguments or {})
        )

        def done(outcome: tuple[Any, BaseException | None]) -> None:
            release_slot()
            if not future.done():
                future.set_result(outcome)

        def body() -> Callable[[], None]:
            self._from_thread(loop, mark_running, record)  # once its thread really runs
            try:
                outcome: tuple[Any, BaseException | None] = (
                    _context.run_in_context(record, function),
                    None,
                )
            except BaseException as exc:  # handed to the loop, recorded there
                outcome = (None, exc)
            return functools.partial(self._from_thread, loop, done, outcome)

        try:
            self.pool.submit(body)
        except RuntimeError as exc:  # the system refused another thread
            done((None, exc))
        return future

    def _from_thread(
        self, loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: Any
    ) -> None:
        """Have the loop call ``callback(*args)``, from an action thread.

        Calls queue in an inbox that one loop wake-up drains in order: a quick run's
        "running" and "done", or many runs ending together, cost one wake-up, not one each.
        """
        with self._inbox_lock:
            self._inbox.append((callback, args))
            if self._inbox_scheduled:
                return
            self._inbox_scheduled = True
        try:
            loop.call_soon_threadsafe(self._drain_inbox)
        except RuntimeError:  # the loop closed: nobody waits any more
            with self._inbox_lock:
                self._inbox.clear()
                self._inbox_scheduled = False

    def _drain_inbox(self) -> None:
        with self._inbox_lock:
            calls, self._inbox = self._inbox, []
            self._inbox_scheduled = False
        for callback, args in calls:
            try:
                callback(*args)
            except Exception:  # one broken call must not drop the others
                _log.exception("handling an action thread's report failed")

    async def wait(
        self,
        record: Invocation,
        future: asyncio.Future[tuple[Any, BaseException | None]],
        limit: float | None,
    ) -> Any:
        scope = asyncio.timeout(limit)
        try:
            async with scope:
                output, error = await asyncio.shield(future)
        except TimeoutError:
            if not scope.expired():
                raise
            record.request_cancel()
            await self._await_worker(future)
            raise ActionTimeoutError(
                f"action {record.action!r} ran longer than {limit} s"
            ) from None
        except asyncio.CancelledError:
            # Stop cooperatively: the thread reaches a cancellation point (bounded wait).
            record.request_cancel()
            await self._await_worker(future)
            raise
        if error is not None:
            raise error
        return output

    async def _await_worker(self, future: asyncio.Future[Any]) -> None:
        with contextlib.suppress(BaseException):  # its outcome no longer matters
            await asyncio.wait_for(asyncio.shield(future), self.settings.shutdown_grace)
        if not future.done():
            _log.warning("an action ignored its cancellation; leaving its thread behind")
