"""The Playground's npm packages, and example servients started as a user starts them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..conftest import require_node

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
#: The official TM 1.1 JSON Schema from the pinned npm package wot-thing-model-types.
TM_SCHEMA = HERE / "node_modules" / "wot-thing-model-types" / "schema"
TM_SCHEMA = TM_SCHEMA / "tm-json-schema-validation.json"


@dataclass
class Running:
    """A started ``wot-labthing serve``: its root URL and the TD URLs it printed."""

    url: str
    td_urls: list[str] = field(default_factory=list)


@contextmanager
def serve_config(
    config: str, state_home: Path, *, extra_path: str | None = None
) -> Iterator[Running]:
    """``wot-labthing serve CONFIG --port 0 --no-mdns`` with ``XDG_STATE_HOME=state_home``.

    ``extra_path`` (relative to the repository) is put on ``PYTHONPATH``.
    """
    env = {**os.environ, "XDG_STATE_HOME": str(state_home)}
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(ROOT / extra_path), env.get("PYTHONPATH")])
        )
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


def ensure_playground() -> None:
    """Install the pinned Playground packages (npm ci) if they are not there yet."""
    require_node()
    if not (HERE / "node_modules" / "@thing-description-playground" / "assertions").exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=HERE,
            check=True,
            capture_output=True,
            timeout=600,
        )
