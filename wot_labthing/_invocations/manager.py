"""The invocation manager: starts, tracks, cancels and ends the action runs of one servient.

Every action run, synchronous or not, is an :class:`~.record.Invocation` held by
the :class:`InvocationManager`: it has a status (``pending``, ``running``,
``completed``, ``failed``; a cancelled run ends ``failed`` with a ``cancelled``
problem), times, progress, log, output and error.

``exclusive`` runs of one Thing queue behind each other; ``async def`` runs run
on the loop; sync runs get a thread each (``threads.py``). Runs that have to
wait are capped (``action_max_pending`` servient-wide,
``action_max_pending_per_thing`` per Thing): beyond the cap the invocation is
refused with :class:`BusyError` (HTTP 503 with ``Retry-After``) and nothing is
recorded. Finished records are kept and evicted by ``retention.py``; shutdown
cancels every unfinished run and waits up to ``shutdown_grace``.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import traceback
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .. import _context
from .._errors import ActionTimeoutError, BusyError, InvocationCancelled
from .._jsonutil import dumps, rfc3339
from .._problems import problem_for, public_problem
from .._schema import to_json
from .record import COMPLETED, FAILED, PENDING, RUNNING, Invocation, _now
from .retention import RecordStore
from .threads import ThreadRunner, _ThreadSlots

if TYPE_CHECKING:
    from .._affordances import ActionAffordance
    from .._events import EventHub
    from .._servient import ServientSettings
    from .._thing import Thing

__all__ = ["PENDING_RETRY_AFTER", "InvocationManager"]

_log = logging.getLogger(__name__)

#: Seconds a client refused for a full pending queue is asked to wait.
PENDING_RETRY_AFTER = 5


class InvocationManager:
    """Starts, tracks, cancels and expires invocations for one servient."""

    def __init__(self, settings: ServientSettings, hub: EventHub) -> None:
        self.settings = settings
        self.hub = hub
        #: Every record, in invocation order, and which finished ones are kept.
        self._retention = RecordStore(settings)
        self._records = self._retention.records
        self._threads = _ThreadSlots(settings.action_threads)
        self._runner = ThreadRunner(settings)
        self._exclusive: dict[str, asyncio.Lock] = {}
        self._pending = 0
        self._pending_by_thing: dict[str, int] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        #: Runs holding a thread slot whose thread has not started yet.
        self._reserved: set[str] = set()
        self._accepting = False

    # Lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        """Start the retention timer and accept invocations (call on the running loop)."""
        self._threads = _ThreadSlots(self.settings.action_threads)
        self._runner.reset()
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(
                self._retention.sweep_forever(), context=contextvars.Context()
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
        self._runner.pool.stop_idle()
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
        self._runner.pool.stop_idle()

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
        self._retention.enforce_max_count()
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
            thread = self._runner.start(record, self._mark_running, self._release_slot)
            output = await self._runner.wait(record, thread, timeout)
        if record.cancel_requested:
            raise InvocationCancelled("cancelled while it ran")
        self._finish(record, COMPLETED, output=output)

    async def _call_async(self, record: Invocation) -> Any:
        token = _context.set_current(record)
        try:
            return await record.affordance.function(record.thing, **(record.arguments or {}))  # type: ignore[misc]
        finally:
            _context.reset_current(token)

    def _release_slot(self) -> None:
        """A run's thread ended: its slot goes to the next waiting run."""
        self._threads.release()

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
        self._retention.finished[record.id] = record
        self._publish(record)
        self._retention.enforce_max_count()

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
        return self._retention.get(invocation_id)

    def mark_read(self, record: Invocation) -> None:
        """Note that a client has seen ``record`` finished: it may be evicted first."""
        self._retention.mark_read(record)

    def list(
        self, *, thing: str | None = None, action: str | None = None, status: str | None = None
    ) -> list[Invocation]:
        """Invocations newest first, optionally filtered."""
        return self._retention.list(thing=thing, action=action, status=status)

    def expire(self, now: datetime | None = None) -> int:
        """Drop finished records older than the retention time; returns how many."""
        return self._retention.expire(now)

    def cancel_or_remove(self, invocation_id: str) -> None:
        """Cancel a pending or running run (its record stays); remove a finished one."""
        record = self.get(invocation_id)
        if record.is_finished:
            self._retention.drop(invocation_id)
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
