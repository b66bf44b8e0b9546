"""Browsing the LAN for WoT Things (DNS-SD over mDNS) and fetching their TDs.

A directory found this way is read with the client's directory parser
(``_consumed/directory.py``), the same one ``wot-labthing things URL`` uses.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx
from zeroconf import IPVersion, ServiceInfo, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from .._errors import WotLabthingError
from .._td import validate_td
from .names import DIRECTORY_TYPE, WOT_TYPE
from .responder import open_zeroconf

__all__ = ["DiscoveredThing", "discover", "discover_sync"]

_log = logging.getLogger(__name__)

TD_MEDIA_TYPES = "application/td+json, application/json;q=0.9"


@dataclass
class DiscoveredThing:
    """A Thing found on the LAN, with its fetched TD."""

    title: str
    td_url: str
    description: str | None = None
    td: dict[str, Any] = field(default_factory=dict, repr=False)
    #: TD 1.1 validation problems (empty when valid).
    problems: list[str] = field(default_factory=list, repr=False)
    #: How it was found: the directory TD URL it was listed in, or None if advertised itself.
    via: str | None = None

    @property
    def id(self) -> str | None:
        """The TD ``id``, if it has one."""
        value = self.td.get("id")
        return value if isinstance(value, str) else None


@dataclass
class _Service:
    kind: str
    urls: list[str]


def _service_urls(info: ServiceInfo, subtype: bool) -> _Service | None:
    txt = {
        key.decode("utf-8", "replace").lower(): (value or b"").decode("utf-8", "replace")
        for key, value in (info.properties or {}).items()
    }
    if info.port is None:
        return None
    scheme = txt.get("scheme") or "http"
    path = txt.get("td") or "/.well-known/wot"
    if not path.startswith("/"):
        path = "/" + path
    kind = "Directory" if subtype or txt.get("type") == "Directory" else "Thing"
    urls = []
    v4 = info.parsed_scoped_addresses(IPVersion.V4Only)
    for address in v4 + info.parsed_scoped_addresses(IPVersion.V6Only):
        # A link-local address keeps its scope as "%<interface index>": httpx passes
        # it to getaddrinfo as is (the RFC 6874 "%25" form would not connect).
        host = f"[{address}]" if ":" in address else address
        urls.append(f"{scheme}://{host}:{info.port}{path}")
    return _Service(kind, urls) if urls else None


async def _fetch_json(client: httpx.AsyncClient, url: str) -> Any:
    response = await client.get(url, headers={"Accept": TD_MEDIA_TYPES})
    response.raise_for_status()
    return response.json()


class _Discovery:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.fetched: set[str] = set()  # TD URLs, so no introduction is fetched twice
        #: Each Thing found, and whether its ``td_url`` is the TD's own URL.
        self.found: list[tuple[DiscoveredThing, bool]] = []

    async def service(self, service: _Service) -> None:
        for url in service.urls:  # IPv4 first; the first address that answers wins
            if url in self.fetched:
                return
            try:
                td = await _fetch_json(self.client, url)
            except (httpx.HTTPError, ValueError) as exc:
                _log.info("discover: cannot fetch %s: %s", url, exc)
                continue
            self.fetched.add(url)
            if not isinstance(td, dict):
                return
            types = td.get("@type")
            types = types if isinstance(types, list) else [types]
            if service.kind == "Directory" or "ThingDirectory" in types:
                await self.directory(url, td)
            else:
                self.found.append((await _entry(url, td, None), True))
            return
        _log.warning("discover: no advertised address answered: %s", ", ".join(service.urls))

    async def directory(self, url: str, td: dict[str, Any]) -> None:
        from .._consumed.directory import read_directory

        timeout = self.client.timeout.read or 5.0
        try:
            listed = await read_directory(self.client, url, td, request_timeout=timeout)
        except (WotLabthingError, httpx.HTTPError, ValueError) as exc:
            _log.warning("discover: cannot read the directory at %s: %s", url, exc)
            return
        for thing in listed:
            # a TD known only through the directory keeps the directory's URL (not exact)
            entry = await _entry(thing.td_url, thing.td, url)
            self.found.append((entry, thing.td_url != url))


async def _entry(url: str, td: dict[str, Any], via: str | None) -> DiscoveredThing:
    """A Thing found; its TD is validated in a worker thread (milliseconds of CPU per TD)."""
    problems = await asyncio.to_thread(validate_td, td)
    description = td.get("description")
    return DiscoveredThing(
        title=str(td.get("title") or "?"),
        td_url=url,
        description=description if isinstance(description, str) else None,
        td=td,
        problems=problems,
        via=via,
    )


def _merge(found: list[tuple[DiscoveredThing, bool]]) -> list[DiscoveredThing]:
    """One entry per Thing: same TD ``id`` or same TD URL; a direct introduction wins."""
    merged: list[DiscoveredThing] = []
    by_key: dict[str, DiscoveredThing] = {}
    for thing, exact in sorted(found, key=lambda pair: (pair[0].via is not None, pair[0].td_url)):
        keys = [f"url:{thing.td_url}"] if exact else []
        if thing.id:
            keys.append(f"id:{thing.id}")
        known = next((by_key[key] for key in keys if key in by_key), None)
        if known is None:
            merged.append(thing)
            known = thing
        for key in keys:
            by_key.setdefault(key, known)
    return sorted(merged, key=lambda t: (t.title.casefold(), t.td_url))


async def _close(
    browser: AsyncServiceBrowser,
    services: dict[str, asyncio.Task[None]],
    zeroconf: AsyncZeroconf,
) -> None:
    if not browser.done:  # a second cancel fails an assertion in zeroconf
        await browser.async_cancel()
    for task in services.values():
        task.cancel()
    await asyncio.gather(*services.values(), return_exceptions=True)
    await zeroconf.async_close()


async def _to_the_end(cleanup: Coroutine[Any, Any, None]) -> None:
    """Run ``cleanup`` in a task of its own and wait for it even if cancelled meanwhile.

    zeroconf's close must not run in a task being cancelled: cancelling the browser
    while it waits for zeroconf to start cancels zeroconf's shared "running" future,
    and ``async_close`` then waits on that future, sees our task's pending
    cancellation and gives up before awaiting its socket setup task, which is left
    running with its sockets open. In a fresh task the same wait is ignored and the
    close completes. A further cancellation is delivered once the close is done.
    """
    task = asyncio.get_running_loop().create_task(cleanup)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = cancelled or not task.done()
    task.result()
    if cancelled:
        raise asyncio.CancelledError


async def discover(
    timeout: float = 3.0,  # noqa: ASYNC109 - the browse time is the point, not a cancel scope
    *,
    fetch_timeout: float = 5.0,
    ipv6: bool = True,
) -> list[DiscoveredThing]:
    """Browse the LAN for WoT Things and fetch their TDs.

    Browses ``_wot._tcp.local.`` and ``_directory._sub._wot._tcp.local.`` for
    ``timeout`` seconds; every service found is resolved and its TD fetched as
    soon as it appears (IPv4 address first), a directory's ``things`` property
    read for the TDs it lists. TD requests still running when browsing ends get
    at most ``fetch_timeout`` more seconds. A Thing seen several times (the same
    TD ``id`` or TD URL, e.g. directly and through a directory) is one entry.
    """
    loop = asyncio.get_running_loop()
    services: dict[str, asyncio.Task[None]] = {}
    try:
        zeroconf = await open_zeroconf(ip_version=IPVersion.All if ipv6 else IPVersion.V4Only)
    except OSError as exc:  # e.g. IPv6 disabled on this host
        _log.info("discover: IPv6 unavailable (%s), browsing IPv4 only", exc)
        zeroconf = await open_zeroconf(ip_version=IPVersion.V4Only)
    async with httpx.AsyncClient(timeout=fetch_timeout, trust_env=False) as client:
        discovery = _Discovery(client)

        async def resolve(service_type: str, name: str) -> None:
            info = AsyncServiceInfo(service_type, name)
            if await info.async_request(zeroconf.zeroconf, max(1000, timeout * 1000)):
                service = _service_urls(info, service_type == DIRECTORY_TYPE)
                if service is not None:
                    await discovery.service(service)

        def on_change(
            zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
        ) -> None:
            if state_change is ServiceStateChange.Added and name.lower() not in services:
                services[name.lower()] = loop.create_task(resolve(service_type, name))

        browser = AsyncServiceBrowser(
            zeroconf.zeroconf, [DIRECTORY_TYPE, WOT_TYPE], handlers=[on_change]
        )
        try:
            await asyncio.sleep(timeout)
            await browser.async_cancel()
            if services:
                await asyncio.wait(services.values(), timeout=fetch_timeout)
        finally:  # also when discover() itself is cancelled
            await _to_the_end(_close(browser, services, zeroconf))
        for task in services.values():
            if not task.cancelled() and task.exception() is not None:
                _log.warning("discover: %s", task.exception())
    return _merge(discovery.found)


def discover_sync(
    timeout: float = 3.0, *, fetch_timeout: float = 5.0, ipv6: bool = True
) -> list[DiscoveredThing]:
    """:func:`discover` for code without an event loop (scripts, notebooks use ``await``)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(discover(timeout, fetch_timeout=fetch_timeout, ipv6=ipv6))
    raise RuntimeError("discover_sync() called inside an event loop; use 'await discover()'")
