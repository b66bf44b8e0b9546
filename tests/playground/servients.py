"""Example servients started as a user starts them, each with its own state directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).parent.parent.parent


@dataclass
class Running:
    """A started ``wot-labthing serve``: its root URL and the TD URLs it printed."""

    url: str
    td_urls: list[str] = field(default_factory=list)


@contextmanager
def serve_config(config: str, state_home: Path) -> Iterator[Running]:
    """``wot-labthing serve CONFIG --port 0 --no-mdns`` with ``XDG_STATE_HOME=state_home``."""
    env = {**os.environ, "XDG_STATE_HOME": str(state_home)}
    command = [sys.executable, "-m", "wot_labthing", "serve", config, "--port", "0", "--no-mdns"]
    with subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as process:
        assert process.stdout is not None
        running = Running(url="")
        for line in process.stdout:
            if line.startswith("wot-labthing serving on "):
                running.url = line.removeprefix("wot-labthing serving on ").strip()
            elif line.startswith("TD: "):
                running.td_urls.append(line[4:].strip())
            elif line.startswith("ready"):
                break
        try:
            assert running.url, f"{config}: the servient did not start"
            yield running
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
