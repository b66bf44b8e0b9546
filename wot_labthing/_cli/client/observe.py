"""The ``observe`` subcommand: every change of a property (or every event) as a JSON line."""

from __future__ import annotations

import argparse
import sys

from .session import _dump, _run, _Session


def _observe(args: argparse.Namespace) -> int:
    def work(session: _Session) -> int:
        thing, kind = session.open(("properties", "events"), args.name)
        options = {"subprotocol": args.subprotocol} if args.subprotocol else {}
        if kind == "properties":
            subscription = thing.observe_property(args.name, **options)
        else:
            subscription = thing.subscribe_event(args.name, **options)
        print(
            f"observing {args.name} of {thing.title!r} over {subscription.subscription.subprotocol}"
            " (Ctrl-C stops)",
            file=sys.stderr,
            flush=True,
        )
        seen = 0
        try:
            for value in subscription:
                print(_dump(value), flush=True)
                seen += 1
                if args.count and seen >= args.count:
                    break
        except KeyboardInterrupt:
            pass
        return 0

    return _run(args, work)
