"""The client subcommands: ``read``, ``write``, ``invoke``, ``observe`` and ``things``.

Each takes a TD URL, a servient URL (its directory is read) or a Thing's name
found by DNS-SD discovery. They print JSON on stdout and everything else on
stderr, and fail with one line and a non-zero exit, never a traceback.

``invoke`` draws a progress bar on stderr while an asynchronous run goes (when
stderr is a terminal, or with ``--progress``). Ctrl-C then asks
``cancel the run? [y/N]`` on a terminal; without one (or with ``--yes``) it
cancels the run at once, and exits 130 once the servient has cancelled it.

The remote work runs on the client's portal thread (see ``_consumed/sync.py``),
so the main thread stays free to prompt and to take Ctrl-C.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import json
import netrc
import os
import signal
import ssl
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import httpx

from .._consumed.directory import FoundThing, ThingQuery, find_things, pick_thing
from .._consumed.security import Credentials
from .._consumed.sync import Portal, SyncActionHandle, SyncConsumedThing
from .._consumed.thing import ConsumedThing
from .._consumed.transport import NO_BODY
from .._errors import (
    ActionTimeoutError,
    ConsumerError,
    InputError,
    NotFoundError,
    RemoteError,
    WotLabthingError,
)
from .._jsonutil import loads
from .client_args import (
    CAFILE_ENV,
    MQTT_PASSWORD_ENV,
    MQTT_USER_ENV,
    NETRC_ENV,
    PASSWORD_ENV,
    TOKEN_ENV,
    USER_ENV,
    add_client_commands,
)

__all__ = ["ProgressBar", "add_client_commands", "main"]

#: Exit status after Ctrl-C (the shell's 128 + SIGINT).
INTERRUPTED = 130
#: Seconds to wait, after cancelling, for the servient to report how the run ended.
CANCEL_WAIT = 15.0


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _json_argument(text: str, what: str) -> Any:
    try:
        return loads(text)
    except InputError as exc:
        raise InputError(
            f"{what} must be JSON ({exc}); quote strings, e.g. '\"fast\"'", pointer=""
        ) from None


def _credentials(args: argparse.Namespace) -> Credentials | None:
    """HTTP credentials (``--user``, ``--token``, netrc) and the broker login (``--mqtt-user``)."""
    http = _http_credentials(args)
    if not hasattr(args, "mqtt_user"):  # only observe may go through a broker
        return http
    mqtt_user = args.mqtt_user or os.environ.get(MQTT_USER_ENV)
    if not mqtt_user:
        return http
    mqtt_username, _, typed = mqtt_user.partition(":")
    mqtt_password = typed or os.environ.get(MQTT_PASSWORD_ENV)
    if mqtt_password is None:
        if not sys.stdin.isatty():
            raise ConsumerError(
                f"--mqtt-user {mqtt_username}: give USER:PASSWORD or set {MQTT_PASSWORD_ENV}"
            )
        mqtt_password = getpass.getpass(f"MQTT broker password for {mqtt_username}: ")
    return dataclasses.replace(
        http or Credentials(), mqtt_username=mqtt_username, mqtt_password=mqtt_password
    )


def _http_credentials(args: argparse.Namespace) -> Credentials | None:
    token = args.token or os.environ.get(TOKEN_ENV)
    username = password = None
    user = args.user or os.environ.get(USER_ENV)
    if user:
        username, _, typed = user.partition(":")
        password = typed or os.environ.get(PASSWORD_ENV)
        if password is None:
            if not sys.stdin.isatty():
                raise ConsumerError(f"--user {username}: give USER:PASSWORD or set {PASSWORD_ENV}")
            password = getpass.getpass(f"password for {username}: ")
    if token is None and username is None:
        return _netrc_credentials(args)
    return Credentials(username=username, password=password, token=token)


def _netrc_credentials(args: argparse.Namespace) -> Credentials | None:
    """Credentials for the URL's host from a netrc-style file (``--netrc`` or ``$NETRC_ENV``).

    ``machine HOST login USER password PASSWORD`` gives basic credentials;
    ``account bearer`` on the entry makes ``password`` a bearer token instead.
    """
    path = args.netrc or os.environ.get(NETRC_ENV)
    if not path:
        default = Path.home() / ".netrc"
        if not default.is_file():
            return None
        path = str(default)
    host = urlsplit(args.url).hostname if args.url and "://" in args.url else None
    if host is None:
        return None
    try:
        entry = netrc.netrc(path).authenticators(host)
    except (OSError, netrc.NetrcParseError) as exc:
        raise ConsumerError(f"cannot read credentials file {path}: {exc}") from None
    if entry is None:
        return None
    login, account, secret = entry
    if account == "bearer":
        return Credentials(token=secret)
    return Credentials(username=login, password=secret)


def _verify(args: argparse.Namespace) -> ssl.SSLContext | bool:
    """Certificate checking for https: the system's CAs, or ``--cafile``'s."""
    cafile = args.cafile or os.environ.get(CAFILE_ENV)
    if not cafile:
        return True
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise ConsumerError(f"cannot load CA file {cafile}: {exc}") from None


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
        from .._discovery import discover_directories

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


# read / write --------------------------------------------------------------------


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


# invoke --------------------------------------------------------------------------


class ProgressBar:
    """A one-line progress bar redrawn in place (carriage return) on a text stream."""

    def __init__(self, stream: TextIO, label: str, width: int = 30) -> None:
        self.stream = stream
        self.label = label
        self.width = width
        self.drawn = False

    def update(self, status: str, progress: float | None) -> None:
        """Redraw for the run's current status and progress (percent, or None if unknown)."""
        if progress is None:
            text = f"{self.label} {status}"
        else:
            share = max(0.0, min(progress, 100.0)) / 100
            filled = round(self.width * share)
            bar = "#" * filled + "." * (self.width - filled)
            text = f"{self.label} [{bar}] {100 * share:5.1f}% {status}"
        self.stream.write("\r" + text + "\x1b[K" if self.stream.isatty() else "\r" + text)
        self.stream.flush()
        self.drawn = True

    def end(self) -> None:
        """Finish the line so later output starts on a new one."""
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


def _ask_cancel(args: argparse.Namespace) -> bool:
    """After Ctrl-C: whether to cancel the run (asked on a terminal; yes otherwise)."""
    if args.yes or not sys.stdin.isatty():
        return True
    sys.stderr.write("cancel the run? [y/N] ")
    sys.stderr.flush()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        answer = sys.stdin.readline()
    except KeyboardInterrupt:  # a second Ctrl-C: the user wants it stopped
        sys.stderr.write("\n")
        return True
    finally:
        signal.signal(signal.SIGINT, previous)
    return answer.strip().lower() in ("y", "yes")


class _Follower:
    """Follows a run's updates in a thread, drawing the bar, until the run ends.

    The main thread only waits and watches a flag set by its SIGINT handler: a
    KeyboardInterrupt raised at an arbitrary point (inside a garbage-collector
    callback, say) can be swallowed by Python, and the user's Ctrl-C lost.
    """

    def __init__(self, handle: SyncActionHandle, bar: ProgressBar | None) -> None:
        self.handle = handle
        self.bar = bar
        self.drawing = threading.Event()
        self.drawing.set()
        self._drawing_lock = threading.Lock()
        self.ended = threading.Event()
        self.failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="follow-run", daemon=True)
        self._thread.start()

    def _draw(self) -> None:
        with self._drawing_lock:  # never a bar over the question pause() makes room for
            if self.bar is not None and self.drawing.is_set():
                self.bar.update(self.handle.status, self.handle.progress)

    def _run(self) -> None:
        try:
            self._draw()
            for _ in self.handle.updates():
                self._draw()
        except BaseException as exc:  # handed to the main thread
            self.failure = exc
        finally:
            self.ended.set()

    def pause(self) -> None:
        """Stop drawing (a question is being asked) and end the bar's line."""
        with self._drawing_lock:
            self.drawing.clear()
            if self.bar is not None:
                self.bar.end()

    def resume(self) -> None:
        """Draw again."""
        self.drawing.set()

    def join(self) -> None:
        """Wait for the thread; re-raise what it failed with."""
        self._thread.join()
        if self.failure is not None:
            raise self.failure


def _invoke(args: argparse.Namespace) -> int:
    action_input = NO_BODY if args.input is None else _json_argument(args.input, "--input")

    def work(session: _Session) -> int:
        thing, _ = session.open(("actions",), args.action)
        handle = thing.start_action(args.action, action_input)
        show = args.progress or sys.stderr.isatty()
        # A run that ended inside the servient's wait still shows how it ended.
        bar = ProgressBar(sys.stderr, args.action) if show else None
        interrupted = threading.Event()
        previous = signal.signal(signal.SIGINT, lambda *_: interrupted.set())
        try:
            follower = _Follower(handle, bar)
            while not follower.ended.wait(0.05):
                if not interrupted.is_set():
                    continue
                interrupted.clear()
                follower.pause()
                if not _ask_cancel(args):
                    follower.resume()
                    continue
                print(f"cancelling {args.action} ...", file=sys.stderr, flush=True)
                handle.cancel()
                try:  # report how it ended, not "cancelling" (the stage may need to stop)
                    handle.wait(CANCEL_WAIT)
                except (RemoteError, ActionTimeoutError):
                    pass
                if handle.status == "completed":
                    break  # it finished before the cancel arrived
                state = "cancelled" if handle.cancelled else handle.status
                print(f"{args.action}: run {state}", file=sys.stderr)
                return INTERRUPTED
            follower.join()
        finally:
            signal.signal(signal.SIGINT, previous)
        if bar is not None:
            follower.pause()
        print(_dump(handle.wait()), flush=True)
        return 0

    return _run(args, work)


# observe ---------------------------------------------------------------------------


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


# things ----------------------------------------------------------------------------


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


# wiring ------------------------------------------------------------------------------


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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
