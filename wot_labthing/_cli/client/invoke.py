"""The ``invoke`` subcommand: start a run, draw its progress, cancel it on Ctrl-C.

``invoke`` draws a progress bar on stderr while an asynchronous run goes (when
stderr is a terminal, or with ``--progress``). Ctrl-C then asks
``cancel the run? [y/N]`` on a terminal; without one (or with ``--yes``) it
cancels the run at once, and exits 130 once the servient has cancelled it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import TextIO

from ..._consumed.sync import SyncActionHandle
from ..._consumed.transport import NO_BODY
from ..._errors import ActionTimeoutError, RemoteError
from .session import INTERRUPTED, _dump, _json_argument, _run, _Session

__all__ = ["CANCEL_WAIT", "ProgressBar"]

#: Seconds to wait, after cancelling, for the servient to report how the run ended.
CANCEL_WAIT = 15.0


class ProgressBar:
    """A one-line progress bar redrawn in place (carriage return) on a text stream."""

    def __init__(self, stream: TextIO, label: str, width: int = 30) -> None:
        self.stream = stream
        self.label = label
        self.width = width
        self.drawn = False

    def update(self, status: str, progress: float | None) -> None:
        """Redraw for the run's current status and progress (percent, or None if unknown)."""
        if progress is None:
            text = f"{self.label} {status}"
        else:
            share = max(0.0, min(progress, 100.0)) / 100
            filled = round(self.width * share)
            bar = "#" * filled + "." * (self.width - filled)
            text = f"{self.label} [{bar}] {100 * share:5.1f}% {status}"
        self.stream.write("\r" + text + "\x1b[K" if self.stream.isatty() else "\r" + text)
        self.stream.flush()
        self.drawn = True

    def end(self) -> None:
        """Finish the line so later output starts on a new one."""
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


def _ask_cancel(args: argparse.Namespace) -> bool:
    """After Ctrl-C: whether to cancel the run (asked on a terminal; yes otherwise)."""
    if args.yes or not sys.stdin.isatty():
        return True
    sys.stderr.write("cancel the run? [y/N] ")
    sys.stderr.flush()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        answer = sys.stdin.readline()
    except KeyboardInterrupt:  # a second Ctrl-C: the user wants it stopped
        sys.stderr.write("\n")
        return True
    finally:
        signal.signal(signal.SIGINT, previous)
    return answer.strip().lower() in ("y", "yes")


class _Follower:
    """Follows a run's updates in a thread, drawing the bar, until the run ends.

    The main thread only waits and watches a flag set by its SIGINT handler: a
    KeyboardInterrupt raised at an arbitrary point (inside a garbage-collector
    callback, say) can be swallowed by Python, and the user's Ctrl-C lost.
    """

    def __init__(self, handle: SyncActionHandle, bar: ProgressBar | None) -> None:
        self.handle = handle
        self.bar = bar
        self.drawing = threading.Event()
        self.drawing.set()
        self._drawing_lock = threading.Lock()
        self.ended = threading.Event()
        self.failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="follow-run", daemon=True)
        self._thread.start()

    def _draw(self) -> None:
        with self._drawing_lock:  # never a bar over the question pause() makes room for
            if self.bar is not None and self.drawing.is_set():
                self.bar.update(self.handle.status, self.handle.progress)

    def _run(self) -> None:
        try:
            self._draw()
            for _ in self.handle.updates():
                self._draw()
        except BaseException as exc:  # handed to the main thread
            self.failure = exc
        finally:
            self.ended.set()

    def pause(self) -> None:
        """Stop drawing (a question is being asked) and end the bar's line."""
        with self._drawing_lock:
            self.drawing.clear()
            if self.bar is not None:
                self.bar.end()

    def resume(self) -> None:
        """Draw again."""
        self.drawing.set()

    def join(self) -> None:
        """Wait for the thread; re-raise what it failed with."""
        self._thread.join()
        if self.failure is not None:
            raise self.failure


def _invoke(args: argparse.Namespace) -> int:
    action_input = NO_BODY if args.input is None else _json_argument(args.input, "--input")

    def work(session: _Session) -> int:
        thing, _ = session.open(("actions",), args.action)
        handle = thing.start_action(args.action, action_input)
        show = args.progress or sys.stderr.isatty()
        # A run that ended inside the servient's wait still shows how it ended.
        bar = ProgressBar(sys.stderr, args.action) if show else None
        interrupted = threading.Event()
        previous = signal.signal(signal.SIGINT, lambda *_: interrupted.set())
        try:
            follower = _Follower(handle, bar)
            while not follower.ended.wait(0.05):
                if not interrupted.is_set():
                    continue
                interrupted.clear()
                follower.pause()
                if not _ask_cancel(args):
                    follower.resume()
                    continue
                print(f"cancelling {args.action} ...", file=sys.stderr, flush=True)
                handle.cancel()
                try:  # report how it ended, not "cancelling" (the stage may need to stop)
                    handle.wait(CANCEL_WAIT)
                except (RemoteError, ActionTimeoutError):
                    pass
                if handle.status == "completed":
                    break  # it finished before the cancel arrived
                state = "cancelled" if handle.cancelled else handle.status
                print(f"{args.action}: run {state}", file=sys.stderr)
                return INTERRUPTED
            follower.join()
        finally:
            signal.signal(signal.SIGINT, previous)
        if bar is not None:
            follower.pause()
        print(_dump(handle.wait()), flush=True)
        return 0

    return _run(args, work)
