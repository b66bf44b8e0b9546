"""Advertising with mDNS / DNS-SD: the :class:`Advertiser` and the servient's part.

:class:`Advertiser` takes plain :class:`ThingRecord` values and a port and knows
nothing of the servient. :class:`MdnsAdvertising` is the servient's advertiser
(``_lifecycle.Advertiser``): opened by the servient after its bindings, it
advertises every Thing at the first HTTP endpoint, follows Things added and
removed while serving, and sends goodbyes when the servient stops.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zeroconf import InterfaceChoice, IPVersion, NonUniqueNameException, ServiceInfo
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from .names import (
    _WILDCARDS_ALL,
    _WILDCARDS_V4,
    DIRECTORY_TYPE,
    LEGACY_TYPE,
    MAX_RENAMES,
    WOT_TYPE,
    advertised_addresses,
    instance_name,
    server_name,
)
from .responder import open_zeroconf

if TYPE_CHECKING:
    from .._lifecycle import Endpoint
    from .._servient import Servient
    from .._thing import Thing

__all__ = ["Advertiser", "MdnsAdvertising", "ThingRecord"]

_log = logging.getLogger(__name__)


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
        self._server = server_name(port)

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
                    self._zeroconf = await open_zeroconf(
                        interfaces=interfaces, ip_version=IPVersion.All
                    )
                except (OSError, RuntimeError) as exc:  # IPv6 multicast unusable here
                    _log.warning("mDNS: IPv6 unavailable (%s); advertising IPv4 only", exc)
                    addresses = [a for a in addresses if ":" not in a]
            if self._zeroconf is None and addresses:
                self._zeroconf = await open_zeroconf(
                    interfaces=interfaces, ip_version=IPVersion.V4Only
                )
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


class MdnsAdvertising:
    """The servient's mDNS advertiser: every Thing, at the servient's HTTP endpoint.

    Add it with :meth:`Servient.add_advertiser`; the servient opens it after its
    bindings (so the port is known) and closes it before them (goodbye packets
    go out while the server still answers). Things added or removed while
    serving are announced or withdrawn. A failure to advertise is logged, never
    raised: serving matters more than being found.

    Args:
        allow_loopback: advertise even when bound to loopback only.
        legacy: also publish ``_labthing._tcp`` records for older LabThings clients.
        directory_title: instance name of the directory service.
    """

    def __init__(
        self,
        *,
        allow_loopback: bool = False,
        legacy: bool = False,
        directory_title: str | None = None,
    ) -> None:
        self.allow_loopback = allow_loopback
        self.legacy = legacy
        self.directory_title = directory_title
        #: The advertiser while open (None before, after, or when nothing is advertised).
        self.advertiser: Advertiser | None = None
        self._servient: Servient | None = None
        self._endpoint: Endpoint | None = None
        self._updates: set[asyncio.Task[None]] = set()

    async def open(self, servient: Servient, endpoints: list[Endpoint]) -> None:
        """Advertise ``servient``'s Things at its first HTTP endpoint; follow changes."""
        endpoint = next((e for e in endpoints if e.scheme in ("http", "https")), None)
        if endpoint is None:
            _log.info("mDNS: no HTTP endpoint to advertise")
            return
        advertiser = Advertiser(
            port=endpoint.port,
            host=endpoint.host,
            allow_loopback=self.allow_loopback,
            legacy=self.legacy,
            directory_path=endpoint.directory_path,
            directory_title=self.directory_title,
            scheme=endpoint.scheme,
        )
        self._endpoint = endpoint
        try:
            for thing in servient.things.values():
                await advertiser.add(self._record(thing, servient))
            await advertiser.start()
        except Exception as exc:  # serving matters more than being found
            _log.warning("mDNS advertising failed, serving without it: %s", exc)
            await advertiser.close()
            return
        self.advertiser = advertiser
        self._servient = servient
        servient.on_registry_change(self._follow)

    def _record(self, thing: Thing, servient: Servient) -> ThingRecord:
        assert self._endpoint is not None
        return ThingRecord(
            name=thing.thing_name,
            title=thing.thing_title,
            td_path=self._endpoint.thing_path(thing.thing_name),
            thing_id=servient.thing_id(thing),
            description=thing.thing_description,
        )

    def _follow(self, name: str, thing: Thing | None) -> None:
        advertiser = self.advertiser
        if advertiser is None:
            return
        servient = self._servient
        if thing is not None and servient is not None:
            work = advertiser.add(self._record(thing, servient))
        else:
            work = advertiser.remove(name)
        task = asyncio.get_running_loop().create_task(work)
        self._updates.add(task)  # a strong reference until it is done
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._updates.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.error("mDNS: advertisement update failed", exc_info=task.exception())

    async def close(self) -> None:
        """Stop following the servient, send goodbyes and close the responder; idempotent."""
        if self._servient is not None:
            self._servient.off_registry_change(self._follow)
            self._servient = None
        if self._updates:
            await asyncio.gather(*self._updates, return_exceptions=True)
        advertiser, self.advertiser = self.advertiser, None
        if advertiser is not None:
            await advertiser.close()
