"""The client subcommands as a command of their own (``python -m wot_labthing._cli.client``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..._errors import WotLabthingError
from ..client_args import add_client_commands
from .session import INTERRUPTED

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """The client subcommands on their own (``python -m wot_labthing._cli.client``)."""
    parser = argparse.ArgumentParser(
        prog="wot-labthing", description="Use WoT Things from their TDs."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    add_client_commands(commands)
    args = parser.parse_args(argv)
    try:
        status: int = args.handler(args)
        return status
    except KeyboardInterrupt:
        return INTERRUPTED
    except WotLabthingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
