"""The ``things`` subcommand: list or search the Things a servient or directory offers."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..._consumed.directory import FoundThing, ThingQuery
from .session import _run, _Session

__all__ = ["format_things"]


def _summary(td: dict[str, Any]) -> str:
    parts = []
    for kind, singular in (("properties", "property"), ("actions", "action"), ("events", "event")):
        count = len(td.get(kind) or {})
        if count:
            parts.append(f"{count} {singular if count == 1 else kind}")
    return ", ".join(parts)


def format_things(found: list[FoundThing]) -> str:
    """Title, TD URL and what each Thing offers, one Thing per line under a header."""
    rows = [("TITLE", "TD URL", "OFFERS")]
    rows += [(thing.title, thing.td_url, _summary(thing.td)) for thing in found]
    widths = [max(len(row[column]) for row in rows) for column in (0, 1)]
    return "\n".join(
        f"{title:<{widths[0]}}  {url:<{widths[1]}}  {offers}".rstrip()
        for title, url, offers in rows
    )


def _things(args: argparse.Namespace) -> int:
    query = ThingQuery(title=args.title, type=args.type)

    def work(session: _Session) -> int:
        found = session.find(query or None)
        if args.json:
            listing = [
                {
                    "title": thing.title,
                    "td_url": thing.td_url,
                    "id": thing.td.get("id"),
                    "description": thing.td.get("description"),
                    "properties": sorted(thing.td.get("properties") or {}),
                    "actions": sorted(thing.td.get("actions") or {}),
                    "events": sorted(thing.td.get("events") or {}),
                }
                for thing in found
            ]
            print(json.dumps(listing, indent=2, ensure_ascii=False))
        elif found:
            print(format_things(found))
        else:
            matching = " matching the search" if query else ""
            where = args.url or "the LAN's TD Directories"
            print(f"{where} offers no Things{matching}", file=sys.stderr)
        return 0 if found else 1

    return _run(args, work)
