"""Subcommands whose work lives in other modules: discovery for now."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

__all__ = ["add_extra_commands"]


def _discover(args: argparse.Namespace) -> int:
    from ._discovery import discover

    found = asyncio.run(discover(timeout=args.timeout))
    if args.json:
        print(
            json.dumps(
                [{"title": t.title, "td": t.td_url, "description": t.description} for t in found],
                indent=2,
            )
        )
        return 0
    if not found:
        print(f"no WoT Things found in {args.timeout:g} s")
        return 1
    width = max(len(thing.title) for thing in found)
    url_width = max(len(thing.td_url) for thing in found)
    for thing in found:
        print(f"{thing.title:<{width}}  {thing.td_url:<{url_width}}  {thing.description or ''}")
    return 0


def add_extra_commands(commands: Any) -> None:
    """Add the ``discover`` subcommand to ``commands``."""
    discover = commands.add_parser("discover", help="find WoT Things on the LAN (DNS-SD)")
    discover.add_argument("--timeout", type=float, default=3.0, help="seconds to browse")
    discover.add_argument("--json", action="store_true", help="print JSON")
    discover.set_defaults(handler=_discover)
