"""Shutdown under load: every run ends failed (cancelled), hooks run, the process exits in time."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse

import wot_labthing as wl

from ..conftest import ROOT
from ..waiting import DEADLINE
from .conftest import Lab

RUNS = 50
GRACE = 2.0
ASYNC = {"Prefer": "respond-async"}

THINGS = '''
import time
from pathlib import Path

import wot_labthing as wl


class Busy(wl.Thing):
    def __init__(self, marker: str, **kwargs):
        super().__init__(**kwargs)
        self.marker = Path(marker)

    def _aborted(self) -> None:
        with self.marker.open("a") as file:
            file.write("aborted\\n")

    @wl.action
    def wait(self, seconds: float = 60) -> None:
        """A long sync run that stops when cancelled, with an abort hook."""
        with wl.abort_hook(self._aborted):
            wl.cancellable_sleep(seconds)

    @wl.action
    def stubborn(self) -> None:
        """Ignores cancellation altogether."""
        time.sleep(600)

    @wl.property
    def ping(self) -> str:
        return "pong"
'''


async def final_record(
    client: httpx.AsyncClient, href: str, connected: asyncio.Event | None = None
) -> dict[str, Any]:
    """The last record a run's event stream delivers (it closes after the final one).

    ``connected`` is set once the stream's first event (the snapshot) arrived.
    """
    last: dict[str, Any] = {}
    async with aconnect_sse(client, "GET", href + "/events") as source:
        async for event in source.aiter_sse():
            last = {**last, **json.loads(event.data)}
            if connected is not None:
                connected.set()
    return last


def start_serving(config: Path) -> tuple[subprocess.Popen[str], str]:
    """``wot-labthing serve CONFIG --port 0`` as a user runs it; the process and its base URL."""
    command = [sys.executable, "-m", "wot_labthing", "serve", str(config), "--port", "0"]
    process = subprocess.Popen(
        [*command, "--no-mdns"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    base = ""
    for line in process.stdout:
        if line.startswith("wot-labthing serving on "):
            base = line.removeprefix("wot-labthing serving on ").strip()
        if line.startswith("ready"):
            break
    if not base:
        process.kill()
        raise AssertionError(f"the servient did not start: {process.wait()}")
    return process, base


async def test_sigterm_with_many_running_sync_runs(tmp_path: Path) -> None:
    (tmp_path / "busy_things.py").write_text(THINGS)
    marker = tmp_path / "aborted.txt"
    config = tmp_path / "servient.toml"
    config.write_text(
        textwrap.dedent(f"""
        [servient]
        host = "127.0.0.1"
        shutdown_grace = {GRACE}

        [[things]]
        class = "busy_things:Busy"
        name = "busy"
        kwargs = {{ marker = "{marker}" }}
        """)
    )
    process, base = start_serving(config)
    with process:
        assert process.stderr is not None
        try:
            limits = httpx.Limits(max_connections=200)
            async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
                posts = [
                    client.post("things/busy/actions/wait", headers=ASYNC) for _ in range(RUNS)
                ]
                responses = await asyncio.gather(*posts)
                stubborn = await client.post("things/busy/actions/stubborn", headers=ASYNC)
                hrefs = [r.headers["Location"] for r in [*responses, stubborn]]
                deadline = time.monotonic() + 30
                while True:
                    running = (await client.get("actions", params={"status": "running"})).json()
                    if len(running) == RUNS + 1 or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.05)
                assert len(running) == RUNS + 1
                connected = [asyncio.Event() for _ in hrefs]
                followers = [
                    asyncio.create_task(final_record(client, href, event))
                    for href, event in zip(hrefs, connected, strict=True)
                ]
                # every stream connected (each sends a snapshot first) before the signal
                await asyncio.wait_for(
                    asyncio.gather(*(event.wait() for event in connected)), DEADLINE
                )
                signalled = time.monotonic()
                process.send_signal(signal.SIGTERM)
                # during the grace period new runs are refused with 503 and nothing is recorded
                refused = await client.post("things/busy/actions/wait", headers=ASYNC)
                assert refused.status_code == 503, refused.text
                assert refused.headers["Retry-After"]
                assert refused.headers["content-type"] == "application/problem+json"
                finals = await asyncio.wait_for(asyncio.gather(*followers), GRACE + 10)
            await asyncio.to_thread(process.wait, GRACE + 10)
            exited = time.monotonic() - signalled
        finally:
            if process.poll() is None:
                process.kill()
        stderr = process.stderr.read()
    assert process.returncode == 0, stderr
    assert exited <= GRACE + 10
    for record in finals:
        assert record["status"] == "failed", record
        assert record["error"]["type"].endswith(":cancelled"), record
    assert sum("shut down" in record["error"]["detail"] for record in finals) == RUNS + 1
    assert marker.read_text().count("aborted") == RUNS, "every abort hook ran"
    assert "ignored their cancellation" in stderr, "the abandoned thread is logged"


async def test_invocations_and_property_reads_after_shutdown_are_busy(lab: Lab) -> None:
    """After stop: BusyError (HTTP 503 with Retry-After), not a closed pool's RuntimeError."""
    servient = wl.Servient([lab])
    await servient.start()
    await servient.stop()
    with pytest.raises(wl.BusyError) as refused:
        servient.invoke_action("lab", "double", {"x": 1})
    assert refused.value.retry_after
    with pytest.raises(wl.BusyError) as read:
        await servient.read_property("lab", "ping")
    assert read.value.retry_after
    assert servient.list_invocations() == [], "nothing recorded"


async def test_servient_stop_abandons_a_run_that_ignores_cancellation(lab: Lab) -> None:
    servient = wl.Servient([lab], settings=wl.ServientSettings(shutdown_grace=0.3))
    await servient.start()
    stuck = servient.invoke_action("lab", "blocking", {"seconds": 3})
    await asyncio.sleep(0)
    await servient.stop()
    record = stuck.as_record()
    assert record["status"] == "failed"
    assert "ignored" in record["error"]["detail"]
