from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import httpx
import pytest

import wot_labthing as wl
from wot_labthing._resources import schema_validator

_log = logging.getLogger("tests.lab")


class Lab(wl.Thing):
    """A Thing whose actions exercise every part of the invocation lifecycle."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.aborted = threading.Event()
        self.release = threading.Event()
        self.unblocked = threading.Event()
        self.concurrent = 0
        self.max_concurrent = 0
        self.cleanup_done = 0.0
        self._count_lock = threading.Lock()

    @wl.property
    def ping(self) -> str:
        """Always answers at once."""
        return "pong"

    @wl.action
    def double(self, x: int) -> int:
        """Double x, logging at INFO."""
        _log.info("doubling %s", x)
        return 2 * x

    @wl.action
    def steps(self, n: int = 10, delay: float = 0.05) -> int:
        """Count to n with progress, cancellable between steps."""
        for index in range(n):
            wl.update_task_progress(100 * index / n)
            wl.cancellable_sleep(delay)
        wl.update_task_progress(100)
        return n

    @wl.action
    def guarded(self) -> None:
        """Wait for release; a cancel runs the abort hook, which releases it."""
        with wl.abort_hook(self.aborted.set):
            while not self.release.wait(0.01):
                wl.raise_if_cancelled()

    @wl.action
    def fail(self) -> None:
        """Always raises."""
        raise RuntimeError("kaput")

    @wl.action(synchronous=True)
    def hello(self, name: str = "world") -> str:
        """Greet synchronously."""
        return f"hello {name}"

    @wl.action(synchronous=True)
    def nothing(self) -> None:
        """Return nothing, synchronously."""

    @wl.action
    async def sleeper(self, seconds: float = 5) -> float:
        """Sleep asynchronously with progress."""
        wl.update_task_progress(10)
        _log.warning("async sleeping")
        await asyncio.sleep(seconds)
        return seconds

    @wl.action(timeout=0.2)
    def overdue(self) -> None:
        """Runs longer than its timeout."""
        wl.cancellable_sleep(5)

    @wl.action(exclusive=True)
    def move(self, seconds: float = 0.2) -> None:
        """An exclusive move; runs never overlap."""
        with self._count_lock:
            self.concurrent += 1
            self.max_concurrent = max(self.max_concurrent, self.concurrent)
        try:
            wl.cancellable_sleep(seconds)
        finally:
            with self._count_lock:
                self.concurrent -= 1

    @wl.action(exclusive=True)
    def slow_stop(self) -> None:
        """An exclusive run whose cancellation takes 0.4 s of cleanup (a stage braking)."""
        with self._count_lock:
            self.concurrent += 1
            self.max_concurrent = max(self.max_concurrent, self.concurrent)
        try:
            wl.cancellable_sleep(30)
        finally:
            time.sleep(0.4)
            self.cleanup_done = time.time()
            with self._count_lock:
                self.concurrent -= 1

    @wl.action(exclusive=True, busy="reject", retry_after=3)
    def strict_move(self, seconds: float = 0.5) -> None:
        """An exclusive move that is refused while the Thing is busy."""
        with self._count_lock:
            self.concurrent += 1
        try:
            wl.cancellable_sleep(seconds)
        finally:
            with self._count_lock:
                self.concurrent -= 1

    @wl.action
    def blocking(self, seconds: float = 2) -> None:
        """Blocks its worker thread (not cancellable) for ``seconds`` or until ``unblocked``."""
        self.unblocked.wait(seconds)

    @wl.action
    def context_probe(self) -> bool:
        """True if current_task() is this run."""
        task = wl.current_task()
        return task is not None and task.action == "context_probe"


def assert_record(record: dict[str, Any]) -> dict[str, Any]:
    """Validate an invocation record against td_schemas/action-invocation.schema.json."""
    schema_validator("action-invocation.schema.json").validate(record)
    return record


async def wait_status(
    client: httpx.AsyncClient, href: str, statuses: set[str], timeout: float = 10
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        record = assert_record((await client.get(href)).json())
        if record["status"] in statuses:
            return record
        assert time.monotonic() < deadline, record
        await asyncio.sleep(0.02)


@pytest.fixture
def lab() -> Lab:
    return Lab(name="lab")
