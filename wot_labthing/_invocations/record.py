"""One action run's record: its state, the deltas it publishes, what a finished one keeps.

An :class:`Invocation` is what code inside an action reaches through
:func:`wot_labthing.current_task` and what every binding shows as the run's
record. It lives apart from the manager that drives it so the record's shape
(members present only when they have a value, the bounded log with its
"dropped" marker, the small deltas an update publishes) can be read on its own.

Updates: a run's progress, status, data and log changes are published on the
hub as small deltas (``id``, ``status`` and what changed; appended log
entries as ``logAppend`` and appended data items as ``dataAppend``), so an
update costs the same whatever the log length; the full record is published
when the run is requested and when it ends. Every full record has
``timeRequested``; a delta never has it. The log kept per run is bounded
(``action_log_lines``; the oldest entries are dropped and a marker entry says
how many). A finished record keeps only what it shows (no events, tasks,
arguments, hooks or tracebacks), so it stays small.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .._jsonutil import rfc3339
from .._schema import to_json

if TYPE_CHECKING:
    from .._affordances import ActionAffordance
    from .._thing import Thing
    from .manager import InvocationManager

__all__ = ["COMPLETED", "FAILED", "FINISHED", "PENDING", "RUNNING", "Invocation"]

_log = logging.getLogger(__name__)

PENDING, RUNNING, COMPLETED, FAILED = "pending", "running", "completed", "failed"
FINISHED = frozenset({COMPLETED, FAILED})
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
        if manager is None:
            return
        if callable(manager):  # a plain callback (tests and drivers' own harnesses)
            manager(self)
        else:  # the InvocationManager (not imported here: it imports this module)
            manager._publish_delta(self, delta)

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
