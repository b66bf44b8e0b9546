"""A small third-party peer for the client tests: LabThings-style actions behind a bearer token.

A real HTTP server (quart on hypercorn, on a free loopback port), not a mock:
its TD declares ``bearer`` security, a property read through a URI template, and
an action without ``synchronous`` that answers like python-labthings (201 with
a record, no ``Location``; ``cancelled`` status; DELETE answers 200 with the
record; no event stream). Each GET of a run's record advances it by 25 %.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
from collections.abc import AsyncIterator
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart, Response, jsonify, request

TOKEN = "s3cret-token"


def create_peer(base: str) -> Quart:
    app = Quart("peer")
    state: dict[str, Any] = {"brightness": 3, "runs": {}}
    ids = itertools.count(1)

    @app.before_request
    async def authorise() -> Response | None:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return Response("", 401, {"WWW-Authenticate": 'Bearer realm="peer"'})
        return None

    @app.get("/td")
    async def td() -> Response:
        return jsonify(
            {
                "@context": "https://www.w3.org/2022/wot/td/v1.1",
                "title": "LabThings-style peer",
                "base": base,
                "securityDefinitions": {"bearer_sc": {"scheme": "bearer"}},
                "security": ["bearer_sc"],
                "properties": {
                    "brightness": {
                        "type": "integer",
                        "minimum": 0,
                        "maximum": 10,
                        "forms": [{"href": "brightness"}],
                    },
                    "channel": {
                        "type": "string",
                        "readOnly": True,
                        "uriVariables": {"index": {"type": "integer", "minimum": 0, "maximum": 3}},
                        "forms": [{"href": "channels{?index}"}],
                    },
                },
                "actions": {
                    "scan": {
                        "input": {
                            "type": "object",
                            "properties": {"points": {"type": "integer"}},
                            "required": ["points"],
                        },
                        "output": {"type": "array", "items": {"type": "number"}},
                        "forms": [{"href": "actions/scan"}],
                    }
                },
            }
        )

    @app.get("/brightness")
    async def read_brightness() -> Response:
        return jsonify(state["brightness"])

    @app.put("/brightness")
    async def write_brightness() -> Response:
        state["brightness"] = await request.get_json()
        return Response("", 204)

    @app.get("/channels")
    async def channel() -> Response:
        return jsonify(f"channel {request.args.get('index', 'none')}")

    @app.post("/actions/scan")
    async def scan() -> tuple[Response, int]:
        run_id = str(next(ids))
        points = (await request.get_json())["points"]
        record = {
            "id": run_id,
            "status": "pending",
            "href": f"/actions/{run_id}",
            "progress": 0,
            "input": {"points": points},
            "output": None,
        }
        state["runs"][run_id] = record
        return jsonify(record), 201

    @app.get("/actions/<run_id>")
    async def query(run_id: str) -> Response:
        record = state["runs"][run_id]
        if record["status"] in ("pending", "running"):
            record["progress"] += 25
            record["status"] = "running"
            if record["progress"] >= 100:
                record["status"] = "completed"
                record["output"] = [0.5] * record["input"]["points"]
        return jsonify(record)

    @app.delete("/actions/<run_id>")
    async def cancel(run_id: str) -> Response:
        record = state["runs"][run_id]
        record["status"] = "cancelled"
        return jsonify(record)

    return app


@contextlib.asynccontextmanager
async def running_peer() -> AsyncIterator[str]:
    """Serve the peer on a free loopback port; yields its TD URL."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen()  # connections queue from now on: no need to wait for hypercorn to start
    base = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    config = Config()
    config.bind = [f"fd://{sock.fileno()}"]
    config.accesslog = None
    config.graceful_timeout = 1.0
    stop = asyncio.Event()
    task = asyncio.create_task(serve(create_peer(base), config, shutdown_trigger=stop.wait))
    try:
        yield base + "td"
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        with contextlib.suppress(OSError):
            sock.close()
