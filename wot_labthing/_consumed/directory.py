"""What a URL or a name offers: one TD, a servient's directory, or a discovered Thing.

The command line accepts a TD URL, a servient URL (``http://host:8080/``) or a
Thing's name found by DNS-SD discovery; this module turns any of them into
``(TD URL, TD)`` pairs. A servient root is tried as given, then at its
``/.well-known/wot`` (WoT Discovery) and ``/things`` (a TD directory listing).
A directory TD (``@type: ThingDirectory``, or a ``things`` property) is read
through its ``things`` property (a Domus TDD's: ``retrieveTDs``); a JSON array of
TDs or of TD URLs (node-wot's root) is taken as the list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from .._errors import ConsumerError, NotFoundError, RemoteError, TDError
from .forms import singular
from .security import Credentials
from .thing import ConsumedThing, fetch_json

__all__ = ["FoundThing", "find_things", "is_url", "read_directory"]

_HOST_PORT = re.compile(r"^[\w.-]+:\d+(/.*)?$|^\[[0-9a-fA-F:.%\w]+\]:\d+(/.*)?$")


@dataclass
class FoundThing:
    """A Thing a URL or a name led to."""

    td_url: str
    td: dict[str, Any]

    @property
    def title(self) -> str:
        """The TD's title."""
        return str(self.td.get("title", "?"))


def is_url(text: str) -> bool:
    """Whether ``text`` is a URL (or ``host:port``) rather than a name to discover."""
    return "://" in text or bool(_HOST_PORT.match(text))


#: The property a directory TD lists its TDs in: ``things`` (WoT Discovery, node-wot, us),
#: ``retrieveTDs`` (Eclipse Thingweb's Domus TDD 1.0).
_LISTING_PROPERTIES = ("things", "retrieveTDs")


def _listing_property(td: dict[str, Any]) -> str:
    properties = td.get("properties") or {}
    return next((name for name in _LISTING_PROPERTIES if name in properties), "things")


def _is_directory(td: dict[str, Any]) -> bool:
    types = td.get("@type")
    types = types if isinstance(types, list) else [types]
    properties = td.get("properties") or {}
    return "ThingDirectory" in types or any(name in properties for name in _LISTING_PROPERTIES)


def _item_url(td: dict[str, Any], items: set[str], fallback: str) -> str:
    """Where a listed TD lives: the directory's item link that matches its base."""
    base = td.get("base")
    own = base.rstrip("/") if isinstance(base, str) else None
    return own if own is not None and own in items else fallback


async def read_directory(
    client: httpx.AsyncClient,
    url: str,
    td: dict[str, Any],
    credentials: Credentials | None = None,
    request_timeout: float = 10.0,
) -> list[FoundThing]:
    """The Things a directory TD (fetched from ``url``) lists in its ``things`` property.

    The one directory parser: the CLI client and LAN discovery both use it. A
    listed TD's URL is the directory's ``item`` link that matches the TD's base;
    without one it is ``url`` (the TD is known only through the directory).
    """
    directory = ConsumedThing(
        td, url=url, client=client, credentials=credentials, timeout=request_timeout, strict=False
    )
    base = directory.base or url
    try:
        listing = await directory.read_property(_listing_property(td))
    except RemoteError as exc:
        # Domus TDD 1.0's form fills its optional query variables with empty strings,
        # which it then answers with a 500; the Things API listing itself works.
        fallback = urljoin(base if base.endswith("/") else base + "/", "things")
        try:
            listing = await fetch_json(client, fallback, request_timeout, credentials)
        except (RemoteError, TDError):
            raise exc from None
    items = {
        urljoin(base, link["href"])
        for link in td.get("links") or []
        if isinstance(link, dict) and link.get("rel") == "item" and link.get("href")
    }
    return await _listing(client, url, listing, items, request_timeout, credentials)


async def _listing(
    client: httpx.AsyncClient,
    url: str,
    listing: Any,
    items: set[str],
    request_timeout: float,
    credentials: Credentials | None,
) -> list[FoundThing]:
    found = []
    for entry in listing if isinstance(listing, list) else []:
        if isinstance(entry, dict):
            found.append(FoundThing(_item_url(entry, items, url), entry))
        elif isinstance(entry, str):  # node-wot's root lists TD URLs
            td_url = urljoin(url, entry)
            td = await fetch_json(client, td_url, request_timeout, credentials)
            if isinstance(td, dict):
                found.append(FoundThing(td_url, td))
    return found


async def _at_url(
    client: httpx.AsyncClient, url: str, credentials: Credentials | None, request_timeout: float
) -> list[FoundThing]:
    if "://" not in url:
        url = "http://" + url
    candidates = [url]
    parts = urlsplit(url)
    if parts.path in ("", "/"):
        root = f"{parts.scheme}://{parts.netloc}/"
        candidates += [root + ".well-known/wot", root + "things"]
    last: Exception | None = None
    for candidate in candidates:
        try:
            document = await fetch_json(client, candidate, request_timeout, credentials)
        except (RemoteError, TDError) as exc:
            if isinstance(exc, TDError) and "cannot connect" in str(exc):
                raise
            last = exc
            continue
        if isinstance(document, dict):
            if _is_directory(document):
                return await read_directory(
                    client, candidate, document, credentials, request_timeout
                )
            return [FoundThing(candidate, document)]
        if isinstance(document, list) and document:
            return await _listing(client, candidate, document, set(), request_timeout, credentials)
        last = TDError(f"{candidate} holds no Thing Description")
    assert last is not None
    raise last


async def find_things(
    where: str,
    *,
    client: httpx.AsyncClient,
    credentials: Credentials | None = None,
    timeout: float = 10.0,  # noqa: ASYNC109 - per request, given to httpx
    discovery_timeout: float = 3.0,
) -> list[FoundThing]:
    """The Things ``where`` (a TD URL, servient URL or discoverable name) leads to."""
    if is_url(where):
        return await _at_url(client, where, credentials, timeout)
    from .._discovery import discover

    found = await discover(discovery_timeout)
    wanted = where.casefold()
    matches = [
        FoundThing(thing.td_url, thing.td)
        for thing in found
        if thing.title.casefold() == wanted
        or thing.td_url.rstrip("/").rsplit("/", 1)[-1].casefold() == wanted
    ]
    if not matches:
        seen = ", ".join(sorted({thing.title for thing in found})) or "nothing"
        raise NotFoundError(
            f"no Thing named {where!r} found by discovery in {discovery_timeout:g} s "
            f"(found: {seen})",
            kind="thing",
            name=where,
        )
    return matches


def pick_thing(found: list[FoundThing], kind: str, name: str, where: str) -> FoundThing:
    """The one Thing among ``found`` that has the affordance ``name`` of ``kind``."""
    if len(found) == 1:
        return found[0]
    having = [thing for thing in found if name in (thing.td.get(kind) or {})]
    if len(having) == 1:
        return having[0]
    if not having:
        titles = ", ".join(thing.title for thing in found) or "no Things"
        raise NotFoundError(
            f"none of the Things at {where} has a {singular(kind)} {name!r} ({titles})",
            kind=kind,
            name=name,
        )
    urls = ", ".join(thing.td_url for thing in having)
    raise ConsumerError(
        f"several Things at {where} have a {singular(kind)} {name!r}: use one of {urls}"
    )
