"""Things used by the benchmark scripts."""

from __future__ import annotations

import asyncio

import wot_labthing as wl


class Bench(wl.Thing):
    """Actions for benchmarks: a quick one and one that waits."""

    level: int = wl.property(default=0, observable=True, description="A changing value.")

    @wl.action
    def quick(self) -> int:
        """Return at once."""
        return 1

    @wl.action
    def wait_sync(self, seconds: float = 2) -> float:
        """Wait in the run's own thread, as a driver's action blocks on an instrument."""
        wl.cancellable_sleep(seconds)
        return seconds

    @wl.action
    async def wait(self, seconds: float = 2) -> float:
        """Wait without holding a worker thread."""
        await asyncio.sleep(seconds)
        return seconds
