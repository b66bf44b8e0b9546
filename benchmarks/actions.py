"""Action invocation benchmark: wot-labthing side by side with labthings-fastapi 0.3.0.

    .venv/bin/python benchmarks/actions.py [--counts 2000 10000] [--skip-peer]

labthings-fastapi is installed by this script into its own venv (benchmarks/.peer-venv) and
serves an equivalent Thing (`quick`, and `wait(seconds)`; its actions run in threads, ours
is `async def`). Figures: quick-action round trip (POST until output) sequential and at
concurrency 16; N concurrent wait(2 s) invocations: seconds until all accepted, until all
completed, failed requests, peak server RSS, RSS per retained record. The concurrent
runs are posted from 4 processes over raw keep-alive sockets (``_rawload.py``): a single
httpx client was the bottleneck for both servers before.

Figures on the development machine (2 shared cores, Python 3.11, one run, 2026-11-25):

    figure                                   wot-labthing        labthings-fastapi 0.3.0
    quick round trip, sequential             434/s (p50 2.2 ms)  71/s (p50 15.6 ms)
    quick round trip, concurrency 16         365/s (p50 18 ms)   185/s (p50 76 ms)
    2,000 wait(2 s): all accepted / ended    1.9 s / 4.1 s       5.4 s / 7.7 s
    2,000: failures, peak RSS, per record    0, 127 MiB, 20.6 KiB  0, 107 MiB, 12.4 KiB
    10,000 wait(2 s): all accepted / ended   13.0 s / 15.3 s     59.6 s / 62.1 s
    10,000: failures, peak RSS, per record   0, 291 MiB, 20.9 KiB  0, 147 MiB, 7.8 KiB

Zero failures at 10,000 and every time ahead; memory is not: we accept runs 4.6x faster,
so about 10,000 runs (asyncio tasks, records, connections' buffers) are alive at once,
where the peer's slower acceptance leaves only a few hundred running at any moment. In
process, a finished record costs ~4 KiB (tracemalloc); the rest of the RSS per record is
the transient HTTP work of that many concurrent requests, which the allocator keeps.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
import time
from typing import Any

import httpx
from _harness import ROOT, load, script_server, servient
from _rawload import post_many

PEER_VENV = ROOT / "benchmarks" / ".peer-venv"
PEER_SERVER = """
import socket, time, uvicorn
import labthings_fastapi as lt
class Bench(lt.Thing):
    @lt.action
    def quick(self) -> int:
        return 1
    @lt.action
    def wait(self, seconds: float = 2) -> float:
        time.sleep(seconds)
        return seconds
server = lt.ThingServer.from_things({"bench": Bench})
sock = socket.socket(); sock.bind(("127.0.0.1", 0)); port = sock.getsockname()[1]; sock.close()
print(f"http://127.0.0.1:{port}/", flush=True)
uvicorn.run(server.app, host="127.0.0.1", port=port, log_level="error")
"""


def rss_mb(pid: int) -> float:
    """Resident set size of a process and its children, in MiB."""
    total = 0
    for candidate in [pid, *_children(pid)]:
        try:
            with open(f"/proc/{candidate}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def _children(pid: int) -> list[int]:
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    except OSError:
        return []
    return [int(p) for p in out.split()]


def ensure_peer() -> str | None:
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        result = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "labthings-fastapi==0.3.0", "uvicorn"],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            print("labthings-fastapi could not be installed:", result.stderr[-500:])
            return None
    return str(python)


class Target:
    def __init__(self, name: str, url: str, invoke: str, poll: Any) -> None:
        self.name, self.url, self.invoke, self.poll = name, url, invoke, poll


async def round_trip(client: httpx.AsyncClient, target: Target, action: str, body: Any) -> Any:
    response = await client.post(f"{target.url}{target.invoke}{action}", json=body)
    record = response.json()
    while record.get("status") not in ("completed", "failed", "error", "cancelled"):
        await asyncio.sleep(0.01)
        record = (await client.get(target.poll(record))).json()
    return record


async def quick(target: Target, total: int, concurrency: int) -> dict[str, float]:
    async def one(client: httpx.AsyncClient) -> httpx.Response:
        record = await round_trip(client, target, "quick", {})
        return httpx.Response(200 if record.get("output") == 1 else 500)

    return await load(one, total=total, concurrency=concurrency)


async def many_waits(target: Target, count: int, pid: int) -> dict[str, float]:
    """POST ``count`` wait(2 s) runs at once (4 client processes, raw keep-alive sockets),
    then poll until every run has ended."""
    peak = rss_mb(pid)
    sampling = True

    async def sample_rss() -> None:
        nonlocal peak
        while sampling:
            peak = max(peak, rss_mb(pid))
            await asyncio.sleep(0.25)

    sampler = asyncio.create_task(sample_rss())
    posted = await asyncio.to_thread(
        post_many,
        f"{target.url}{target.invoke}wait",
        count,
        {"seconds": 2},
        headers={"Prefer": "respond-async"},
    )
    failures = posted["failures"]
    start_at = posted["start_at"]
    pending = [record for record in posted["records"] if isinstance(record, dict)]
    failures += len(posted["records"]) - len(pending)
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(limits=limits, timeout=120) as client:
        gate = asyncio.Semaphore(64)

        async def status(record: Any) -> str:
            async with gate:
                response = await client.get(target.poll(record))
            return str(response.json().get("status"))

        completed = 0.0
        while pending:
            await asyncio.sleep(0.25)
            # The last runs accepted end last: watch them, then check every run once
            # (that full pass is not counted in the completion time).
            if not all(
                state in ENDED for state in await asyncio.gather(*map(status, pending[-50:]))
            ):
                continue
            completed = time.time() - start_at
            states = await asyncio.gather(*map(status, pending))
            pending = [r for r, state in zip(pending, states, strict=True) if state not in ENDED]
            if time.time() - start_at > 900:
                failures += len(pending)
                break
    sampling = False
    await sampler
    return {
        "accepted_s": posted["accepted_s"],
        "completed_s": completed,
        "failures": failures,
        "peak_rss_mb": peak,
        "rss_mb_after": rss_mb(pid),
    }


ENDED = ("completed", "error", "failed")


async def measure(target: Target, counts: list[int], baseline_rss: float, pid: int) -> None:
    print(f"== {target.name}")
    seq = await quick(target, 300, 1)
    conc = await quick(target, 600, 16)
    print(
        f"  quick round trip, sequential:     {seq['rps']:8.0f}/s  p50 {seq['p50_ms']:.1f} ms"
        f"  p99 {seq['p99_ms']:.1f} ms  failures {seq['failures']:.0f}"
    )
    print(
        f"  quick round trip, concurrency 16: {conc['rps']:8.0f}/s  p50 {conc['p50_ms']:.1f} ms"
        f"  p99 {conc['p99_ms']:.1f} ms  failures {conc['failures']:.0f}"
    )
    for count in counts:
        figures = await many_waits(target, count, pid)
        per_record = 1024 * (figures["rss_mb_after"] - baseline_rss) / max(1, count + 900)
        print(
            f"  {count} concurrent wait(2 s): accepted in {figures['accepted_s']:.1f} s, "
            f"completed in {figures['completed_s']:.1f} s, failures {figures['failures']:.0f}, "
            f"peak RSS {figures['peak_rss_mb']:.0f} MiB, ~{per_record:.1f} KiB per record"
        )


async def run(counts: list[int], skip_peer: bool) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with servient("benchmarks/bench.toml") as (url, pid):
        target = Target("wot-labthing", url, "things/bench/actions/", lambda record: record["href"])
        await measure(target, counts, rss_mb(pid), pid)
    if skip_peer:
        return
    python = ensure_peer()
    if python is None:
        return
    with script_server(PEER_SERVER, python=python) as (url, pid):
        await asyncio.sleep(2)  # let uvicorn finish starting
        target = Target(
            "labthings-fastapi 0.3.0",
            url,
            "bench/",
            lambda record: f"{url}action_invocations/{record['id']}",
        )
        await measure(target, counts, rss_mb(pid), pid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--counts", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--skip-peer", action="store_true")
    args = parser.parse_args()
    asyncio.run(run(args.counts, args.skip_peer))


if __name__ == "__main__":
    main()
