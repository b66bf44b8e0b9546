"""LAN discovery per W3C WoT Discovery (DNS-SD over mDNS): advertise and browse.

The only module that imports zeroconf. Each exposed Thing is one
``_wot._tcp.local.`` service with TXT ``td`` (the absolute path of its TD),
``type=Thing`` and ``scheme=http``; the servient's read-only directory
(``/.well-known/wot``) is one more service under the subtype
``_directory._sub._wot._tcp.local.`` with ``type=Directory``. Bound to loopback
only, nothing is advertised unless asked for: nobody else could reach it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import ifaddr
from zeroconf import InterfaceChoice, IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from ._td import validate_td

if TYPE_CHECKING:
    from ._servient import Servient
    from ._thing import Thing

__all__ = [
    "DIRECTORY_TYPE",
    "WOT_TYPE",
    "Advertiser",
    "DiscoveredThing",
    "advertise_servient",
    "discover",
    "instance_name",
]

_log = logging.getLogger(__name__)

WOT_TYPE = "_wot._tcp.local."
DIRECTORY_TYPE = "_directory._sub._wot._tcp.local."
LEGACY_TYPE = "_labthing._tcp.local."
_WILDCARDS = {"0.0.0.0", "::", ""}


def instance_name(title: str) -> str:
    """A readable DNS-SD instance name of at most 63 UTF-8 bytes (RFC 6763 4.1.1)."""
    cleaned = title.replace(".", " ").strip() or "Thing"
    encoded = cleaned.encode("utf-8")[:63]
    return encoded.decode("utf-8", errors="ignore").rstrip()


def host_addresses(host: str) -> list[str]:
    """The interface addresses to advertise for a server bound to ``host``."""
    if host not in _WILDCARDS:
        return [socket.gethostbyname(host)] if not _is_ip(host) else [host]
    found: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str):
                address = ip.ip
            else:
                address = ip.ip[0]
                if ipaddress.ip_address(address).is_link_local:
                    continue  # needs a scope id that other hosts cannot use as is
            if ipaddress.ip_address(address).is_loopback:
                continue
            if host == "0.0.0.0" and ":" in address:
                continue
            found.append(address)
    return found


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _only_loopback(addresses: list[str]) -> bool:
    return all(ipaddress.ip_address(address).is_loopback for address in addresses)


class Advertiser:
    """Advertises Things and the servient's directory; close to send goodbye packets."""

    def __init__(
        self,
        *,
        port: int,
        host: str = "127.0.0.1",
        allow_loopback: bool = False,
        legacy: bool = False,
    ) -> None:
        self.port = port
        self.host = host
        self.legacy = legacy
        self.addresses = host_addresses(host)
        self.allow_loopback = allow_loopback
        self._zeroconf: AsyncZeroconf | None = None
        self._services: dict[str, list[AsyncServiceInfo]] = {}
        self.updates: set[asyncio.Task[None]] = set()
        self._server = f"{socket.gethostname().split('.')[0]}-wot.local."

    @property
    def enabled(self) -> bool:
        """False when bound to loopback only (and not asked to advertise anyway)."""
        return bool(self.addresses) and (self.allow_loopback or not _only_loopback(self.addresses))

    async def start(self) -> None:
        """Open the mDNS responder (idempotent)."""
        if not self.enabled:
            _log.info(
                "bound to %s only: not advertising with mDNS (bind to a LAN address or 0.0.0.0,"
                " or set mdns_loopback)",
                self.host,
            )
            return
        if self._zeroconf is None:
            version = IPVersion.All if any(":" in a for a in self.addresses) else IPVersion.V4Only
            interfaces: Any = self.addresses if self.host not in _WILDCARDS else InterfaceChoice.All
            self._zeroconf = AsyncZeroconf(interfaces=interfaces, ip_version=version)

    def _info(self, type_: str, title: str, properties: dict[str, str]) -> AsyncServiceInfo:
        name = instance_name(title)
        base = type_.split("._sub.", 1)[-1]
        return AsyncServiceInfo(
            type_,
            f"{name}.{base}",
            port=self.port,
            properties=properties,
            server=self._server,
            parsed_addresses=self.addresses,
        )

    async def _register(self, key: str, infos: list[AsyncServiceInfo]) -> None:
        assert self._zeroconf is not None
        for info in infos:
            await self._zeroconf.async_register_service(info, allow_name_change=True)
        self._services[key] = infos

    async def add_thing(self, thing_name: str, title: str, td_path: str, thing_id: str) -> None:
        """Advertise one Thing."""
        if self._zeroconf is None:
            return
        infos = [self._info(WOT_TYPE, title, {"td": td_path, "type": "Thing", "scheme": "http"})]
        if self.legacy:
            infos.append(self._info(LEGACY_TYPE, title, {"path": td_path, "id": thing_id}))
        await self._register(thing_name, infos)

    async def add_directory(self, title: str, td_path: str = "/.well-known/wot") -> None:
        """Advertise the servient's directory."""
        if self._zeroconf is None:
            return
        info = self._info(DIRECTORY_TYPE, title, {"td": td_path, "type": "Directory"})
        await self._register("\0directory", [info])

    async def remove(self, key: str) -> None:
        """Withdraw one advertisement (goodbye packets)."""
        infos = self._services.pop(key, [])
        if self._zeroconf is not None:
            for info in infos:
                await self._zeroconf.async_unregister_service(info)

    async def close(self) -> None:
        """Withdraw everything and close the responder; idempotent."""
        if self._zeroconf is None:
            return
        for key in list(self._services):
            await self.remove(key)
        await self._zeroconf.async_close()
        self._zeroconf = None


async def advertise_servient(
    servient: Servient,
    *,
    host: str,
    port: int,
    allow_loopback: bool = False,
    legacy: bool = False,
) -> Advertiser:
    """Advertise every Thing of ``servient`` and its directory; follows adds and removes."""
    from ._http.forms import thing_path
    from ._td import stable_thing_id

    advertiser = Advertiser(port=port, host=host, allow_loopback=allow_loopback, legacy=legacy)
    await advertiser.start()
    if advertiser._zeroconf is None:
        return advertiser
    await advertiser.add_directory(f"wot-labthing on {socket.gethostname()}")

    async def add(thing: Thing) -> None:
        await advertiser.add_thing(
            thing.thing_name,
            thing.thing_title,
            thing_path(thing.thing_name),
            stable_thing_id(thing),
        )

    for thing in servient.things.values():
        await add(thing)
    loop = asyncio.get_running_loop()

    def follow(name: str, thing: Thing | None) -> None:
        coroutine = add(thing) if thing is not None else advertiser.remove(name)
        task = loop.create_task(coroutine)
        advertiser.updates.add(task)  # a strong reference until it is done
        task.add_done_callback(advertiser.updates.discard)

    servient.on_registry_change(follow)
    return advertiser


@dataclass
class DiscoveredThing:
    """A Thing found on the LAN."""

    title: str
    td_url: str
    description: str | None = None
    td: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _service_urls(info: AsyncServiceInfo) -> tuple[str, str] | None:
    properties = {
        key.decode(): (value or b"").decode() for key, value in (info.properties or {}).items()
    }
    addresses = info.parsed_scoped_addresses(IPVersion.V4Only) or info.parsed_scoped_addresses()
    if not addresses or info.port is None:
        return None
    address = addresses[0]
    host = f"[{address}]" if ":" in address else address
    scheme = properties.get("scheme", "http")
    path = properties.get("td", "/.well-known/wot")
    return f"{scheme}://{host}:{info.port}{path}", properties.get("type", "Thing")


async def discover(timeout: float = 3.0) -> list[DiscoveredThing]:  # noqa: ASYNC109
    """Browse the LAN for WoT Things for ``timeout`` seconds and fetch their TDs.

    Things found both directly and through a directory are one entry (merged by
    TD ``id``, else by TD URL).
    """
    names: set[tuple[str, str]] = set()

    def on_change(
        zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        if state_change is not ServiceStateChange.Removed:
            names.add((service_type, name))

    aiozc = AsyncZeroconf(ip_version=IPVersion.V4Only)
    browser = AsyncServiceBrowser(aiozc.zeroconf, [WOT_TYPE, DIRECTORY_TYPE], handlers=[on_change])
    try:
        await asyncio.sleep(timeout)
        urls: dict[str, str] = {}
        for service_type, name in sorted(names):
            info = AsyncServiceInfo(service_type, name)
            if await info.async_request(aiozc.zeroconf, 3000):
                found = _service_urls(info)
                if found:
                    urls[found[0]] = found[1]
    finally:
        await browser.async_cancel()
        await aiozc.async_close()
    return await _fetch_all(urls)


async def _fetch_all(urls: dict[str, str]) -> list[DiscoveredThing]:
    results: dict[str, DiscoveredThing] = {}
    async with httpx.AsyncClient(timeout=5) as client:
        for url, kind in urls.items():
            try:
                response = await client.get(url, headers={"Accept": "application/td+json"})
                response.raise_for_status()
                td = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                _log.warning("cannot fetch TD at %s: %s", url, exc)
                continue
            if kind == "Directory":
                for entry in await _directory_things(client, td):
                    _merge(results, entry)
            else:
                _merge(results, _entry(url, td))
    return sorted(results.values(), key=lambda thing: (thing.title, thing.td_url))


async def _directory_things(client: httpx.AsyncClient, td: dict[str, Any]) -> list[DiscoveredThing]:
    prop = (td.get("properties") or {}).get("things") or {}
    forms = prop.get("forms") or []
    if not forms:
        return []
    from urllib.parse import urljoin

    listing_url = urljoin(td.get("base", ""), forms[0]["href"])
    try:
        listing = (await client.get(listing_url)).json()
    except (httpx.HTTPError, ValueError):
        return []
    entries = []
    for thing_td in listing if isinstance(listing, list) else []:
        base = thing_td.get("base", "")
        entries.append(_entry(base.rstrip("/"), thing_td))
    return entries


def _entry(url: str, td: dict[str, Any]) -> DiscoveredThing:
    return DiscoveredThing(
        title=str(td.get("title", "?")),
        td_url=url,
        description=td.get("description"),
        td=td,
        problems=validate_td(td),
    )


def _merge(results: dict[str, DiscoveredThing], entry: DiscoveredThing) -> None:
    key = str(entry.td.get("id") or entry.td_url)
    results.setdefault(key, entry)
