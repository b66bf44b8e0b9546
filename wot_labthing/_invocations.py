"""Action invocations as tracked tasks: records, the manager, retention and shutdown.

Every action run, synchronous or not, is an :class:`Invocation` held by the
:class:`InvocationManager`: it has a status (``pending``, ``running``,
``completed``, ``failed``; a cancelled run ends ``failed`` with a ``cancelled``
problem), times, progress, log, output and error. Sync actions run on a bounded
worker pool (a run waiting for a worker is ``pending``); ``async def`` actions run
on the loop. Finished records are kept for a retention time and up to a maximum
count, expired by a timer; pending and running ones are never evicted.
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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from . import _context
from ._errors import ActionTimeoutError, BusyError, InvocationCancelled, NotFoundError
from ._jsonutil import rfc3339
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
_MAX_LOG_LINES = 1000


def _now() -> datetime:
    return datetime.now(UTC)


class Invocation:
    """One run of an action; its public state is read with :meth:`as_record`.

    Code inside the action reaches it through :func:`wot_labthing.current_task`.
    """

    _sequence = itertools.count()

    def __init__(
        self,
        thing: Thing,
        affordance: ActionAffordance,
        input_value: Any,
        arguments: dict[str, Any],
        notify: Callable[[Invocation], None],
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
        self.log: list[dict[str, Any]] = []
        self.time_requested = _now()
        self.time_started: datetime | None = None
        self.time_ended: datetime | None = None
        self.finished = asyncio.Event()
        self._cancel = threading.Event()
        self.cancel_reason = "cancelled"
        self._abort_hooks: list[Callable[[], Any]] = []
        self._lock = threading.Lock()
        self._notify = notify
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
            self._notify(self)

    def set_data(self, data: Any) -> None:
        """Publish a partial result."""
        self.data = to_json(data)
        self._notify(self)

    def add_log(self, level: str, message: str, *, trace: str | None = None) -> None:
        """Append a log entry (kept to the newest 1000)."""
        entry: dict[str, Any] = {"time": rfc3339(_now()), "level": level, "message": message}
        if trace:
            entry["traceback"] = trace
        with self._lock:
            self.log.append(entry)
            del self.log[:-_MAX_LOG_LINES]

    def add_abort_hook(self, hook: Callable[[], Any]) -> None:
        """Run ``hook`` when a cancel arrives (at once if it already has)."""
        with self._lock:
            self._abort_hooks.append(hook)
            already = self._cancel.is_set()
        if already:
            _run_hook(hook, self.id)

    def remove_abort_hook(self, hook: Callable[[], Any]) -> None:
        """Forget ``hook``."""
        with self._lock, contextlib.suppress(ValueError):
            self._abort_hooks.remove(hook)

    # Used by the manager ------------------------------------------------------

    def request_cancel(self) -> None:
        """Flag the run as cancelled and start its abort hooks in threads."""
        with self._lock:
            if self._cancel.is_set():
                return
            self._cancel.set()
            hooks = list(self._abort_hooks)
        for hook in hooks:
            threading.Thread(
                target=_run_hook, args=(hook, self.id), name="wot-abort", daemon=True
            ).start()

    def as_record(self) -> dict[str, Any]:
        """The invocation record (JSON), protocol-neutral: it names the run by ``id``.

        A binding adds how to reach it (the HTTP binding adds ``href`` and ``links``).
        """
        record: dict[str, Any] = {
            "id": self.id,
            "thing": self.thing_name,
            "action": self.action,
            "status": self.status,
            "input": self.input,
            "output": self.output,
            "error": self.error,
            "progress": self.progress,
            "log": list(self.log),
            "timeRequested": rfc3339(self.time_requested),
            "timeStarted": rfc3339(self.time_started) if self.time_started else None,
            "timeEnded": rfc3339(self.time_ended) if self.time_ended else None,
        }
        if self.data is not None:
            record["data"] = self.data
        return record


def _run_hook(hook: Callable[[], Any], invocation_id: str) -> None:
    try:
        hook()
    except Exception:
        _log.exception("abort hook of invocation %s failed", invocation_id)


class InvocationManager:
    """Starts, tracks, cancels and expires invocations for one servient."""

    def __init__(self, settings: ServientSettings, hub: EventHub) -> None:
        self.settings = settings
        self.hub = hub
        self._records: dict[str, Invocation] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._exclusive: dict[str, asyncio.Lock] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # Lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        """Create the worker pool and the retention timer (call on the running loop)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=self.settings.action_workers, thread_name_prefix="wot-action"
            )
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())
        _context.install_log_capture()

    async def shutdown(self) -> None:
        """Cancel every unfinished run and wait up to the grace time for them to end."""
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
            for record in running:
                if not record.is_finished:
                    self._finish(
                        record,
                        FAILED,
                        exception=InvocationCancelled("servient shut down; the action ignored it"),
                    )
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    # Starting -------------------------------------------------------------------

    def invoke(self, thing: Thing, affordance: ActionAffordance, input_value: Any) -> Invocation:
        """Validate ``input_value`` and start a run; raises before recording anything.

        Raises:
            InputError: the input breaks the action's schema (no record is made).
            BusyError: the action is exclusive with ``busy="reject"`` and the Thing is busy.
        """
        arguments = affordance.parse_input(input_value)
        lock = self._exclusive_lock(thing) if affordance.exclusive else None
        if lock is not None and lock.locked() and affordance.busy == "reject":
            raise BusyError(
                f"{thing.thing_name} is busy with another exclusive action",
                retry_after=affordance.retry_after,
            )
        record = Invocation(thing, affordance, input_value, arguments, self._publish)
        self._records[record.id] = record
        self._enforce_max_count()
        task = asyncio.get_running_loop().create_task(self._run(record, lock))
        record.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._publish(record)
        return record

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
            coroutine = self._call_async(record)
            try:
                output = await asyncio.wait_for(coroutine, timeout)
            except TimeoutError:
                raise ActionTimeoutError(
                    f"action {record.action!r} ran longer than {timeout} s"
                ) from None
        else:
            output = await self._call_sync(record, timeout)
        if record.cancel_requested:
            raise InvocationCancelled("cancelled while it ran")
        self._finish(record, COMPLETED, output=output)

    async def _call_async(self, record: Invocation) -> Any:
        token = _context.set_current(record)
        try:
            return await record.affordance.function(record.thing, **record.arguments)  # type: ignore[misc]
        finally:
            _context.reset_current(token)

    async def _call_sync(self, record: Invocation, limit: float | None) -> Any:
        assert self._pool is not None, "InvocationManager.start() was not called"
        loop = asyncio.get_running_loop()
        assert record.affordance.function is not None
        function = functools.partial(record.affordance.function, record.thing, **record.arguments)

        def work() -> Any:
            loop.call_soon_threadsafe(self._mark_running, record)
            return _context.run_in_context(record, function)

        context = contextvars.copy_context()
        # Submit to the pool ourselves: the concurrent future's cancel() is truthful
        # (False once the worker runs), unlike run_in_executor's asyncio future, whose
        # cancel() succeeds at once and would end the record while the thread still runs.
        work_future = self._pool.submit(context.run, work)
        future = asyncio.wrap_future(work_future, loop=loop)
        try:
            return await asyncio.wait_for(asyncio.shield(future), limit)
        except TimeoutError:
            record.request_cancel()
            await self._await_worker(future)
            raise ActionTimeoutError(
                f"action {record.action!r} ran longer than {limit} s"
            ) from None
        except asyncio.CancelledError:
            # Cancelled while pending (not started) or running: stop cooperatively.
            record.request_cancel()
            if not work_future.cancel():  # already running: let it reach a cancellation point
                await self._await_worker(future)
            raise

    async def _await_worker(self, future: asyncio.Future[Any]) -> None:
        with contextlib.suppress(BaseException):  # its outcome no longer matters
            await asyncio.wait_for(asyncio.shield(future), self.settings.shutdown_grace)
        if not future.done():
            _log.warning("an action ignored its cancellation; leaving its thread behind")

    def _mark_running(self, record: Invocation) -> None:
        if record.status == PENDING:
            record.status = RUNNING
            record.time_started = _now()
            self._publish(record)

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
                record.output = to_json(output)
                from ._jsonutil import dumps

                dumps(record.output)
            except Exception as exc:  # a NaN or an unserialisable output fails the run
                self._finish(record, FAILED, exception=exc)
                return
        record.status = status
        if status == COMPLETED and record.progress is not None:
            record.progress = 100
        if record.time_started is None and status == COMPLETED:
            record.time_started = _now()
        record.time_ended = _now()
        record.finished.set()
        self._publish(record)
        self._enforce_max_count()

    def _publish(self, record: Invocation) -> None:
        self.hub.publish(record.thing_name, "action", record.action, record.as_record())

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
        return sorted(records, key=lambda record: record.order, reverse=True)

    def cancel_or_remove(self, invocation_id: str) -> None:
        """Cancel a pending or running run (its record stays); remove a finished one."""
        record = self.get(invocation_id)
        if record.is_finished:
            del self._records[invocation_id]
        else:
            self._cancel(record, "cancelled by a client request")

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
        try:
            await asyncio.wait_for(asyncio.shield(record.finished.wait()), timeout)
        except TimeoutError:
            return False
        return True

    # Retention ------------------------------------------------------------------

    def expire(self, now: datetime | None = None) -> int:
        """Drop finished records older than the retention time; returns how many."""
        now = now or _now()
        retention = self.settings.action_retention
        expired = [
            record.id
            for record in self._records.values()
            if record.is_finished
            and record.time_ended is not None
            and (now - record.time_ended).total_seconds() >= retention
        ]
        for invocation_id in expired:
            del self._records[invocation_id]
        return len(expired)

    def _enforce_max_count(self) -> None:
        excess = len(self._records) - self.settings.action_max_records
        if excess <= 0:
            return
        finished = sorted(
            (record for record in self._records.values() if record.is_finished),
            key=lambda record: record.order,
        )
        for record in finished[:excess]:
            del self._records[record.id]

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(min(SWEEP_INTERVAL, max(0.05, self.settings.action_retention / 4)))
            self.expire()

    @property
    def policy(self) -> dict[str, Any]:
        """The retention policy, as clients see it."""
        return {
            "retentionSeconds": self.settings.action_retention,
            "maxRecords": self.settings.action_max_records,
        }
