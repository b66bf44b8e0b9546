"""Action invocations as tracked tasks: records, the manager, retention and shutdown.

Every action run, synchronous or not, is an :class:`Invocation` held by the
:class:`InvocationManager`: it has a status (``pending``, ``running``,
``completed``, ``failed``; a cancelled run ends ``failed`` with a ``cancelled``
problem), times, progress, log, output and error.

Threads: each running sync run gets a thread of its own (an idle one reused, or
one started on demand, up to ``action_threads`` at once), so a one-hour acquisition never delays an
unrelated run; only past that cap does a run wait as ``pending``. ``exclusive``
runs of one Thing still queue behind each other; ``async def`` runs run on the
loop. Runs that have to wait are capped (``action_max_pending`` servient-wide,
``action_max_pending_per_thing`` per Thing): beyond the cap the invocation is
refused with :class:`BusyError` (HTTP 503 with ``Retry-After``) and nothing is
recorded.

Updates: a run's progress, status, data and log changes are published on the
hub as small deltas (``id``, ``status`` and what changed; appended log
entries as ``logAppend`` and appended data items as ``dataAppend``), so an
update costs the same whatever the log length; the full record is published
when the run is requested and when it ends. Every full record has
``timeRequested``; a delta never has it. The log kept per run is bounded
(``action_log_lines``; the oldest entries are dropped and a marker entry says
how many).

Retention: finished records are kept ``action_retention`` seconds. Beyond
``action_max_records`` records, finished records a client has already read go
first, then the oldest finished ones (logged once, since a client may still
want them); pending and running ones are never evicted. Both are O(1) amortised
per invocation. A finished record keeps only what it shows (no events, tasks,
arguments, hooks or tracebacks), so it stays small.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import itertools
import logging
import threading
import traceback
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from . import _context
from ._errors import ActionTimeoutError, BusyError, InvocationCancelled, NotFoundError
from ._jsonutil import dumps, rfc3339
from ._problems import problem_for, public_problem
from ._schema import to_json

if TYPE_CHECKING:
    from ._affordances import ActionAffordance
    from ._events import EventHub
    from ._servient import ServientSettings
    from ._thing import Thing

__all__ = ["FINISHED", "Invocation", "InvocationManager"]

_log = logging.getLogger(__name__)

PENDING, RUNNING, COMPLETED, FAILED = "pending", "running", "completed", "failed"
FINISHED = frozenset({COMPLETED, FAILED})
#: Seconds between retention sweeps at most (tests patch it).
SWEEP_INTERVAL = 5.0
#: Seconds a client refused for a full pending queue is asked to wait.
PENDING_RETRY_AFTER = 5
#: Seconds an action thread with nothing to do waits for the next run before it ends.
IDLE_SECONDS = 5.0
#: Shared stand-ins for a finished run's cancel flag (a finished record keeps no Event).
_CANCELLED = threading.Event()
_CANCELLED.set()
_NOT_CANCELLED = threading.Event()


def _now() -> datetime:
    return datetime.now(UTC)


class Invocation:
    """One run of an action; its public state is read with :meth:`as_record`.

    Code inside the action reaches it through :func:`wot_labthing.current_task`.
    Slots, and dropping everything a finished record does not show, keep a
    retained record small.
    """

    __slots__ = (
        "__dict__",  # empty unless a test or driver patches an attribute
        "__weakref__",
        "_abort_hooks",
        "_cancel",
        "_finished_event",
        "_lock",
        "_log",
        "_log_dropped",
        "_log_dropped_time",
        "_log_size",
        "_manager",
        "_pending_counted",
        "affordance",
        "arguments",
        "cancel_reason",
        "data",
        "error",
        "exception",
        "id",
        "input",
        "order",
        "output",
        "progress",
        "status",
        "task",
        "thing",
        "time_ended",
        "time_requested",
        "time_started",
    )

    _sequence = itertools.count()

    def __init__(
        self,
        thing: Thing,
        affordance: ActionAffordance,
        input_value: Any,
        arguments: dict[str, Any] | None,
        manager: InvocationManager | Callable[[Invocation], None] | None = None,
        *,
        log_size: int = 1000,
    ) -> None:
        self.id = uuid.uuid4().hex
        self.order = next(self._sequence)
        self.thing = thing
        self.affordance = affordance
        self.input = input_value
        self.arguments = arguments
        self.status = PENDING
        self.output: Any = None
        self.data: Any = None
        self.error: dict[str, Any] | None = None
        self.exception: BaseException | None = None
        self.progress: int | None = None
        #: The newest log entries (created on the first one; bounded by ``log_size``).
        self._log: deque[dict[str, Any]] | None = None
        self._log_size = max(1, log_size)
        self._log_dropped = 0
        self._log_dropped_time: str | None = None
        self.time_requested = _now()
        self.time_started: datetime | None = None
        self.time_ended: datetime | None = None
        self._finished_event: asyncio.Event | None = None
        self._cancel = threading.Event()
        self.cancel_reason = "cancelled"
        self._abort_hooks: list[Callable[[], Any]] | None = None
        self._lock = threading.Lock()
        self._manager = manager
        self._pending_counted = False
        self.task: asyncio.Task[None] | None = None

    # Names ------------------------------------------------------------------

    @property
    def thing_name(self) -> str:
        """The name of the Thing whose action this is."""
        return self.thing.thing_name

    @property
    def action(self) -> str:
        """The action's name."""
        return self.affordance.name

    @property
    def is_finished(self) -> bool:
        """True once the run has completed or failed."""
        return self.status in FINISHED

    @property
    def finished(self) -> asyncio.Event:
        """An event set when the run ends (made on first use, on the loop)."""
        if self._finished_event is None:
            self._finished_event = asyncio.Event()
            if self.is_finished:
                self._finished_event.set()
        return self._finished_event

    # Used from inside the action (any thread) ---------------------------------

    @property
    def cancel_requested(self) -> bool:
        """True once a cancel was requested."""
        return self._cancel.is_set()

    def wait_for_cancel(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds; True if a cancel arrived."""
        return self._cancel.wait(timeout)

    def set_progress(self, percent: float) -> None:
        """Set progress, clamped to an integer 0-100."""
        value = max(0, min(100, round(percent)))
        if value != self.progress:
            self.progress = value
            self._changed({"progress": value})

    def set_data(self, data: Any) -> None:
        """Publish a partial result (replaces the previous one; the delta carries it whole)."""
        self.data = to_json(data)
        self._changed({"data": self.data})

    def append_data(self, item: Any) -> None:
        """Append ``item`` to the run's data list; the delta carries only the new item.

        The record shows the whole list. If the data was not a list it becomes one.
        """
        value = to_json(item)
        with self._lock:
            if not isinstance(self.data, list):
                self.data = [] if self.data is None else [self.data]
            self.data.append(value)
        self._changed({"dataAppend": [value]})

    def add_log(self, level: str, message: str, *, trace: str | None = None) -> None:
        """Append a log entry; beyond ``action_log_lines`` the oldest are dropped."""
        entry: dict[str, Any] = {"time": rfc3339(_now()), "level": level, "message": message}
        if trace:
            entry["traceback"] = trace
        with self._lock:
            if self._log is None:
                self._log = deque(maxlen=self._log_size)
            elif len(self._log) == self._log_size:
                self._log_dropped += 1
                self._log_dropped_time = self._log[0]["time"]
            self._log.append(entry)
        self._changed({"logAppend": [entry]})

    @property
    def log(self) -> list[dict[str, Any]]:
        """The run's log as the record shows it (a copy; see :meth:`log_entries`)."""
        return self.log_entries()

    def log_entries(self) -> list[dict[str, Any]]:
        """The kept log, oldest first, led by a marker when older entries were dropped."""
        with self._lock:
            entries = list(self._log) if self._log else []
            dropped, when = self._log_dropped, self._log_dropped_time
        if dropped:
            marker = {
                "time": when or rfc3339(self.time_requested),
                "level": "WARNING",
                "message": f"{dropped} earlier log entries dropped (action_log_lines)",
            }
            entries.insert(0, marker)
        return entries

    def add_abort_hook(self, hook: Callable[[], Any]) -> None:
        """Run ``hook`` when a cancel arrives (at once if it already has)."""
        with self._lock:
            if self._abort_hooks is None:
                self._abort_hooks = []
            self._abort_hooks.append(hook)
            already = self._cancel.is_set()
        if already:
            _run_hook(hook, self.id)

    def remove_abort_hook(self, hook: Callable[[], Any]) -> None:
        """Forget ``hook``."""
        with self._lock, contextlib.suppress(ValueError, AttributeError):
            self._abort_hooks.remove(hook)  # type: ignore[union-attr]

    def _changed(self, delta: dict[str, Any]) -> None:
        manager = self._manager
        if isinstance(manager, InvocationManager):
            manager._publish_delta(self, delta)
        elif manager is not None:  # a plain callback (tests and drivers' own harnesses)
            manager(self)

    # Used by the manager ------------------------------------------------------

    def request_cancel(self) -> None:
        """Flag the run as cancelled and start its abort hooks in threads."""
        with self._lock:
            if self._cancel.is_set():
                return
            self._cancel.set()
            hooks = list(self._abort_hooks or ())
        for hook in hooks:
            threading.Thread(
                target=_run_hook, args=(hook, self.id), name="wot-abort", daemon=True
            ).start()

    def _slim(self) -> None:
        """Drop what a finished record does not show (events, task, arguments, hooks)."""
        if self._finished_event is not None:
            self._finished_event.set()
            self._finished_event = None
        self._cancel = _CANCELLED if self._cancel.is_set() else _NOT_CANCELLED
        self._abort_hooks = None
        self.arguments = None
        self.task = None
        exception = self.exception
        if exception is not None:  # keep the type and message, not the frames
            exception.__traceback__ = None
            exception.__context__ = None
            exception.__cause__ = None

    def as_record(self) -> dict[str, Any]:
        """The invocation record (JSON), protocol-neutral: it names the run by ``id``.

        A binding adds how to reach it (the HTTP binding adds ``href`` and ``links``).
        Members are present only when they have a value (WoT Profile: no ``null``):
        ``input`` when given, ``output`` once completed with one, ``error`` on
        failure, ``progress`` once reported, ``timeStarted``/``timeEnded`` once
        they happened.
        """
        record: dict[str, Any] = {
            "id": self.id,
            "thing": self.thing_name,
            "action": self.action,
            "status": self.status,
        }
        if self.input is not None:
            record["input"] = self.input
        if self.status == COMPLETED and self.output is not None:
            record["output"] = self.output
        if self.error is not None:
            record["error"] = self.error
        if self.progress is not None:
            record["progress"] = self.progress
        record["log"] = self.log_entries()
        record["timeRequested"] = rfc3339(self.time_requested)
        if self.time_started is not None:
            record["timeStarted"] = rfc3339(self.time_started)
        if self.time_ended is not None:
            record["timeEnded"] = rfc3339(self.time_ended)
        if self.data is not None:
            with self._lock:
                record["data"] = list(self.data) if isinstance(self.data, list) else self.data
        return record


def _run_hook(hook: Callable[[], Any], invocation_id: str) -> None:
    try:
        hook()
    except Exception:
        _log.exception("abort hook of invocation %s failed", invocation_id)


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


class _IdleThread:
    """An idle action thread: it sleeps on ``wake`` (held) until a run is handed to it."""

    __slots__ = ("job", "wake")

    def __init__(self) -> None:
        self.job: Callable[[], None] | None = None
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

    def submit(self, job: Callable[[], None]) -> None:
        """Run ``job`` on an idle thread, or on a new one (RuntimeError if none can start)."""
        try:
            idle = self._idle.pop()
        except IndexError:
            name = f"wot-action-{next(self._names)}"
            threading.Thread(target=self._work, args=(job,), name=name, daemon=True).start()
        else:
            idle.job = job
            idle.wake.release()

    def _work(self, job: Callable[[], None] | None) -> None:
        me = _IdleThread()
        while job is not None:
            job()
            job = None
            self._idle.append(me)
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


class InvocationManager:
    """Starts, tracks, cancels and expires invocations for one servient."""

    def __init__(self, settings: ServientSettings, hub: EventHub) -> None:
        self.settings = settings
        self.hub = hub
        self._records: dict[str, Invocation] = {}
        #: Finished records in the order they finished (for retention).
        self._finished: OrderedDict[str, Invocation] = OrderedDict()
        #: Finished records a client has read, in the order they were read (evicted first).
        self._read: OrderedDict[str, None] = OrderedDict()
        self._threads = _ThreadSlots(settings.action_threads)
        self._pool = _ThreadPool(IDLE_SECONDS)
        self._exclusive: dict[str, asyncio.Lock] = {}
        self._pending = 0
        self._pending_by_thing: dict[str, int] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        #: Runs holding a thread slot whose thread has not started yet.
        self._reserved: set[str] = set()
        #: Calls action threads hand to the loop, run in order by one wake-up (see _from_thread).
        self._inbox: list[tuple[Callable[..., None], tuple[Any, ...]]] = []
        self._inbox_lock = threading.Lock()
        self._inbox_scheduled = False
        self._warned_unread = False
        self._accepting = False

    # Lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        """Start the retention timer and accept invocations (call on the running loop)."""
        self._threads = _ThreadSlots(self.settings.action_threads)
        with self._inbox_lock:  # reports for a previous loop's runs: nobody waits for them
            self._inbox.clear()
            self._inbox_scheduled = False
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(
                self._sweep_forever(), context=contextvars.Context()
            )
        self._accepting = True
        _context.install_log_capture()

    @property
    def accepting(self) -> bool:
        """False once shutdown began: new invocations are refused (HTTP 503)."""
        return self._accepting

    async def shutdown(self) -> None:
        """Refuse new runs, cancel every unfinished one and wait up to the grace time.

        A run still going after ``shutdown_grace`` (an action that ignores its
        cancellation) is recorded ``failed`` and its thread abandoned: action
        threads are daemon threads, so they never hold the process up.
        """
        self._accepting = False
        self._pool.stop_idle()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        running = [record for record in self._records.values() if not record.is_finished]
        for record in running:
            self._cancel(record, "cancelled because the servient shut down")
        waiting = [asyncio.ensure_future(record.finished.wait()) for record in running]
        if waiting:
            _, pending = await asyncio.wait(waiting, timeout=self.settings.shutdown_grace)
            for future in pending:
                future.cancel()
            abandoned = 0
            for record in running:
                if not record.is_finished:
                    abandoned += 1
                    self._finish(
                        record,
                        FAILED,
                        exception=InvocationCancelled("servient shut down; the action ignored it"),
                    )
            if abandoned:
                _log.warning(
                    "%d action run(s) ignored their cancellation for %g s; "
                    "their threads are abandoned",
                    abandoned,
                    self.settings.shutdown_grace,
                )
        self._pool.stop_idle()

    # Starting -------------------------------------------------------------------

    def invoke(self, thing: Thing, affordance: ActionAffordance, input_value: Any) -> Invocation:
        """Validate ``input_value`` and start a run; raises before recording anything.

        Raises:
            InputError: the input breaks the action's schema (no record is made).
            BusyError: the action is exclusive with ``busy="reject"`` and the Thing is
                busy, the servient is shutting down, or too many runs are pending.
        """
        if not self._accepting:
            raise BusyError("the servient is shutting down", retry_after=PENDING_RETRY_AFTER)
        arguments = affordance.parse_input(input_value)
        name = thing.thing_name
        lock = self._exclusive_lock(thing) if affordance.exclusive else None
        if lock is not None and lock.locked() and affordance.busy == "reject":
            raise BusyError(
                f"{name} is busy with another exclusive action",
                retry_after=affordance.retry_after,
            )
        # Does the run have to wait (pending)? Only then do the pending caps apply.
        slot = False
        if lock is None:
            starts_now = affordance.is_async or (slot := self._threads.try_acquire())
        else:
            starts_now = False
        if not starts_now:
            self._check_pending_cap(name)
        record = Invocation(
            thing,
            affordance,
            input_value,
            arguments,
            self,
            log_size=self.settings.action_log_lines,
        )
        self._records[record.id] = record
        if not starts_now:  # it waits: counted against the pending caps
            record._pending_counted = True
            self._pending += 1
            self._pending_by_thing[name] = self._pending_by_thing.get(name, 0) + 1
        self._publish(record)
        if slot:  # held for the run; its thread starts when the task first runs
            self._reserved.add(record.id)
        # A clean context: neither the run's task nor its done callback (which would
        # otherwise copy the caller's context) may keep the HTTP request alive.
        clean = contextvars.Context()
        task = asyncio.get_running_loop().create_task(self._run(record, lock), context=clean)
        record.task = task
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._task_done, record), context=clean)
        self._enforce_max_count()
        return record

    def _task_done(self, record: Invocation, task: asyncio.Task[None]) -> None:
        """Tidy up a task cancelled before its first step (its body never ran)."""
        self._tasks.discard(task)
        if record.id in self._reserved:
            self._reserved.discard(record.id)
            self._threads.release()
        if not record.is_finished:
            self._finish(record, FAILED, exception=InvocationCancelled(record.cancel_reason))

    def _check_pending_cap(self, thing: str) -> None:
        if self._pending >= self.settings.action_max_pending:
            raise BusyError(
                f"too many pending action runs ({self._pending}); try again later",
                retry_after=PENDING_RETRY_AFTER,
            )
        if self._pending_by_thing.get(thing, 0) >= self.settings.action_max_pending_per_thing:
            raise BusyError(
                f"too many pending action runs on {thing}; try again later",
                retry_after=PENDING_RETRY_AFTER,
            )

    def _exclusive_lock(self, thing: Thing) -> asyncio.Lock:
        return self._exclusive.setdefault(thing.thing_name, asyncio.Lock())

    async def _run(self, record: Invocation, lock: asyncio.Lock | None) -> None:
        try:
            if lock is not None:
                async with lock:
                    await self._run_body(record)
            else:
                await self._run_body(record)
        except asyncio.CancelledError as exc:
            self._finish(record, FAILED, exception=exc)
        except BaseException as exc:  # every failure is recorded
            self._finish(record, FAILED, exception=exc)
            if not isinstance(exc, Exception | InvocationCancelled):
                raise

    async def _run_body(self, record: Invocation) -> None:
        if record.cancel_requested:
            raise InvocationCancelled("cancelled before it started")
        timeout = record.affordance.timeout
        if record.affordance.is_async:
            self._mark_running(record)
            scope = asyncio.timeout(timeout)
            try:
                async with scope:
                    output = await self._call_async(record)
            except TimeoutError:
                if not scope.expired():  # the action's own timeout (e.g. an instrument's)
                    raise
                raise ActionTimeoutError(
                    f"action {record.action!r} ran longer than {timeout} s"
                ) from None
        else:
            if record.id in self._reserved:
                self._reserved.discard(record.id)
            else:
                await self._threads.acquire()
            if record.cancel_requested:
                self._threads.release()
                raise InvocationCancelled("cancelled before it started")
            thread = self._start_thread(record)
            output = await self._await_thread(record, thread, timeout)
        if record.cancel_requested:
            raise InvocationCancelled("cancelled while it ran")
        self._finish(record, COMPLETED, output=output)

    async def _call_async(self, record: Invocation) -> Any:
        token = _context.set_current(record)
        try:
            return await record.affordance.function(record.thing, **(record.arguments or {}))  # type: ignore[misc]
        finally:
            _context.reset_current(token)

    def _start_thread(self, record: Invocation) -> asyncio.Future[tuple[Any, BaseException | None]]:
        """Start the run's own thread (its slot is already held); a future for its outcome."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[Any, BaseException | None]] = loop.create_future()
        assert record.affordance.function is not None
        function = functools.partial(
            record.affordance.function, record.thing, **(record.arguments or {})
        )

        def done(outcome: tuple[Any, BaseException | None]) -> None:
            self._threads.release()
            if not future.done():
                future.set_result(outcome)

        def body() -> None:
            self._from_thread(loop, self._mark_running, record)  # once its thread really runs
            try:
                outcome: tuple[Any, BaseException | None] = (
                    _context.run_in_context(record, function),
                    None,
                )
            except BaseException as exc:  # handed to the loop, recorded there
                outcome = (None, exc)
            self._from_thread(loop, done, outcome)

        try:
            self._pool.submit(body)
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

    async def _await_thread(
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

    def _mark_running(self, record: Invocation) -> None:
        if record.status == PENDING:
            self._unpend(record)
            record.status = RUNNING
            record.time_started = _now()
            self._publish_delta(record, {"timeStarted": rfc3339(record.time_started)})

    def _unpend(self, record: Invocation) -> None:
        """Stop counting ``record`` as pending (it started or ended)."""
        if record._pending_counted:
            record._pending_counted = False
            self._pending -= 1
            name = record.thing_name
            count = self._pending_by_thing.get(name, 0) - 1
            if count > 0:
                self._pending_by_thing[name] = count
            else:
                self._pending_by_thing.pop(name, None)

    def _finish(
        self,
        record: Invocation,
        status: str,
        *,
        output: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if record.is_finished:
            return
        if exception is not None:
            if isinstance(exception, asyncio.CancelledError):
                exception = InvocationCancelled(record.cancel_reason)
            record.exception = exception
            debug = self.settings.debug
            record.error = public_problem(problem_for(exception), debug=debug)
            trace = "".join(traceback.format_exception(exception))
            is_cancel = isinstance(exception, InvocationCancelled)
            if not is_cancel and not debug:  # the trace stays in the server log (no leaks)
                _log.error("invocation %s of %s failed\n%s", record.id, record.action, trace)
            record.add_log(
                "WARNING" if is_cancel else "ERROR",
                record.error["detail"] if not debug else f"{type(exception).__name__}: {exception}",
                trace=trace if debug and not is_cancel else None,
            )
        else:
            try:
                value = to_json(output)
                dumps(value)
            except Exception as exc:  # a NaN or an unserialisable output fails the run
                self._finish(record, FAILED, exception=exc)
                return
            record.output = value
        self._unpend(record)
        record.status = status
        if status == COMPLETED and record.progress is not None:
            record.progress = 100
        if record.time_started is None and status == COMPLETED:
            record.time_started = _now()
        record.time_ended = _now()
        record._slim()
        self._finished[record.id] = record
        self._publish(record)
        self._enforce_max_count()

    def _publish(self, record: Invocation) -> None:
        """Publish the full record (when requested and when it ends)."""
        self.hub.publish(record.thing_name, "action", record.action, record.as_record())

    def _publish_delta(self, record: Invocation, delta: dict[str, Any]) -> None:
        """Publish what changed: a small message whatever the size of the record."""
        message = {"id": record.id, "status": record.status, **delta}
        self.hub.publish(record.thing_name, "action", record.action, message)

    # Querying, cancelling, removing -----------------------------------------------

    def get(self, invocation_id: str) -> Invocation:
        """The record ``invocation_id``, or :class:`NotFoundError` (unknown or expired)."""
        try:
            return self._records[invocation_id]
        except KeyError:
            raise NotFoundError(
                f"no invocation {invocation_id!r} (unknown or expired)",
                kind="invocation",
                name=invocation_id,
            ) from None

    def mark_read(self, record: Invocation) -> None:
        """Note that a client has seen ``record`` finished: it may be evicted first."""
        if record.is_finished and record.id not in self._read and record.id in self._finished:
            self._read[record.id] = None

    def list(
        self, *, thing: str | None = None, action: str | None = None, status: str | None = None
    ) -> list[Invocation]:
        """Invocations newest first, optionally filtered."""
        records = [
            record
            for record in self._records.values()
            if (thing is None or record.thing_name == thing)
            and (action is None or record.action == action)
            and (status is None or record.status == status)
        ]
        records.reverse()  # the dict keeps invocation order
        return records

    def cancel_or_remove(self, invocation_id: str) -> None:
        """Cancel a pending or running run (its record stays); remove a finished one."""
        record = self.get(invocation_id)
        if record.is_finished:
            self._drop(invocation_id)
        else:
            self._cancel(record, "cancelled by a client request")

    def _drop(self, invocation_id: str) -> None:
        self._records.pop(invocation_id, None)
        self._finished.pop(invocation_id, None)
        self._read.pop(invocation_id, None)

    def _cancel(self, record: Invocation, reason: str) -> None:
        # Async actions get task cancellation; a running sync action stops at its next
        # cancellation point while its task waits (bounded) for the worker thread.
        if not record.cancel_requested:
            record.cancel_reason = reason
        record.request_cancel()
        if record.task is not None:
            record.task.cancel()

    async def wait(self, record: Invocation, timeout: float | None) -> bool:  # noqa: ASYNC109
        """Wait up to ``timeout`` seconds (None: forever) for the run to end; True if it did."""
        if record.is_finished:
            return True
        if timeout is not None and timeout <= 0:
            return False
        # No helper task: a task would carry the caller's context (an HTTP request)
        # for as long as the run goes on.
        try:
            async with asyncio.timeout(timeout):
                await record.finished.wait()
        except TimeoutError:
            return False
        return True

    # Retention ------------------------------------------------------------------

    def expire(self, now: datetime | None = None) -> int:
        """Drop finished records older than the retention time; returns how many.

        Records finish in time order, so this pops from the front: O(expired).
        """
        now = now or _now()
        retention = self.settings.action_retention
        count = 0
        while self._finished:
            invocation_id, record = next(iter(self._finished.items()))
            ended = record.time_ended
            if ended is not None and (now - ended).total_seconds() < retention:
                break
            self._drop(invocation_id)
            count += 1
        return count

    def _enforce_max_count(self) -> None:
        """Keep at most ``action_max_records``: read records go first, then the oldest."""
        limit = self.settings.action_max_records
        while len(self._records) > limit:
            if self._read:
                invocation_id, _ = self._read.popitem(last=False)
            elif self._finished:
                invocation_id = next(iter(self._finished))
                if not self._warned_unread:
                    self._warned_unread = True
                    _log.warning(
                        "more than action_max_records=%d invocation records: evicting "
                        "finished records no client has read yet (raise action_max_records "
                        "to keep them for action_retention)",
                        limit,
                    )
            else:
                return  # only pending and running records: never evicted
            self._drop(invocation_id)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(min(SWEEP_INTERVAL, max(0.05, self.settings.action_retention / 4)))
            self.expire()

    @property
    def pending_count(self) -> int:
        """Runs waiting for a thread or for their Thing's exclusive lock."""
        return self._pending

    @property
    def thread_count(self) -> int:
        """Action threads running now (abandoned ones included)."""
        return self._threads.active

    @property
    def policy(self) -> dict[str, Any]:
        """The retention policy, as clients see it."""
        return {
            "retentionSeconds": self.settings.action_retention,
            "maxRecords": self.settings.action_max_records,
        }
