"""What a URL or a name offers: one TD, a servient's directory, or a discovered Thing.

The command line accepts a TD URL, a servient URL (``http://host:8080/``) or a
Thing's name found by DNS-SD discovery; this module turns any of them into
``(TD URL, TD)`` pairs. A servient root is tried as given, then at its
``/.well-known/wot`` (WoT Discovery) and ``/things`` (a TD directory listing).
A directory TD (``@type: ThingDirectory``, or a ``things`` property) is read
through its ``things`` property (a Domus TDD's: ``retrieveTDs``); a JSON array of
TDs or of TD URLs (node-wot's root) is taken as the list.

A :class:`ThingQuery` (title, ``@type``) narrows what is found. Its meaning is
the client-side filter :meth:`ThingQuery.matches`, applied to every result
however they were obtained; a directory whose TD offers SPARQL search
(``searchSPARQL``, Domus TDD) is first asked for the TDs whose title could match,
so only those are fetched. A directory without search (a servient's own
``/things``), or whose search fails, is listed in full and filtered here.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx

from .._backoff import backoff_delay
from .._errors import ConsumerError, NotFoundError, RemoteError, TDError
from .forms import singular
from .security import Credentials
from .thing import ConsumedThing, _bootstrap, fetch_json, td_problems_off_loop

__all__ = [
    "FoundThing",
    "ThingQuery",
    "find_things",
    "is_url",
    "read_directory",
    "search_things",
    "sparql_title_query",
]

_log = logging.getLogger(__name__)

#: Times a directory's listing is read when it answers 5xx: Domus TDD 1.0.2 answers
#: ``GET /things`` with a 500 when a TD is written while it lists (a KeyError in its
#: paging), which the next read does not meet.
LISTING_ATTEMPTS = 3
#: Seconds before the first retry of a failed listing, and at most between two
#: (``_backoff.backoff_delay``).
LISTING_RETRY_FIRST = 0.25
LISTING_RETRY_MAX = 2.0

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


@dataclass(frozen=True)
class ThingQuery:
    """What to look for among TDs; an empty query matches every TD.

    Attributes:
        title: a part of the TD's ``title``, in any case ("lamp" matches
            "Bench Lamp 2").
        type: one of the TD's ``@type`` values, exactly as the TD writes it
            ("saref:LightSwitch"). A Domus TDD adds ``Thing`` to every TD it stores.
    """

    title: str | None = None
    type: str | None = None

    def __bool__(self) -> bool:
        return self.title is not None or self.type is not None

    def matches(self, td: dict[str, Any]) -> bool:
        """Whether ``td`` is one the query asks for (the one definition of a match)."""
        if self.title is not None:
            title = td.get("title")
            if not isinstance(title, str) or self.title.lower() not in title.lower():
                return False
        if self.type is not None:
            types = td.get("@type")
            if self.type not in (types if isinstance(types, list) else [types]):
                return False
        return True


def sparql_title_query(title: str) -> str:
    """A SPARQL query for the ids of TDs whose title contains ``title``, in any case.

    ``title`` never enters the query as text a parser could misread: it is
    lower-cased and percent-encoded (RFC 3986 unreserved characters only, as
    SPARQL's ``ENCODE_FOR_URI``), and compared with the stored titles treated the
    same way. Quotes, backslashes, braces or Unicode escapes in a title cannot end
    the string literal. The comparison may admit a few extra TDs (a match across
    an escape's digits); :meth:`ThingQuery.matches` removes them.
    """
    needle = quote(title.lower(), safe="-._~")
    return (
        "PREFIX td: <https://www.w3.org/2019/wot/td#>\n"
        "SELECT DISTINCT ?id WHERE { GRAPH ?g { ?id td:title ?title ."
        f' FILTER(CONTAINS(ENCODE_FOR_URI(LCASE(STR(?title))), "{needle}")) }} }}'
    )


def _search_form(td: dict[str, Any]) -> dict[str, Any] | None:
    """The directory's SPARQL search form that takes the query as a POST body, if any."""
    search = (td.get("properties") or {}).get("searchSPARQL")
    forms = search.get("forms") if isinstance(search, dict) else None
    for form in forms if isinstance(forms, list) else []:
        if isinstance(form, dict) and form.get("htv:methodName") == "POST" and form.get("href"):
            return form
    return None


async def _sparql_ids(
    client: httpx.AsyncClient,
    endpoint: str,
    query: str,
    credentials: Credentials | None,
    request_timeout: float,
) -> list[str] | None:
    """The ``?id`` values the SPARQL search answers, or None if the search failed."""
    headers = {
        "Content-Type": "application/sparql-query",
        "Accept": "application/sparql-results+json",
    }
    try:
        response = await client.post(
            endpoint, content=query, headers=headers, timeout=request_timeout
        )
        if response.status_code == 401:
            auth = _bootstrap(response, credentials)
            if auth:
                response = await client.post(
                    endpoint, content=query, headers=headers | auth, timeout=request_timeout
                )
        response.raise_for_status()
        bindings = response.json()["results"]["bindings"]
        return [str(row["id"]["value"]) for row in bindings]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        _log.info("search at %s failed (%s); filtering the full listing instead", endpoint, exc)
        return None


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
    query: ThingQuery | None = None,
) -> list[FoundThing]:
    """The Things a directory TD (fetched from ``url``) lists in its ``things`` property.

    The one directory parser: the CLI client and LAN discovery both use it. A
    listed TD's URL is the directory's ``item`` link that matches the TD's base;
    without one it is ``url`` (the TD is known only through the directory).
    With a ``query``, only the TDs it matches (searched by the directory first
    when it offers SPARQL search, see the module's docstring).
    """
    directory = ConsumedThing(
        td,
        url=url,
        client=client,
        credentials=credentials,
        timeout=request_timeout,
        strict=False,
        problems=await td_problems_off_loop(td),
    )
    base = directory.base or url
    items = {
        urljoin(base, link["href"])
        for link in td.get("links") or []
        if isinstance(link, dict) and link.get("rel") == "item" and link.get("href")
    }
    form = _search_form(td)
    if query is not None and query.title is not None and form is not None:
        endpoint = urljoin(base, form["href"])
        ids = await _sparql_ids(
            client, endpoint, sparql_title_query(query.title), credentials, request_timeout
        )
        if ids is not None:
            things = urljoin(base if base.endswith("/") else base + "/", "things/")
            tds = await asyncio.gather(
                *(
                    fetch_json(client, things + quote(td_id, safe=""), request_timeout, credentials)
                    for td_id in dict.fromkeys(ids)
                )
            )
            return [
                FoundThing(_item_url(entry, items, url), entry)
                for entry in tds
                if isinstance(entry, dict) and query.matches(entry)
            ]
    attempt = 0
    while True:
        try:
            listing = await _read_listing(client, directory, base, td, credentials, request_timeout)
            break
        except RemoteError as exc:
            attempt += 1
            if exc.status < 500:
                raise
            if attempt >= LISTING_ATTEMPTS:
                raise RemoteError(
                    f"the directory at {url} could not list its Things: it answered "
                    f"{exc.status} {attempt} times (last: {exc})",
                    status=exc.status,
                    problem=exc.problem,
                ) from exc
            _log.info("listing the directory at %s failed (%s); trying again", url, exc)
            await asyncio.sleep(
                backoff_delay(attempt - 1, first=LISTING_RETRY_FIRST, maximum=LISTING_RETRY_MAX)
            )
    found = await _listing(client, url, listing, items, request_timeout, credentials)
    return [thing for thing in found if query is None or query.matches(thing.td)]


async def _read_listing(
    client: httpx.AsyncClient,
    directory: ConsumedThing,
    base: str,
    td: dict[str, Any],
    credentials: Credentials | None,
    request_timeout: float,
) -> Any:
    """The directory's listing: its listing property, else its Things API ``things``."""
    try:
        return await directory.read_property(_listing_property(td))
    except RemoteError as exc:
        # Domus TDD 1.0's form fills its optional query variables with empty strings,
        # which it then answers with a 500; the Things API listing itself works.
        fallback = urljoin(base if base.endswith("/") else base + "/", "things")
        try:
            return await fetch_json(client, fallback, request_timeout, credentials)
        except RemoteError as failed:
            if failed.status >= 500:  # the listing there failed: that is what to retry
                raise
            raise exc from None
        except TDError:
            raise exc from None


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
    client: httpx.AsyncClient,
    url: str,
    credentials: Credentials | None,
    request_timeout: float,
    query: ThingQuery | None = None,
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
                    client, candidate, document, credentials, request_timeout, query
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
    query: ThingQuery | None = None,
) -> list[FoundThing]:
    """The Things ``where`` (a TD URL, servient URL or discoverable name) leads to.

    With a ``query``, only those it matches (see :class:`ThingQuery`).
    """
    if is_url(where):
        at_url = await _at_url(client, where, credentials, timeout, query)
        return [thing for thing in at_url if query is None or query.matches(thing.td)]
    from .._discovery import discover

    found = await discover(discovery_timeout)
    wanted = where.casefold()
    matches = [
        FoundThing(thing.td_url, thing.td)
        for thing in found
        if (
            thing.title.casefold() == wanted
            or thing.td_url.rstrip("/").rsplit("/", 1)[-1].casefold() == wanted
        )
        and (query is None or query.matches(thing.td))
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


async def search_things(
    where: str,
    *,
    title: str | None = None,
    type: str | None = None,
    credentials: Credentials | None = None,
    client: httpx.AsyncClient | None = None,
    timeout: float = 10.0,  # noqa: ASYNC109 - per request, given to httpx
) -> list[FoundThing]:
    """The Things at ``where`` whose title contains ``title`` and whose ``@type`` has ``type``.

    ``where`` is a TD Directory's URL (a Domus TDD, searched with SPARQL), a
    servient's URL (its directory is listed and filtered) or a TD URL. Title
    matching ignores case; ``type`` must equal one ``@type`` value. Without
    either, every Thing there.
    """
    own = client is None
    http = client or httpx.AsyncClient(trust_env=False)
    try:
        return await find_things(
            where,
            client=http,
            credentials=credentials,
            timeout=timeout,
            query=ThingQuery(title=title, type=type),
        )
    finally:
        if own:
            await http.aclose()


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
