"""The client subcommands: ``read``, ``write``, ``invoke``, ``observe`` and ``things``.

Each takes a TD URL, a servient URL (its directory is read) or a Thing's name
found by DNS-SD discovery. They print JSON on stdout and everything else on
stderr, and fail with one line and a non-zero exit, never a traceback.

A module per subcommand (``properties.py`` for ``read`` and ``write``,
``invoke.py``, ``observe.py``, ``things.py``) on what they share
(``session.py``, ``credentials.py``); ``standalone.py`` runs them as a command
of their own. Their arguments live in ``_cli/client_args.py``, which every
command line builds; this package is imported only when a client command runs.
"""

from __future__ import annotations

from ..client_args import add_client_commands
from .invoke import ProgressBar
from .standalone import main

__all__ = ["ProgressBar", "add_client_commands", "main"]
