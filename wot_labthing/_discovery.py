"""LAN discovery per W3C WoT Discovery (DNS-SD over mDNS): advertise and browse.

The only module that imports zeroconf. It knows nothing of the servient class:
the advertiser takes plain :class:`ThingRecord` values and a port.

Advertised, per WoT Discovery 1.0 section 6.3:

- one ``_wot._tcp.local.`` service per Thing, instance name = the Thing's title
  (at most 63 UTF-8 bytes), TXT ``td`` = absolute path of its TD, ``type=Thing``,
  ``scheme=http``;
- one service under the subtype ``_directory._sub._wot._tcp.local.`` for the
  servient's read-only directory, TXT ``td=/.well-known/wot``, ``type=Directory``.
  python-zeroconf publishes a subtype's PTR only under the subtype (its issues
  #109, #304, #1287), so this service is found by browsing the subtype;
- optionally the legacy ``_labthing._tcp.local.`` (TXT ``path``, ``id``).

Addresses are the host's interface addresses for the bound host; bound to
loopback only, nothing is advertised unless ``allow_loopback`` is set, since no
other host could reach it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx
import ifaddr
from zeroconf import (
    InterfaceChoice,
    IPVersion,
    NonUniqueNameException,
    ServiceInfo,
    ServiceStateChange,
    Zeroconf,
)
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from ._td import validate_td

__all__ = [
    "DIRECTORY_TYPE",
    "LEGACY_TYPE",
    "WOT_TYPE",
    "Advertiser",
    "DiscoveredThing",
    "ThingRecord",
    "advertised_addresses",
    "discover",
    "discover_sync",
    "instance_name",
]

_log = logging.getLogger(__name__)

WOT_TYPE = "_wot._tcp.local."
DIRECTORY_TYPE = "_directory._sub._wot._tcp.local."
LEGACY_TYPE = "_labthing._tcp.local."
MAX_LABEL_BYTES = 63  # RFC 6763 section 4.1.1
#: Renames tried on a name clash before a Thing is left unadvertised.
MAX_RENAMES = 20
_WILDCARDS_V4 = {"0.0.0.0"}
_WILDCARDS_ALL = {"::", ""}
TD_MEDIA_TYPES = "application/td+json, application/json;q=0.9"


def instance_name(title: str, suffix: str = "") -> str:
    """A readable DNS-SD instance name of at most 63 UTF-8 bytes (RFC 6763 4.1.1).

    Dots become ``-`` (python-zeroconf would split the name at them), control
    characters are dropped, and the title is cut on a character boundary so that
    ``suffix`` (e.g. `` (2)`` after a clash) still fits.
    """
    cleaned = "".join(
        " " if char in "\t\r\n" else char
        for char in title.replace(".", "-")
        if char in "\t\r\n" or unicodedata.category(char)[0] != "C"
    )
    cleaned = " ".join(cleaned.split()) or "Thing"
    room = MAX_LABEL_BYTES - len(suffix.encode("utf-8"))
    cut = cleaned.encode("utf-8")[:room].decode("utf-8", errors="ignore").rstrip()
    return (cut or "Thing") + suffix


@dataclass(frozen=True)
class ThingRecord:
    """What the advertiser needs to know about one exposed Thing."""

    #: Key of the Thing in the servient (unique); used by :meth:`Advertiser.remove`.
    name: str
    #: Human-readable title: the DNS-SD instance name.
    title: str
    #: Absolute path of the Thing's TD on the server, e.g. ``/things/stage``.
    td_path: str
    #: The TD ``id`` (legacy ``_labthing._tcp`` TXT ``id``).
    thing_id: str | None = None
    description: str | None = None


def _ip_of(address: ifaddr.IP) -> str:
    return address.ip if isinstance(address.ip, str) else address.ip[0]


def advertised_addresses(host: str, adapters: Iterable[ifaddr.Adapter] | None = None) -> list[str]:
    """The addresses to advertise for a server bound to ``host``.

    ``0.0.0.0``: every IPv4 interface address; ``::`` (dual stack): every IPv4
    and IPv6 address, link-local ones included (a peer on the link adds its own
    scope). Loopback addresses are left out of a wildcard binding unless they are
    all there is. A specific address is advertised alone; a host name resolves
    to its addresses. IPv4 first.
    """
    if host in _WILDCARDS_V4 or host in _WILDCARDS_ALL:
        found: list[str] = []
        for adapter in ifaddr.get_adapters() if adapters is None else adapters:
            for ip in adapter.ips:
                address = _ip_of(ip)
                if ":" in address and host in _WILDCARDS_V4:
                    continue  # an IPv4 socket cannot answer on IPv6
                if address not in found:
                    found.append(address)
        routable = [a for a in found if not ipaddress.ip_address(a).is_loopback]
        return _ipv4_first(routable or found)
    try:
        return [str(ipaddress.ip_address(host.split("%", 1)[0]))]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return _ipv4_first(list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos)))


def _ipv4_first(addresses: list[str]) -> list[str]:
    return sorted(addresses, key=lambda address: ":" in address)


def _server_name(port: int) -> str:
    # Our own host name, not the machine's: publishing a different address set
    # under <hostname>.local. would conflict with avahi or mDNSResponder.
    first = socket.gethostname().split(".", 1)[0]
    label = "".join(c if c.isascii() and c.isalnum() else "-" for c in first)
    label = label.strip("-").lower()[:40] or "host"
    return f"{label}-wot-{port}.local."


class Advertiser:
    """Advertises Things and the servient's directory with mDNS / DNS-SD.

    Records may be added before or after :meth:`start`; after it, each change is
    announced at once. :meth:`close` sends goodbye packets; ``start`` and
    ``close`` are idempotent. Also an async context manager.

    Args:
        port: the TCP port the HTTP server listens on.
        host: the address the HTTP server is bound to (``0.0.0.0``, ``::``, a
            specific address or a host name).
        allow_loopback: advertise even when bound to loopback only.
        legacy: also publish ``_labthing._tcp`` records for older LabThings clients.
        directory_path: TD path of the servient's directory; None to not advertise it.
        directory_title: instance name of the directory service.
    """

    def __init__(
        self,
        *,
        port: int,
        host: str = "127.0.0.1",
        allow_loopback: bool = False,
        legacy: bool = False,
        directory_path: str | None = "/.well-known/wot",
        directory_title: str | None = None,
        scheme: str = "http",
    ) -> None:
        self.port = port
        self.host = host
        self.scheme = scheme
        self.allow_loopback = allow_loopback
        self.legacy = legacy
        self.directory_path = directory_path
        self.directory_title = directory_title or f"wot-labthing on {socket.gethostname()}"
        #: Addresses in the A/AAAA records; set by :meth:`start`.
        self.addresses: list[str] = []
        self._records: dict[str, ThingRecord] = {}
        self._registered: dict[str, list[ServiceInfo]] = {}
        self._zeroconf: AsyncZeroconf | None = None
        self._started = False
        self._lock = asyncio.Lock()
        self._server = _server_name(port)

    @property
    def active(self) -> bool:
        """True while the responder runs (started, not loopback-refused, not closed)."""
        return self._zeroconf is not None

    @property
    def instance_names(self) -> dict[str, list[str]]:
        """The registered service names per record name (``""`` for the directory)."""
        return {key: [info.name for info in infos] for key, infos in self._registered.items()}

    def service_infos(self, record: ThingRecord | None) -> list[ServiceInfo]:
        """The services for ``record``, or for the directory when it is None."""
        if record is None:
            assert self.directory_path is not None
            txt = {"td": self.directory_path, "type": "Directory", "scheme": self.scheme}
            return [self._info(DIRECTORY_TYPE, instance_name(self.directory_title), txt)]
        name = instance_name(record.title)
        infos = [
            self._info(
                WOT_TYPE, name, {"td": record.td_path, "type": "Thing", "scheme": self.scheme}
            )
        ]
        if self.legacy:
            legacy_txt = {"path": record.td_path, "id": record.thing_id or record.name}
            infos.append(self._info(LEGACY_TYPE, name, legacy_txt))
        return infos

    def _info(self, type_: str, name: str, txt: dict[str, str]) -> ServiceInfo:
        base = type_.split("._sub.", 1)[-1]
        return AsyncServiceInfo(
            type_,
            f"{name}.{base}",
            port=self.port,
            properties=txt,
            server=self._server,
            parsed_addresses=self.addresses,
        )

    async def start(self) -> None:
        """Open the responder and announce every record (idempotent)."""
        async with self._lock:
            if self._started:
                return
            self._started = True
            addresses = await asyncio.to_thread(advertised_addresses, self.host)
            loopback = all(ipaddress.ip_address(a).is_loopback for a in addresses)
            if not addresses or (loopback and not self.allow_loopback):
                # INFO, not WARNING: loopback is the default binding, not a mistake
                _log.info(
                    "mDNS: not advertising: the server is bound to %s, which only this"
                    " machine can reach; bind to 0.0.0.0 or a LAN address to be"
                    " discoverable (or allow loopback advertising)",
                    self.host,
                )
                return
            if self.host in _WILDCARDS_V4 or self.host in _WILDCARDS_ALL:
                interfaces: Any = InterfaceChoice.All
            elif all(":" not in a for a in addresses):
                interfaces = addresses
            else:
                interfaces = InterfaceChoice.All
            if any(":" in a for a in addresses):
                try:
                    self._zeroconf = AsyncZeroconf(interfaces=interfaces, ip_version=IPVersion.All)
                except (OSError, RuntimeError) as exc:  # IPv6 multicast unusable here
                    _log.warning("mDNS: IPv6 unavailable (%s); advertising IPv4 only", exc)
                    addresses = [a for a in addresses if ":" not in a]
            if self._zeroconf is None and addresses:
                self._zeroconf = AsyncZeroconf(interfaces=interfaces, ip_version=IPVersion.V4Only)
            if self._zeroconf is None:
                return
            self.addresses = addresses
            jobs = [self._register(key) for key in self._records]
            if self.directory_path is not None:
                jobs.append(self._register(""))
            await asyncio.gather(*jobs)
            _log.info(
                "mDNS: advertising %d Thing(s) at %s port %d",
                len(self._records),
                ", ".join(addresses),
                self.port,
            )

    async def _register(self, key: str) -> None:
        assert self._zeroconf is not None
        record = self._records[key] if key else None
        title = record.title if record else self.directory_title
        infos = self.service_infos(record)
        done: list[ServiceInfo] = []
        try:
            for info in infos:
                await self._register_one(info, title)
                done.append(info)
        except Exception as exc:  # one Thing not found on the LAN is no reason to stop serving
            _log.error("mDNS: cannot advertise %r: %s", title, exc)
        if done:
            self._registered[key] = done

    async def _register_one(self, info: ServiceInfo, title: str) -> None:
        # python-zeroconf's own renaming appends "-2" without re-truncating, which
        # breaks the 63-byte limit for long titles; rename here instead. Instance
        # names hold no dots, so the type follows the first one.
        assert self._zeroconf is not None
        for attempt in range(2, MAX_RENAMES + 3):
            try:
                announced = await self._zeroconf.async_register_service(info)
                await announced
            except NonUniqueNameException:
                tail = info.name.split(".", 1)[1]
                info.name = f"{instance_name(title, f' ({attempt})')}.{tail}"
                continue
            if attempt > 2:
                _log.warning("mDNS: name clash for %r; advertised as %r", title, info.name)
            return
        raise NonUniqueNameException(f"{MAX_RENAMES} renames of {title!r} all clashed")

    async def add(self, record: ThingRecord) -> None:
        """Advertise ``record`` (replacing one of the same name)."""
        if not record.name:
            raise ValueError("a ThingRecord needs a name ('' is the directory's key)")
        async with self._lock:
            await self._unregister(record.name)
            self._records[record.name] = record
            if self._zeroconf is not None:
                await self._register(record.name)

    async def remove(self, name: str) -> None:
        """Withdraw the Thing ``name`` (goodbye packets); unknown names are ignored."""
        async with self._lock:
            self._records.pop(name, None)
            await self._unregister(name)

    async def _unregister(self, key: str) -> None:
        infos = self._registered.pop(key, [])
        if self._zeroconf is not None and infos:
            await asyncio.gather(*(self._goodbye(info) for info in infos))

    async def _goodbye(self, info: ServiceInfo) -> None:
        assert self._zeroconf is not None
        sent = await self._zeroconf.async_unregister_service(info)
        await sent  # the goodbye packets are out before the responder closes

    async def close(self) -> None:
        """Send goodbye packets for everything and close the responder; idempotent."""
        async with self._lock:
            self._started = False
            if self._zeroconf is None:
                return
            await asyncio.gather(*(self._unregister(key) for key in list(self._registered)))
            zeroconf, self._zeroconf = self._zeroconf, None
            await zeroconf.async_close()

    async def __aenter__(self) -> Advertiser:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def advertise_servient(
    servient: Any,
    *,
    host: str,
    port: int,
    allow_loopback: bool = False,
    legacy: bool = False,
    scheme: str = "http",
) -> Advertiser:
    """Advertise every Thing of ``servient`` and follow its adds and removes.

    A convenience for the CLI until the servient wires :class:`Advertiser` itself;
    ``servient`` needs ``things`` (name -> Thing) and ``on_registry_change``.
    """
    from ._td import stable_thing_id

    def record(thing: Any) -> ThingRecord:
        return ThingRecord(
            name=thing.thing_name,
            title=thing.thing_title,
            td_path=f"/things/{thing.thing_name}",
            thing_id=stable_thing_id(thing),
            description=thing.thing_description,
        )

    advertiser = Advertiser(
        port=port, host=host, allow_loopback=allow_loopback, legacy=legacy, scheme=scheme
    )
    for thing in servient.things.values():
        await advertiser.add(record(thing))
    await advertiser.start()
    loop = asyncio.get_running_loop()
    updates: set[asyncio.Task[None]] = set()

    def follow(name: str, thing: Any) -> None:
        work = advertiser.add(record(thing)) if thing is not None else advertiser.remove(name)
        task = loop.create_task(work)
        updates.add(task)  # a strong reference until it is done
        task.add_done_callback(done)

    def done(task: asyncio.Task[None]) -> None:
        updates.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.error("mDNS: advertisement update failed", exc_info=task.exception())

    servient.on_registry_change(follow)
    return advertiser


# Discovering ----------------------------------------------------------------------------


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
                self.found.append((_entry(url, td, None), True))
            return
        _log.warning("discover: no advertised address answered: %s", ", ".join(service.urls))

    async def directory(self, url: str, td: dict[str, Any]) -> None:
        base = td.get("base") if isinstance(td.get("base"), str) else url
        forms = ((td.get("properties") or {}).get("things") or {}).get("forms") or []
        href = forms[0].get("href") if forms and isinstance(forms[0], dict) else None
        listing_url = urljoin(base, href) if href else urljoin(url, "/things")
        try:
            listing = await _fetch_json(self.client, listing_url)
        except (httpx.HTTPError, ValueError) as exc:
            _log.warning("discover: cannot read the directory at %s: %s", listing_url, exc)
            return
        items = {
            urljoin(base, link["href"])
            for link in td.get("links") or []
            if isinstance(link, dict) and link.get("rel") == "item" and link.get("href")
        }
        for thing_td in listing if isinstance(listing, list) else []:
            if not isinstance(thing_td, dict):
                continue
            # A TD in a listing does not say where it lives; the directory's item
            # link that matches its base does (wot-labthing serves TDs at base - "/").
            thing_base = thing_td.get("base")
            own = thing_base.rstrip("/") if isinstance(thing_base, str) else None
            td_url = own if own is not None and own in items else listing_url
            self.found.append((_entry(td_url, thing_td, url), td_url != listing_url))


def _entry(url: str, td: dict[str, Any], via: str | None) -> DiscoveredThing:
    description = td.get("description")
    return DiscoveredThing(
        title=str(td.get("title") or "?"),
        td_url=url,
        description=description if isinstance(description, str) else None,
        td=td,
        problems=validate_td(td),
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
        zeroconf = AsyncZeroconf(ip_version=IPVersion.All if ipv6 else IPVersion.V4Only)
    except OSError as exc:  # e.g. IPv6 disabled on this host
        _log.info("discover: IPv6 unavailable (%s), browsing IPv4 only", exc)
        zeroconf = AsyncZeroconf(ip_version=IPVersion.V4Only)
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
            if not browser.done:  # a second cancel fails an assertion in zeroconf
                await browser.async_cancel()
            for task in services.values():
                task.cancel()
            await asyncio.gather(*services.values(), return_exceptions=True)
            await zeroconf.async_close()
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
