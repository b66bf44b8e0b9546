"""``wot-labthing`` as a user runs it: a command that ends, or ``serve`` in the background.

Both run in a child process started from the event loop (never blocking it), from the
repository root, so ``examples/...`` and a config's relative class paths resolve.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

ROOT = Path(__file__).parent.parent


async def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``wot-labthing ARGS`` to its end (60 s at most): exit code, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wot_labthing", *args,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@asynccontextmanager
async def serving(config: Path, *args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """``wot-labthing serve CONFIG ARGS`` for the block; stopped by SIGTERM at its end.

    A test that kills the process itself (a crash) finds it already gone there.
    """
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wot_labthing", "serve", str(config), *args,
        cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield process
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                process.terminate()
        await asyncio.wait_for(process.wait(), 20)
