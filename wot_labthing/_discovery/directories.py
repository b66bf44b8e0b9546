"""TD Directories on the LAN: finding them, and announcing one that cannot announce itself.

WoT Discovery 1.0 section 6.3: a directory is a ``_wot._tcp`` service under the
subtype ``_directory._sub._wot._tcp``, TXT ``td`` = the path of its own TD,
``type=Directory`` and ``scheme`` (default ``http``).

* :func:`watch_directories` browses that subtype for as long as it is iterated,
  fetching each directory's TD (retried with back-off while the service is
  advertised but its HTTP does not answer). Registrars with ``discover = true``
  take the first one that accepts registrations.
* :func:`discover_directories` is the same browse for a few seconds (the
  ``wot-labthing discover --directories`` command).
* :class:`DirectoryAdvertising` makes a servient announce a directory at a URL
  (e.g. the lab's Domus TDD, which does not advertise itself), so servients and
  clients on the bench's LAN segment find it.

Every servient's own read-only directory (``/.well-known/wot``) is advertised
under the same subtype; such a directory is found too but has no ``url`` (it
takes no registrations), and a registrar passes it by.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from zeroconf import (
    InterfaceChoice,
    IPVersion,
    NonUniqueNameException,
    ServiceStateChange,
    Zeroconf,
)
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from .._backoff import backoff_delay
from .browser import TD_MEDIA_TYPES, _close, _service_urls, _to_the_end
from .names import DIRECTORY_TYPE, MAX_RENAMES, advertised_addresses, instance_name
from .responder import open_zeroconf

if TYPE_CHECKING:
    from .._lifecycle import Endpoint
    from .._servient import Servient

__all__ = [
    "DirectoryAdvertising",
    "DiscoveredDirectory",
    "discover_directories",
    "discover_directories_sync",
    "watch_directories",
]

_log = logging.getLogger(__name__)

#: Actions of a directory TD that mean it takes registrations: WoT Discovery's
#: Things API names, and Domus TDD 1.0's.
WRITE_ACTIONS = frozenset(
    {"createThing", "createAnonymousThing", "updateThing", "createTD", "updateTD"}
)


@dataclass
class DiscoveredDirectory:
    """A TD Directory found on the LAN."""

    #: The directory TD's title (the DNS-SD instance name if it has none).
    title: str
    #: Where its TD was fetched, at the address it was found at.
    td_url: str
    #: Its base URL (Things API at ``{url}/things``) at that address; None for a
    #: read-only directory, such as a servient's own ``/.well-known/wot``.
    url: str | None = None
    td: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def writable(self) -> bool:
        """Whether it takes registrations (its TD offers the Things API's write actions)."""
        return self.url is not None


def _base_url(td_url: str, td: dict[str, Any]) -> str | None:
    """The Things API base at the address ``td_url`` was reached at, or None if read-only.

    The directory's ``base`` names itself, often by a name only it knows (Domus
    TDD: its ``TD_REPO_URL``); only its path is kept, the scheme, host and port
    are those that answered.
    """
    actions = td.get("actions")
    if not isinstance(actions, dict) or not WRITE_ACTIONS.intersection(actions):
        return None
    parts = urlsplit(td_url)
    base = td.get("base")
    path = urlsplit(base).path.rstrip("/") if isinstance(base, str) else ""
    return f"{parts.scheme}://{parts.netloc}{path}"


async def _fetch(client: httpx.AsyncClient, url: str) -> dict[str, Any] | None:
    response = await client.get(url, headers={"Accept": TD_MEDIA_TYPES})
    response.raise_for_status()
    td = response.json()
    return td if isinstance(td, dict) else None


async def watch_directories(
    *,
    ipv6: bool = False,
    fetch_timeout: float = 5.0,
    retry_max: float = 30.0,
) -> AsyncGenerator[DiscoveredDirectory, None]:
    """Browse ``_directory._sub._wot._tcp`` and yield each directory as its TD is fetched.

    Never ends by itself: close it (``contextlib.aclosing``) or stop iterating.
    A directory that is advertised but whose TD cannot be fetched yet is tried
    again with back-off (up to ``retry_max`` seconds apart) until it answers or
    its advertisement goes away. Each service is yielded once, at the first
    address (IPv4 first) that answers.
    """
    loop = asyncio.get_running_loop()
    found: asyncio.Queue[DiscoveredDirectory] = asyncio.Queue()
    services: dict[str, asyncio.Task[None]] = {}
    try:
        zeroconf = await open_zeroconf(ip_version=IPVersion.All if ipv6 else IPVersion.V4Only)
    except OSError as exc:  # e.g. IPv6 disabled on this host
        _log.info("directory discovery: IPv6 unavailable (%s), browsing IPv4 only", exc)
        zeroconf = await open_zeroconf(ip_version=IPVersion.V4Only)
    client = httpx.AsyncClient(timeout=fetch_timeout, trust_env=False)

    async def follow(service_type: str, name: str) -> None:
        attempt = 0
        while True:
            info = AsyncServiceInfo(service_type, name)
            service = None
            if await info.async_request(zeroconf.zeroconf, 3000):
                service = _service_urls(info, subtype=True)
            for url in service.urls if service is not None else []:
                try:
                    td = await _fetch(client, url)
                except (httpx.HTTPError, ValueError) as exc:
                    _log.info("directory discovery: cannot fetch %s: %s", url, exc)
                    continue
                if td is None:
                    return  # not a TD: nothing to register with or list
                title = td.get("title")
                found.put_nowait(
                    DiscoveredDirectory(
                        title=title if isinstance(title, str) else name.split(".", 1)[0],
                        td_url=url,
                        url=_base_url(url, td),
                        td=td,
                    )
                )
                return
            await asyncio.sleep(backoff_delay(attempt, first=0.5, maximum=retry_max))
            attempt += 1

    def on_change(
        zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        key = name.lower()
        if state_change is ServiceStateChange.Added and key not in services:
            services[key] = loop.create_task(follow(service_type, name))
        elif state_change is ServiceStateChange.Removed and key in services:
            services.pop(key).cancel()  # gone: stop trying; a new announcement starts again

    browser = AsyncServiceBrowser(zeroconf.zeroconf, [DIRECTORY_TYPE], handlers=[on_change])
    try:
        while True:
            yield await found.get()
    finally:  # also when the consumer is cancelled
        await _to_the_end(_close(browser, services, zeroconf))
        await client.aclose()


async def discover_directories(
    timeout: float = 3.0,  # noqa: ASYNC109 - the browse time is the point, not a cancel scope
    *,
    ipv6: bool = False,
    fetch_timeout: float = 5.0,
) -> list[DiscoveredDirectory]:
    """The TD Directories advertised on the LAN within ``timeout`` seconds.

    One entry per TD URL (a directory several servients announce is listed once),
    writable ones (that take registrations) first, then by title.
    """
    seen: dict[str, DiscoveredDirectory] = {}

    async def collect() -> None:
        stream = watch_directories(ipv6=ipv6, fetch_timeout=fetch_timeout)
        async with contextlib.aclosing(stream):
            async for directory in stream:
                seen.setdefault(directory.td_url, directory)

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(collect(), timeout)
    return sorted(seen.values(), key=lambda d: (not d.writable, d.title.casefold(), d.td_url))


def discover_directories_sync(
    timeout: float = 3.0, *, ipv6: bool = False, fetch_timeout: float = 5.0
) -> list[DiscoveredDirectory]:
    """:func:`discover_directories` for code without an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(discover_directories(timeout, ipv6=ipv6, fetch_timeout=fetch_timeout))
    raise RuntimeError(
        "discover_directories_sync() called inside an event loop;"
        " use 'await discover_directories()'"
    )


class DirectoryAdvertising:
    """Announces the TD Directory at ``url`` on the LAN, on behalf of a servient.

    A servient's ``[[directories]]`` entry with ``advertise = true`` adds one
    (``Servient.add_advertiser``): the directory (e.g. a Domus TDD, which does
    not advertise itself) is then found by :func:`watch_directories` anywhere on
    this bench's LAN segment, while the servient runs. The service's SRV target
    is a host name of our own (``<this host>-tdd-<port>.local.``) whose A/AAAA
    records are the directory host's addresses; TXT ``td`` is ``url``'s path,
    where the directory serves its own TD (Domus TDD: its root). A failure is
    logged, never raised.

    Args:
        url: the directory's base URL.
        allow_loopback: announce even when the directory's address is loopback.
        title: the instance name (default ``TD Directory at host:port``).
    """

    def __init__(self, url: str, *, allow_loopback: bool = False, title: str | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"cannot advertise {url!r}: not an http(s) URL")
        self.url = url
        self.allow_loopback = allow_loopback
        self._parts = parts
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.title = title or f"TD Directory at {parts.hostname}:{self.port}"
        #: The announced service's name once announced (None before, after or on failure).
        self.name: str | None = None
        self._zeroconf: AsyncZeroconf | None = None
        self._info: AsyncServiceInfo | None = None

    async def open(self, servient: Servient, endpoints: list[Endpoint]) -> None:
        """Announce the directory (returns once announced, or having logged why not)."""
        host = self._parts.hostname
        assert host is not None
        try:
            addresses = [
                a
                for a in await asyncio.to_thread(advertised_addresses, host)
                if ":" not in a  # IPv4: the browsers we serve prefer it, no scope issues
            ]
        except OSError as exc:
            _log.warning("mDNS: cannot announce %s: cannot resolve %s: %s", self.url, host, exc)
            return
        loopback = all(ipaddress.ip_address(a).is_loopback for a in addresses)
        if not addresses or (loopback and not self.allow_loopback):
            _log.warning(
                "mDNS: not announcing the directory %s: %s is not an address other hosts can reach",
                self.url,
                host,
            )
            return
        interfaces: Any = addresses if loopback else InterfaceChoice.All
        txt = {
            "td": self._parts.path or "/",
            "type": "Directory",
            "scheme": self._parts.scheme,
        }
        label = "".join(c if c.isascii() and c.isalnum() else "-" for c in socket.gethostname())
        server = f"{label.split('-', 1)[0].lower()[:40] or 'host'}-tdd-{self.port}.local."
        try:
            self._zeroconf = await open_zeroconf(interfaces=interfaces, ip_version=IPVersion.V4Only)
            for attempt in range(1, MAX_RENAMES + 2):
                suffix = f" ({attempt})" if attempt > 1 else ""
                info = AsyncServiceInfo(
                    DIRECTORY_TYPE,
                    f"{instance_name(self.title, suffix)}._wot._tcp.local.",
                    port=self.port,
                    properties=txt,
                    server=server,
                    parsed_addresses=addresses,
                )
                try:
                    await (await self._zeroconf.async_register_service(info))
                except NonUniqueNameException:
                    continue  # another servient announces it too; ours gets a suffix
                self._info, self.name = info, info.name
                _log.info("mDNS: announcing the directory %s as %r", self.url, info.name)
                return
            _log.warning("mDNS: every name for the directory %s clashed", self.url)
        except Exception as exc:  # serving matters more than being found
            _log.warning("mDNS: cannot announce the directory %s: %s", self.url, exc)
        await self.close()

    async def close(self) -> None:
        """Withdraw the announcement (goodbye packets); idempotent."""
        zeroconf, self._zeroconf = self._zeroconf, None
        info, self._info = self._info, None
        self.name = None
        if zeroconf is None:
            return
        if info is not None:
            with contextlib.suppress(Exception):
                await (await zeroconf.async_unregister_service(info))
        await zeroconf.async_close()
