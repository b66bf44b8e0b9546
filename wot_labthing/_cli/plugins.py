"""``wot-labthing list``: the drivers and simulators installed packages register."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .._errors import WotLabthingError
from .._plugins import SIMULATORS_GROUP, THINGS_GROUP, Plugin, installed

__all__ = ["add_list_command"]


def _summary(plugin: Plugin) -> tuple[str, str | None]:
    """The class's one-line summary, or why it cannot be loaded (a broken plug-in shows)."""
    try:
        cls = plugin.load()
    except WotLabthingError as exc:
        return "", str(exc)
    except Exception as exc:  # a plug-in's import-time bug must not hide the others
        return "", f"{type(exc).__name__}: {exc}"
    doc = (getattr(cls, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else "", None


def _list(args: argparse.Namespace) -> int:
    sections = [("drivers", THINGS_GROUP), ("simulators", SIMULATORS_GROUP)]
    listing: dict[str, list[dict[str, Any]]] = {}
    for title, group in sections:
        rows = []
        for plugin in installed(group):
            summary, error = _summary(plugin)
            row = {
                "name": plugin.name,
                "class": plugin.target,
                "distribution": plugin.distribution,
                "summary": summary,
            }
            if error is not None:
                row["error"] = error
            rows.append(row)
        listing[title] = rows
    if args.json:
        print(json.dumps(listing, indent=2))
        return 1 if any("error" in row for rows in listing.values() for row in rows) else 0
    failed = False
    for (title, group), rows in zip(sections, listing.values(), strict=True):
        print(f"{title} ({group}):")
        if not rows:
            print("  (none)")
        width = max((len(row["name"]) for row in rows), default=0)
        for row in rows:
            print(f"  {row['name']:<{width}}  {row['class']}  [{row['distribution']}]")
            if "error" in row:
                failed = True
                print(f"  {'':<{width}}  cannot load: {row['error']}")
            elif row["summary"]:
                print(f"  {'':<{width}}  {row['summary']}")
    return 1 if failed else 0


def add_list_command(commands: Any) -> None:
    """Add ``list`` to the CLI's subcommands."""
    listing = commands.add_parser(
        "list",
        help="show the installed drivers and simulators",
        description="Show the drivers (entry point group wot_labthing.things) and simulators "
        "(wot_labthing.simulators) that installed packages register; a config or "
        "`simulate` may name them instead of module:Class. Exits 1 if one cannot be loaded.",
    )
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=_list)
