"""Query round trip over a pseudo-terminal: bare pyserial vs our transport, driver and HTTP API.

    .venv/bin/python benchmarks/serial.py [--queries 2000]

The Sangaboard simulator runs in its own process (``wot-labthing simulate
sangaboard``) at the far end of a real pty. In the same run, on that same
simulator, the script times the position query ``p?`` four ways:

1. bare pyserial: ``write(b"p?\\n")`` + ``readline()`` in a loop (the floor);
2. ``SerialTransport.query("p?")`` (locking, terminators, error mapping);
3. the driver: ``Sangaboard.position`` (parsing, change notification);
4. the HTTP API: ``GET /things/stage/properties/position`` through a servient
   (its own process, the real driver on the same pty) from an httpx client.

It prints p50/p99 latency and queries/s for each, and the overhead ratio of
each layer against the bare loop.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

# This script is named serial.py, as the issue asks, which would shadow pyserial: take its
# folder off the path while pyserial is imported, then put it back for _harness.
HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [entry for entry in sys.path if str(Path(entry or ".").resolve()) != HERE]
import serial  # noqa: E402

sys.path[:0] = [HERE, str(Path(HERE).parent)]

from _harness import ROOT, load, percentile, servient  # noqa: E402

import wot_labthing as wl  # noqa: E402
from things.openflexure.sangaboard import Sangaboard  # noqa: E402


@contextmanager
def simulator() -> Iterator[str]:
    """``wot-labthing simulate sangaboard`` in its own process; yields the pty path."""
    with subprocess.Popen(
        [sys.executable, "-m", "wot_labthing", "simulate", "sangaboard"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        assert process.stdout is not None
        port = ""
        for line in process.stdout:
            if line.startswith("port: "):
                port = line[6:].strip()
            if line.startswith("ready"):
                break
        try:
            yield port
        finally:
            process.terminate()
            process.wait(timeout=10)


def timed(call: Callable[[], object], count: int) -> dict[str, float]:
    """Latencies of ``count`` sequential calls (after a short warm-up)."""
    for _ in range(min(50, count)):
        call()
    latencies = []
    started = time.perf_counter()
    for _ in range(count):
        begin = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - begin)
    elapsed = time.perf_counter() - started
    return {
        "rps": count / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * percentile(latencies, 0.99),
    }


def row(name: str, figures: dict[str, float], floor: dict[str, float]) -> str:
    ratio = figures["p50_ms"] / floor["p50_ms"]
    return (
        f"{name:<34} {figures['rps']:>8.0f} q/s  p50 {figures['p50_ms']:>7.3f} ms  "
        f"p99 {figures['p99_ms']:>7.3f} ms  p50 overhead x{ratio:.2f}"
    )


def bare_loop(port: str, count: int) -> dict[str, float]:
    link = serial.serial_for_url(port, baudrate=115200, timeout=2)
    try:

        def query() -> bytes:
            link.write(b"p?\n")
            reply = link.readline()
            assert reply.endswith(b"\n"), reply
            return reply

        return timed(query, count)
    finally:
        link.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=2000)
    args = parser.parse_args()
    count = args.queries
    print(f"{count} sequential position queries per method; Python {sys.version.split()[0]}")
    with simulator() as port:
        floor = bare_loop(port, count)
        print(row("bare pyserial write+readline", floor, floor))

        transport = wl.SerialTransport(port, baudrate=115200, timeout=2)
        try:
            print(row("SerialTransport.query", timed(lambda: transport.query("p?"), count), floor))
        finally:
            transport.close()

        board = Sangaboard(port, timeout=2)
        try:
            board.open()
            print(row("Sangaboard.position (driver)", timed(lambda: board.position, count), floor))
        finally:
            board.close()

        with tempfile.TemporaryDirectory() as directory:
            config = Path(directory) / "bench-serial.toml"
            config.write_text(
                "[[things]]\n"
                'class = "things.openflexure.sangaboard:Sangaboard"\n'
                'name = "stage"\n'
                f'kwargs = {{ port = "{port}" }}\n'
            )
            with servient(str(config)) as (base, _):
                url = base + "things/stage/properties/position"
                for clients in (1, 8):
                    figures = asyncio.run(
                        load(lambda client: client.get(url), total=count, concurrency=clients)
                    )
                    assert figures["failures"] == 0, figures
                    print(row(f"HTTP GET property, {clients} client(s)", figures, floor))


if __name__ == "__main__":
    main()
