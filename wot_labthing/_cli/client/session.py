"""What every client command shares: a session to the Things its URL leads to.

A :class:`_Session` runs the remote work on the client's portal thread (see
``_consumed/sync.py``), so the main thread stays free to prompt and to take
Ctrl-C; :func:`_run` turns transport failures into one-line errors, never a
traceback. JSON in (arguments) and out (stdout) is handled here too.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import httpx

from ..._consumed.directory import FoundThing, ThingQuery, find_things, pick_thing
from ..._consumed.sync import Portal, SyncConsumedThing
from ..._consumed.thing import ConsumedThing
from ..._errors import ConsumerError, InputError, NotFoundError
from ..._jsonutil import loads
from .credentials import _credentials, _verify

__all__ = ["INTERRUPTED"]

#: Exit status after Ctrl-C (the shell's 128 + SIGINT).
INTERRUPTED = 130


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _json_argument(text: str, what: str) -> Any:
    try:
        return loads(text)
    except InputError as exc:
        raise InputError(
            f"{what} must be JSON ({exc}); quote strings, e.g. '\"fast\"'", pointer=""
        ) from None


class _Session:
    """A portal thread, an HTTP client on it, and the Things the URL leads to."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.credentials = _credentials(args)
        self.portal = Portal()
        self.client: httpx.AsyncClient | None = None
        self.thing: SyncConsumedThing | None = None

    def find(self, query: ThingQuery | None = None) -> list[FoundThing]:
        async def run() -> list[FoundThing]:
            self.client = httpx.AsyncClient(trust_env=False, verify=_verify(self.args))
            if self.args.url is None:
                return await self._on_the_lan(self.client, query)
            return await find_things(
                self.args.url,
                client=self.client,
                credentials=self.credentials,
                timeout=self.args.timeout,
                discovery_timeout=self.args.discover_timeout,
                query=query,
            )

        return self.portal.call(run())

    async def _on_the_lan(
        self, client: httpx.AsyncClient, query: ThingQuery | None
    ) -> list[FoundThing]:
        """The Things of every TD Directory announced on the LAN (each Thing once)."""
        from ..._discovery import discover_directories

        wait = self.args.discover_timeout
        directories = [d for d in await discover_directories(wait) if d.url is not None]
        if not directories:
            raise ConsumerError(
                f"no TD Directory announced on the LAN within {wait:g} s"
                " (_directory._sub._wot._tcp); give its URL"
            )
        found: list[FoundThing] = []
        seen: set[str] = set()
        for directory in directories:
            assert directory.url is not None
            print(f"directory: {directory.title} at {directory.url}", file=sys.stderr)
            for thing in await find_things(
                directory.url,
                client=client,
                credentials=self.credentials,
                timeout=self.args.timeout,
                query=query,
            ):
                key = str(thing.td.get("id") or thing.td_url)
                if key not in seen:
                    seen.add(key)
                    found.append(thing)
        return found

    def open(self, kinds: tuple[str, ...], name: str) -> tuple[SyncConsumedThing, str]:
        """The Thing that has ``name`` (as the first of ``kinds`` that fits) and that kind."""
        found = self.find()
        chosen: FoundThing | None = None
        kind = kinds[0]
        for kind in kinds:
            try:
                chosen = pick_thing(found, kind, name, self.args.url)
            except NotFoundError:
                if kind == kinds[-1]:
                    raise
                continue
            if name in (chosen.td.get(kind) or {}) or kind == kinds[-1]:
                break
        assert chosen is not None and self.client is not None
        consumed = ConsumedThing(
            chosen.td,
            url=chosen.td_url,
            client=self.client,
            credentials=self.credentials,
            timeout=self.args.timeout,
            strict=not self.args.no_validate,
        )
        self.thing = SyncConsumedThing(self.portal, consumed)
        return self.thing, kind

    def close(self) -> None:
        try:
            if self.thing is not None:
                self.portal.call(self.thing.thing.aclose())
            if self.client is not None:
                self.portal.call(self.client.aclose())
        finally:
            self.portal.close()


def _run(args: argparse.Namespace, work: Any) -> int:
    session = _Session(args)
    try:
        result: int = work(session)
        return result
    except httpx.HTTPError as exc:  # anything the client did not already translate
        raise ConsumerError(f"{type(exc).__name__}: {exc}") from exc
    except OSError as exc:
        raise ConsumerError(str(exc)) from exc
    finally:
        session.close()
