"""Where a servient keeps its state between runs (the ``state_dir`` config key).

A minimal resolver: a configured directory wins, else the platform's user state
directory (``~/.local/state/wot-labthing`` on Linux) from platformdirs.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs

__all__ = ["resolve_state_dir"]


def resolve_state_dir(configured: str | Path | None) -> Path:
    """The state directory: ``configured`` (``~`` expanded) or the user state directory.

    The directory is not created here; whoever writes into it creates it.
    """
    if configured is not None and str(configured) != "":
        return Path(configured).expanduser()
    return platformdirs.user_state_path("wot-labthing", appauthor=False)
