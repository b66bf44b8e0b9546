"""Waiting on a condition with a deadline: what tests do instead of fixed sleeps.

A fixed sleep is either too short on a busy machine (a flaky failure) or too long
everywhere (a slow suite); polling a condition returns as soon as it holds and fails
with a clear message only after a generous deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

__all__ = ["DEADLINE", "eventually", "wait_until"]

T = TypeVar("T")

#: Default seconds before giving up: long enough for a loaded 2-core machine.
DEADLINE = 10.0


# Two overloads so that an async check yields what its coroutine returns, not the
# coroutine itself: a single ``Callable[[], T | Awaitable[T]]`` leaves mypy unable to
# solve T for a coroutine function.
@overload
async def eventually(
    check: Callable[[], Awaitable[T]],
    what: str = ...,
    timeout: float = ...,
    interval: float = ...,
) -> T: ...


@overload
async def eventually(
    check: Callable[[], T],
    what: str = ...,
    timeout: float = ...,
    interval: float = ...,
) -> T: ...


async def eventually(
    check: Callable[[], Any],
    what: str = "the condition",
    timeout: float = DEADLINE,
    interval: float = 0.01,
) -> Any:
    """Call ``check`` (plain or async) until it returns a truthy value, and return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)


def wait_until(
    check: Callable[[], T],
    what: str = "the condition",
    timeout: float = DEADLINE,
    interval: float = 0.01,
) -> T:
    """Blocking :func:`eventually`, for synchronous tests."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
    return value
