"""What code inside an action can reach: its invocation, progress, cancellation, logs.

The running invocation lives in a context variable, copied into the worker
thread of a sync action, so ``current_task()`` works in sync and ``async def``
actions alike. Outside an invocation (a driver used from a plain script) every
helper silently does nothing, as LabThings users expect.

Cancellation is cooperative for sync code: :func:`raise_if_cancelled` and
:func:`cancellable_sleep` raise :class:`InvocationCancelled`, a ``BaseException``
that ``except Exception`` cannot swallow. Async actions are cancelled with task
cancellation. Abort hooks (:func:`abort_hook`) run as soon as a cancel arrives,
in another thread, so a stage driver can send its "stop" command at once.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from ._errors import InvocationCancelled

if TYPE_CHECKING:
    from ._invocations import Invocation

__all__ = [
    "abort_hook",
    "append_task_data",
    "cancellable_sleep",
    "current_invocation",
    "current_task",
    "raise_if_cancelled",
    "update_task_data",
    "update_task_progress",
]

_current: ContextVar[Invocation | None] = ContextVar("wot_labthing_invocation", default=None)


def current_invocation() -> Invocation | None:
    """The invocation running the calling code, or None outside an action."""
    return _current.get()


#: The LabThings name of :func:`current_invocation`.
current_task = current_invocation


def update_task_progress(percent: float) -> None:
    """Set the running invocation's progress (clamped to an integer 0-100); no-op outside."""
    invocation = _current.get()
    if invocation is not None:
        invocation.set_progress(percent)


def update_task_data(data: Any) -> None:
    """Publish a partial result (JSON data) on the running invocation; no-op outside."""
    invocation = _current.get()
    if invocation is not None:
        invocation.set_data(data)


def append_task_data(item: Any) -> None:
    """Append one item (e.g. a reading) to the running invocation's data list; no-op outside.

    Unlike :func:`update_task_data` with the growing list, this costs O(1) per
    item however long the run: subscribers to the run's updates get only the new
    item (``dataAppend``), while the record's ``data`` shows the whole list.
    """
    invocation = _current.get()
    if invocation is not None:
        invocation.append_data(item)


def raise_if_cancelled() -> None:
    """Raise :class:`InvocationCancelled` if a cancel was requested for this invocation."""
    invocation = _current.get()
    if invocation is not None and invocation.cancel_requested:
        raise InvocationCancelled(f"invocation {invocation.id} was cancelled")


def cancellable_sleep(seconds: float) -> None:
    """Sleep like :func:`time.sleep`, but wake and raise at once when cancelled."""
    invocation = _current.get()
    if invocation is None:
        time.sleep(seconds)
        return
    if invocation.wait_for_cancel(seconds):
        raise InvocationCancelled(f"invocation {invocation.id} was cancelled")


@contextlib.contextmanager
def abort_hook(hook: Callable[[], Any]) -> Iterator[None]:
    """Run ``hook()`` (in another thread) if a cancel arrives while the block runs.

    Outside an invocation it does nothing. If the invocation was already
    cancelled when the block starts, the hook runs at once.
    """
    invocation = _current.get()
    if invocation is None:
        yield
        return
    invocation.add_abort_hook(hook)
    try:
        yield
    finally:
        invocation.remove_abort_hook(hook)


class InvocationLogHandler(logging.Handler):
    """Copies log records emitted during an invocation onto that invocation's log."""

    def emit(self, record: logging.LogRecord) -> None:
        """Append ``record`` to the current invocation's log, if any."""
        invocation = _current.get()
        if invocation is None:
            return
        try:
            invocation.add_log(record.levelname, record.getMessage())
        except Exception:  # logging must never break the action
            self.handleError(record)


_handler = InvocationLogHandler(level=logging.INFO)


def install_log_capture() -> None:
    """Attach the capturing handler to the root logger once; lets INFO records through.

    The root logger's level is lowered to INFO only when it was left at the
    default (WARNING), so that ``logger.info`` in an action reaches the run's log.
    """
    root = logging.getLogger()
    if _handler not in root.handlers:
        root.addHandler(_handler)
    if root.level == logging.WARNING:
        root.setLevel(logging.INFO)
        if not any(h is not _handler for h in root.handlers):
            # Keep the default behaviour of printing warnings when nothing else is configured.
            stderr = logging.StreamHandler()
            stderr.setLevel(logging.WARNING)
            root.addHandler(stderr)


def run_in_context(invocation: Invocation, function: Callable[[], Any]) -> Any:
    """Run ``function`` with ``invocation`` as the current one (in a worker thread)."""
    token = _current.set(invocation)
    try:
        return function()
    finally:
        _current.reset(token)


def set_current(invocation: Invocation | None) -> Any:
    """Make ``invocation`` current in this context; returns a token for :func:`reset_current`."""
    return _current.set(invocation)


def reset_current(token: Any) -> None:
    """Undo :func:`set_current`."""
    _current.reset(token)
