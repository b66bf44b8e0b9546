"""What authentication costs: secured vs open property reads, and the credential check itself.

    .venv/bin/python benchmarks/security.py [--requests 2000]

Serves examples/simulated.toml (nosec) and examples/secured.toml (basic and
bearer; both bound to loopback here) in their own processes and reads a property
with httpx at concurrency 1 and 32: open, with basic credentials, with a bearer
token. Verified credentials are cached, so the secured figures should be within
a fraction of a millisecond of the open ones; the first request of a credential
pays one scrypt (printed below). For scale: hololinked 0.4.2 re-hashes bcrypt on
every request and serves about 2.3 requests/s with basic auth.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import httpx
from _harness import ROOT, load, servient

BASIC = ("viewer", "look-but-dont-touch")
BEARER = {"Authorization": "Bearer demo-observer-token-change-me"}


def row(name: str, figures: dict[str, float], open_p50: float | None = None) -> str:
    extra = f"  (+{figures['p50_ms'] - open_p50:.3f} ms p50)" if open_p50 is not None else ""
    return (
        f"  {name:<22} {figures['rps']:>8.0f} req/s  p50 {figures['p50_ms']:>6.2f} ms  "
        f"p99 {figures['p99_ms']:>6.2f} ms  failures {figures['failures']:.0f}{extra}"
    )


def credential_check_costs() -> None:
    here = Path(__file__).parent.resolve()  # benchmarks/serial.py would shadow pyserial
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != here]
    from wot_labthing._config import load_config
    from wot_labthing._security import Authenticator

    auth = Authenticator(load_config(ROOT / "examples/secured.toml").security)
    started = time.perf_counter()
    principal = auth.verify_basic(*BASIC)
    scrypt_ms = 1000 * (time.perf_counter() - started)
    assert principal is not None
    auth.remember("basic", "credential", principal)
    rounds = 100_000
    started = time.perf_counter()
    for _ in range(rounds):
        auth.cached("basic", "credential")
    cached_us = 1e6 * (time.perf_counter() - started) / rounds
    print(f"first check of a credential (scrypt): {scrypt_ms:.1f} ms")
    print(f"cached check of a credential:         {cached_us:.2f} us")


async def guard_costs() -> None:
    """The whole guard per request, in process, in front of an app that does nothing."""
    import base64

    from wot_labthing._config import load_config
    from wot_labthing._http.guard import Guard
    from wot_labthing._security import SecurityConfig
    from wot_labthing._servient import Servient

    async def app(scope: object, receive: object, send: object) -> None:
        return None

    async def noop_send(message: object) -> None:
        return None

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b""}

    token = base64.b64encode(":".join(BASIC).encode())
    figures = {}
    for name, config, headers in (
        ("open", SecurityConfig(), []),
        (
            "basic",
            load_config(ROOT / "examples/secured.toml").security,
            [(b"authorization", b"Basic " + token)],
        ),
    ):
        guard = Guard(app, Servient(), config)
        rounds = 20_000
        scope = {
            "type": "http", "method": "GET", "path": "/things/stage/properties/speed",
            "raw_path": b"/things/stage/properties/speed", "query_string": b"", "scheme": "http",
            "client": ("127.0.0.1", 5), "headers": [(b"host", b"localhost:8080"), *headers],
        }  # fmt: skip
        await guard(dict(scope), receive, noop_send)  # the first one pays scrypt
        started = time.perf_counter()
        for _ in range(rounds):
            await guard(dict(scope), receive, noop_send)
        figures[name] = 1e6 * (time.perf_counter() - started) / rounds
    print(
        f"guard per request, in process:        open {figures['open']:.1f} us, "
        f"basic (cached) {figures['basic']:.1f} us (+{figures['basic'] - figures['open']:.1f} us)"
    )


async def run(requests: int) -> None:
    results: dict[tuple[str, int], dict[str, float]] = {}
    with servient("examples/simulated.toml", host="127.0.0.1") as (base, _):
        prop = base + "things/stage/properties/speed"
        for concurrency in (1, 32):
            results[("open", concurrency)] = await load(
                lambda c: c.get(prop), total=requests, concurrency=concurrency
            )
    with servient("examples/secured.toml", host="127.0.0.1") as (base, _):
        prop = base + "things/stage/properties/speed"
        async with httpx.AsyncClient() as client:
            assert (await client.get(prop)).status_code == 401
        for concurrency in (1, 32):
            results[("basic", concurrency)] = await load(
                lambda c: c.get(prop, auth=BASIC), total=requests, concurrency=concurrency
            )
            results[("bearer", concurrency)] = await load(
                lambda c: c.get(prop, headers=BEARER), total=requests, concurrency=concurrency
            )
    for concurrency in (1, 32):
        open_p50 = results[("open", concurrency)]["p50_ms"]
        print(f"concurrency {concurrency}:")
        print(row("open (nosec)", results[("open", concurrency)]))
        print(row("secured, basic", results[("basic", concurrency)], open_p50))
        print(row("secured, bearer", results[("bearer", concurrency)], open_p50))
    credential_check_costs()
    await guard_costs()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    asyncio.run(run(parser.parse_args().requests))


if __name__ == "__main__":
    main()
