"""Shared helpers for the benchmark scripts: servers in subprocesses, load, percentiles."""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).parent.parent


@contextmanager
def servient(
    config: str = "examples/simulated.toml",
    python: str = sys.executable,
    host: str | None = None,
) -> Iterator[tuple[str, int]]:
    """Run ``wot-labthing serve CONFIG`` on a free port (and ``host``, if given, instead of
    the config's); yields its base URL and pid."""
    command = [python, "-m", "wot_labthing", "serve", config, "--port", "0", "--no-mdns"]
    if host is not None:
        command += ["--host", host]
    with subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as process:
        assert process.stdout is not None
        url = ""
        for line in process.stdout:
            if line.startswith("wot-labthing serving on "):
                url = line.split(" on ", 1)[1].strip()
            if line.startswith("ready"):
                break
        try:
            yield url, process.pid
        finally:
            process.terminate()
            process.wait(timeout=20)


@contextmanager
def script_server(source: str, python: str = sys.executable) -> Iterator[tuple[str, int]]:
    """Run a Python server script that prints its URL first; yields the URL and pid."""
    with subprocess.Popen(
        [python, "-c", source],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        time.sleep(0.5)
        try:
            yield url, process.pid
        finally:
            process.terminate()
            process.wait(timeout=20)


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` percentile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def load(
    request: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]],
    *,
    total: int,
    concurrency: int,
) -> dict[str, float]:
    """Send ``total`` requests with ``concurrency`` workers; throughput and latency figures."""
    latencies: list[float] = []
    failures = 0
    remaining = iter(range(total))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal failures
            for _ in remaining:
                started = time.perf_counter()
                response = await request(client)
                latencies.append(time.perf_counter() - started)
                if response.status_code >= 400:
                    failures += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "rps": total / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "failures": failures,
    }
