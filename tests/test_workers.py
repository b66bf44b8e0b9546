"""Property worker threads: a getter stuck forever never holds up a stopped servient."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import wot_labthing as wl
from wot_labthing._workers import PropertyWorkers

ROOT = Path(__file__).parent.parent
#: The servient's shutdown_grace in the subprocess test, in seconds.
GRACE = 1.0
#: What stopping may add to the grace: hypercorn's graceful close of the held request
#: (at most 2 s, then our 5 s bound) and interpreter exit, with room for a loaded machine.
MARGIN = 15.0


class StuckThing(wl.Thing):
    """An instrument that never answers a read (a getter blocked for good)."""

    @wl.property
    def reading(self) -> float:
        """Blocks forever, as a read from a port whose device went silent without a timeout."""
        print("getter entered", flush=True)
        threading.Event().wait()
        return 0.0


def test_a_servient_with_a_forever_blocked_getter_exits_on_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "stuck.toml"
    config.write_text(
        "[servient]\n"
        f"shutdown_grace = {GRACE}\n"
        f'state_dir = "{tmp_path.as_posix()}"\n'
        "[[things]]\n"
        'class = "tests.test_workers:StuckThing"\n'
        'name = "stuck"\n',
        "utf-8",
    )
    command = [sys.executable, "-m", "wot_labthing", "serve", str(config)]
    with subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", "0", "--no-mdns"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None and process.stderr is not None
            url = ""
            for line in process.stdout:
                if line.startswith("TD: "):
                    url = line[4:].strip()
                elif line.startswith("ready"):
                    break
            parts = urlsplit(url)
            assert parts.hostname is not None and parts.port is not None
            with socket.create_connection((parts.hostname, parts.port), timeout=10) as held:
                held.sendall(
                    f"GET {parts.path}/properties/reading HTTP/1.1\r\n"
                    f"Host: {parts.netloc}\r\n\r\n".encode()
                )
                assert process.stdout.readline().strip() == "getter entered"
                process.send_signal(signal.SIGTERM)
                started = time.monotonic()
                returncode = process.wait(timeout=GRACE + MARGIN)
            stopped_in = time.monotonic() - started
            log = process.stderr.read()
        finally:
            if process.poll() is None:
                process.kill()
    assert returncode == 0, log
    assert "1 property or close call(s) still running at shutdown" in log, log
    assert stopped_in < GRACE + MARGIN


async def test_closing_abandons_a_running_call_and_refuses_new_ones() -> None:
    workers = PropertyWorkers(1)
    entered, release = threading.Event(), threading.Event()

    def stuck() -> str:
        entered.set()
        release.wait()
        return "late"

    call = asyncio.ensure_future(workers.run(stuck))
    assert await asyncio.to_thread(entered.wait, 10)
    queued = [asyncio.ensure_future(workers.run(stuck)) for _ in range(2)]
    await asyncio.sleep(0)  # both submitted; the one thread is busy, so they wait
    assert workers.close() == 1  # the running call; the queued ones never start
    with pytest.raises(wl.BusyError):
        await workers.run(str.upper, "refused")
    for job in queued:
        with pytest.raises(asyncio.CancelledError):
            await job
    worker = next(t for t in threading.enumerate() if t.name.startswith("wot-property-shared"))
    assert worker.daemon  # never joined at interpreter exit
    release.set()
    assert await call == "late"  # an abandoned call still answers if it ever returns
    worker.join(10)
    assert not worker.is_alive()  # it took its stop sentinel once free


async def test_idle_threads_are_reused_up_to_the_bound() -> None:
    workers = PropertyWorkers(3)
    for _ in range(20):  # one at a time: one thread does them all
        await workers.run(threading.current_thread)
    names = {t.name for t in threading.enumerate() if t.name.startswith("wot-property-shared")}
    assert names == {"wot-property-shared_0"}
    barrier = threading.Barrier(3, timeout=10)
    await asyncio.gather(*(workers.run(barrier.wait) for _ in range(3)))  # needs 3 at once
    names = {t.name for t in threading.enumerate() if t.name.startswith("wot-property-shared")}
    assert len(names) == 3
    assert workers.close() == 0
