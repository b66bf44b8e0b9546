"""The ``wot-labthing discover`` command: find WoT Things on the LAN and list them."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from .._discovery import DiscoveredThing, discover_sync

__all__ = ["discover_command", "format_table"]


def _as_json(found: list[DiscoveredThing]) -> str:
    return json.dumps(
        [
            {
                "title": thing.title,
                "td_url": thing.td_url,
                "description": thing.description,
                "id": thing.id,
                "via": thing.via,
                "valid": not thing.problems,
                "td": thing.td,
            }
            for thing in found
        ],
        indent=2,
        ensure_ascii=False,
    )


def format_table(found: list[DiscoveredThing]) -> str:
    """Title, TD URL and description, one Thing per line under a header."""
    rows = [("TITLE", "TD URL", "DESCRIPTION")]
    for thing in found:
        description = " ".join((thing.description or "").split())
        if thing.problems:
            count = len(thing.problems)
            problems = f"{count} problem" if count == 1 else f"{count} problems"
            description = f"(invalid TD: {problems}) {description}"
        rows.append((thing.title, thing.td_url, description))
    title_width = max(len(row[0]) for row in rows)
    url_width = max(len(row[1]) for row in rows)
    return "\n".join(
        f"{title:<{title_width}}  {url:<{url_width}}  {text}".rstrip() for title, url, text in rows
    )


def discover_command(timeout: float, as_json: bool, out: TextIO | None = None) -> int:
    """Browse for ``timeout`` seconds and print what was found; 1 if nothing was.

    With ``as_json`` the output is a JSON array of objects with ``title``,
    ``td_url``, ``description``, ``id``, ``via``, ``valid`` and the ``td``
    itself; an empty array when nothing was found (the exit status is still 1).
    """
    out = out or sys.stdout
    found = discover_sync(timeout)
    if as_json:
        print(_as_json(found), file=out)
    elif found:
        print(format_table(found), file=out)
    else:
        print(
            f"no WoT Things found in {timeout:g} s (mDNS on UDP port 5353; is the servient"
            " bound to a LAN address, and does a firewall drop multicast?)",
            file=sys.stderr,
        )
    return 0 if found else 1
