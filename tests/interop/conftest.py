from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent.parent


@pytest.fixture(scope="module")
def demo_td_urls() -> Iterator[list[str]]:
    """The real demo servient (examples/demo.toml) on a free port; yields its TD URLs."""
    command = [sys.executable, "-m", "wot_labthing", "serve", "examples/demo.toml"]
    with subprocess.Popen(
        [*command, "--port", "0", "--no-mdns"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        assert process.stdout is not None
        urls: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            if line.startswith("TD: "):
                urls.append(line[4:].strip())
            elif line.startswith("ready"):
                break
        try:
            assert urls, "the demo servient printed no TD URLs"
            yield urls
        finally:
            process.terminate()
            process.wait(timeout=20)
