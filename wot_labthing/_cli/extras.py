"""Subcommands whose work lives in other modules: simulators, discovery, the client."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_extra_commands"]


def _discover(args: argparse.Namespace) -> int:
    from .discover import directories_command, discover_command

    if args.directories:
        return directories_command(args.timeout, args.json)
    return discover_command(args.timeout, args.json)


def _hash_password(args: argparse.Namespace) -> int:
    import getpass
    import sys

    from .._errors import WotLabthingError
    from .._security import hash_secret

    if args.stdin:
        secret = sys.stdin.readline().rstrip("\r\n")
    else:
        secret = getpass.getpass("password or token: ")
        if getpass.getpass("again: ") != secret:
            raise WotLabthingError("the two entries differ")
    if not secret:
        raise WotLabthingError("an empty password cannot be hashed")
    print(hash_secret(secret))
    return 0


def add_extra_commands(commands: Any) -> None:
    """Add ``simulate``, ``list``, ``discover`` and the client subcommands to ``commands``."""
    from .._simulators import add_simulate_command
    from .client_args import add_client_commands
    from .plugins import add_list_command

    add_simulate_command(commands)
    add_list_command(commands)
    discover = commands.add_parser("discover", help="find WoT Things on the LAN (DNS-SD)")
    discover.add_argument("--timeout", type=float, default=3.0, help="seconds to browse")
    discover.add_argument("--json", action="store_true", help="print JSON")
    discover.add_argument(
        "--directories",
        action="store_true",
        help="list the TD Directories advertised (_directory._sub._wot._tcp) instead of Things",
    )
    discover.set_defaults(handler=_discover)
    add_client_commands(commands)
    hashing = commands.add_parser(
        "hash-password",
        help="print a salted scrypt hash of a password or token for [security] in a config",
    )
    hashing.add_argument(
        "--stdin", action="store_true", help="read the secret from one line of stdin"
    )
    hashing.set_defaults(handler=_hash_password)
