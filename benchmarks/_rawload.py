"""A cheap HTTP/1.1 load generator: raw keep-alive sockets in several processes.

One httpx client in one process tops out around a hundred concurrent POSTs a
second on a small machine, so a benchmark that uses it measures the client, not
the server. Here each worker process opens ``connections`` keep-alive sockets and
sends its share of the requests over them with hand-written HTTP/1.1 (requests
are tiny and responses carry ``Content-Length`` or chunked bodies), so the server
is what saturates.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import time
from typing import Any
from urllib.parse import urlsplit


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    if "content-length" in headers:
        return status, await reader.readexactly(int(headers["content-length"]))
    if headers.get("transfer-encoding") == "chunked":
        body = bytearray()
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return status, bytes(body)
            body += chunk[:-2]
    return status, b""


async def _post_share(
    url: str, count: int, body: bytes, headers: dict[str, str], connections: int
) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    extra = "".join(f"{key}: {value}\r\n" for key, value in headers.items())
    request = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body
    remaining = iter(range(count))
    records: list[Any] = []
    failures = 0

    async def connection() -> None:
        nonlocal failures
        reader = writer = None
        for _ in remaining:
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
                assert reader is not None
                writer.write(request)
                status, payload = await _read_response(reader)
                if status >= 400:
                    failures += 1
                else:
                    records.append(json.loads(payload))
            except (OSError, asyncio.IncompleteReadError, ValueError):
                failures += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    return {"records": records, "failures": failures, "ended": time.time()}


def _worker(args: tuple[str, int, bytes, dict[str, str], int, float]) -> dict[str, Any]:
    url, count, body, headers, connections, start_at = args
    time.sleep(max(0.0, start_at - time.time()))  # every worker starts together
    return asyncio.run(_post_share(url, count, body, headers, connections))


async def _round_trip_share(url: str, poll: str, count: int, connections: int) -> dict[str, Any]:
    """POST ``{}`` to ``url`` ``count`` times over ``connections`` sockets; after each POST,
    GET the run's record (``poll`` formatted with the record) every 10 ms until it ended."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    post = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    ).encode()
    remaining = iter(range(count))
    latencies: list[float] = []
    failures = 0

    async def connection() -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
        for _ in remaining:
            began = time.perf_counter()
            writer.write(post)
            status, payload = await _read_response(reader)
            record = json.loads(payload) if status < 400 else {}
            while status < 400 and record.get("status") not in _ENDED:
                await asyncio.sleep(0.01)
                path = urlsplit(poll.format(**record)).path
                writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
                status, payload = await _read_response(reader)
                record = json.loads(payload) if status < 400 else {}
            if status >= 400 or record.get("output") != 1:
                failures += 1
            latencies.append(time.perf_counter() - began)
        writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    return {"latencies": latencies, "failures": failures, "ended": time.time()}


_ENDED = ("completed", "failed", "error", "cancelled")


def _round_trip_worker(args: tuple[str, str, int, int, float]) -> dict[str, Any]:
    url, poll, count, connections, start_at = args
    time.sleep(max(0.0, start_at - time.time()))
    cpu = time.process_time()
    result = asyncio.run(_round_trip_share(url, poll, count, connections))
    result["cpu_s"] = time.process_time() - cpu
    return result


def round_trips(
    url: str, poll: str, total: int, concurrency: int, processes: int = 2
) -> dict[str, float]:
    """``total`` quick-action round trips (POST, then poll the record until it ended) with
    ``concurrency`` keep-alive connections spread over ``processes`` client processes.

    ``poll`` is a format string over the POST's answer (``"{href}"``, or a path with
    ``{id}``). Returns the rate, p50/p99 latency, failures (an answer without ``output``
    1 counts as one) and the clients' CPU as a share of one core, to show whether the
    client, not the server, was what saturated.
    """
    processes = max(1, min(processes, concurrency))
    per = [concurrency // processes + (i < concurrency % processes) for i in range(processes)]
    shares = [total * n // concurrency for n in per]
    start_at = time.time() + 1.0
    jobs = [(url, poll, share, n, start_at) for share, n in zip(shares, per, strict=True)]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        results = pool.map(_round_trip_worker, jobs)
    elapsed = max(result["ended"] for result in results) - start_at
    latencies = sorted(x for result in results for x in result["latencies"])
    return {
        "rate": len(latencies) / elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "failures": sum(result["failures"] for result in results),
        "client_cpu": sum(result["cpu_s"] for result in results) / elapsed,
    }


def post_many(
    url: str,
    count: int,
    body: Any,
    *,
    headers: dict[str, str] | None = None,
    processes: int = 4,
    connections: int = 64,
) -> dict[str, Any]:
    """POST ``body`` (JSON) to ``url`` ``count`` times from several processes at once.

    Returns the decoded answers (``records``), ``failures`` (errors and 4xx/5xx)
    and ``accepted_s``: seconds from the common start to the last answer.
    """
    data = json.dumps(body).encode()
    shares = [count // processes + (1 if i < count % processes else 0) for i in range(processes)]
    start_at = time.time() + 1.0
    jobs = [(url, share, data, headers or {}, connections, start_at) for share in shares]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        results = pool.map(_worker, jobs)
    records = [record for result in results for record in result["records"]]
    return {
        "records": records,
        "failures": sum(result["failures"] for result in results),
        "accepted_s": max(result["ended"] for result in results) - start_at,
        "start_at": start_at,
    }
