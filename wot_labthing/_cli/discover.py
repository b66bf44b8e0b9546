"""The ``wot-labthing discover`` command: find WoT Things (or TD Directories) on the LAN."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from .._discovery import (
    DiscoveredDirectory,
    DiscoveredThing,
    discover_directories_sync,
    discover_sync,
)

__all__ = ["directories_command", "discover_command", "format_directories", "format_table"]


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


def format_directories(found: list[DiscoveredDirectory]) -> str:
    """Title, TD URL and the base URL to register with (or ``read-only``), one per line."""
    rows = [("TITLE", "TD URL", "REGISTER AT")]
    rows += [(d.title, d.td_url, d.url or "read-only") for d in found]
    widths = [max(len(row[column]) for row in rows) for column in (0, 1)]
    return "\n".join(
        f"{title:<{widths[0]}}  {url:<{widths[1]}}  {base}".rstrip() for title, url, base in rows
    )


def directories_command(timeout: float, as_json: bool, out: TextIO | None = None) -> int:
    """``discover --directories``: the TD Directories advertised; 1 if none was found.

    With ``as_json``: a JSON array of objects with ``title``, ``td_url``, ``url``
    (the base URL to register with and search, null for a read-only directory)
    and ``writable``.
    """
    out = out or sys.stdout
    found = discover_directories_sync(timeout)
    if as_json:
        listing = [
            {"title": d.title, "td_url": d.td_url, "url": d.url, "writable": d.writable}
            for d in found
        ]
        print(json.dumps(listing, indent=2, ensure_ascii=False), file=out)
    elif found:
        print(format_directories(found), file=out)
    else:
        print(
            f"no TD Directories found in {timeout:g} s (_directory._sub._wot._tcp over mDNS)",
            file=sys.stderr,
        )
    return 0 if found else 1
