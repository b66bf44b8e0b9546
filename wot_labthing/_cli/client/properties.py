"""The ``read`` and ``write`` subcommands: one property of a Thing, as JSON."""

from __future__ import annotations

import argparse

from .session import _dump, _json_argument, _run, _Session


def _read(args: argparse.Namespace) -> int:
    def work(session: _Session) -> int:
        thing, _ = session.open(("properties",), args.property)
        print(_dump(thing.read_property(args.property)), flush=True)
        return 0

    return _run(args, work)


def _write(args: argparse.Namespace) -> int:
    value = _json_argument(args.value, "VALUE")

    def work(session: _Session) -> int:
        thing, _ = session.open(("properties",), args.property)
        thing.write_property(args.property, value)
        return 0

    return _run(args, work)
