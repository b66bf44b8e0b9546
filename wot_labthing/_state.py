"""Where a servient keeps state between runs, and how a state file is written safely.

The state directory is ``state_dir`` from the config's ``[servient]`` table, or by
default the platform's user state directory for "wot-labthing" (platformdirs:
``~/.local/state/wot-labthing`` on Linux). Files there are written atomically:
a temporary file in the same directory, flushed and fsynced, then renamed over
the old one (and the directory fsynced), so a crash or power cut at any moment
leaves either the old file or the new one, never a torn mix.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import platformdirs

__all__ = ["APP_NAME", "atomic_write_json", "resolve_state_dir"]

#: The application name platformdirs derives the default directory from.
APP_NAME = "wot-labthing"


def resolve_state_dir(configured: str | os.PathLike[str] | None) -> Path:
    """The state directory: ``configured`` (``~`` expanded) or the user state directory.

    The directory is not created here; writers create it when they first save.
    """
    if configured is not None and str(configured) != "":
        return Path(os.fspath(configured)).expanduser()  # no disk access: safe on a loop
    return platformdirs.user_state_path(APP_NAME, appauthor=False)


def atomic_write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` atomically (temp file, fsync, rename, dir fsync).

    Blocking: call it from a worker thread, never on the event loop.
    """
    text = json.dumps(data, indent=1, sort_keys=True, allow_nan=False, ensure_ascii=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text + "\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
