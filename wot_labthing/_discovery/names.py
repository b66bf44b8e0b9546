"""DNS-SD names and addresses for WoT Discovery: service types, instance names, A/AAAA sets."""

from __future__ import annotations

import ipaddress
import socket
import unicodedata
from collections.abc import Iterable

import ifaddr

__all__ = [
    "DIRECTORY_TYPE",
    "LEGACY_TYPE",
    "MAX_RENAMES",
    "WOT_TYPE",
    "advertised_addresses",
    "instance_name",
    "server_name",
]

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


def server_name(port: int) -> str:
    # Our own host name, not the machine's: publishing a different address set
    # under <hostname>.local. would conflict with avahi or mDNSResponder.
    first = socket.gethostname().split(".", 1)[0]
    label = "".join(c if c.isascii() and c.isalnum() else "-" for c in first)
    label = label.strip("-").lower()[:40] or "host"
    return f"{label}-wot-{port}.local."
