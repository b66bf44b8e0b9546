"""Property read/write throughput and latency, against a bare quart-on-hypercorn floor.

    .venv/bin/python benchmarks/properties.py [--requests 2000]

Both servers run in their own process on loopback; the client is httpx. Prints
requests/s and p50/p99 latency at concurrency 1 and 32, and the ratio of our
read throughput to the floor's (goal: >= 0.8).
"""

from __future__ import annotations

import argparse
import asyncio

from _harness import load, script_server, servient

FLOOR = """
import asyncio, socket
from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart
app = Quart("floor")
@app.get("/value")
async def value():
    return app.response_class("1000.0", content_type="application/json")
sock = socket.socket(); sock.bind(("127.0.0.1", 0)); sock.listen(1024); sock.set_inheritable(True)
print(f"http://127.0.0.1:{sock.getsockname()[1]}/", flush=True)
config = Config(); config.bind = [f"fd://{sock.fileno()}"]; config.accesslog = None
asyncio.run(serve(app, config))
"""


def row(name: str, figures: dict[str, float]) -> str:
    return (
        f"{name:<34} {figures['rps']:>9.0f} req/s  p50 {figures['p50_ms']:>6.2f} ms  "
        f"p99 {figures['p99_ms']:>6.2f} ms  failures {figures['failures']:.0f}"
    )


async def run(requests: int) -> None:
    results: dict[tuple[str, int], dict[str, float]] = {}
    with script_server(FLOOR) as (floor, _):
        for concurrency in (1, 32):
            results[("floor", concurrency)] = await load(
                lambda c, u=floor: c.get(u + "value"), total=requests, concurrency=concurrency
            )
    with servient() as (base, _):  # examples/simulated.toml
        prop = base + "things/stage/properties/speed"
        for concurrency in (1, 32):
            results[("read", concurrency)] = await load(
                lambda c: c.get(prop), total=requests, concurrency=concurrency
            )
            results[("write", concurrency)] = await load(
                lambda c: c.put(prop, json=1000.0), total=requests, concurrency=concurrency
            )
    for concurrency in (1, 32):
        print(f"concurrency {concurrency}:")
        print(row("  bare quart route (floor)", results[("floor", concurrency)]))
        print(row("  wot-labthing property read", results[("read", concurrency)]))
        print(row("  wot-labthing property write", results[("write", concurrency)]))
        ratio = results[("read", concurrency)]["rps"] / results[("floor", concurrency)]["rps"]
        print(f"  read / floor throughput ratio: {ratio:.2f} (goal >= 0.8)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    asyncio.run(run(parser.parse_args().requests))


if __name__ == "__main__":
    main()
