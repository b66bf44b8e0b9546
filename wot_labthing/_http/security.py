"""Serving safely: which Host names a server answers for, TLS and connection limits.

The guard (``guard.py``) refuses any ``Host`` not in its allow-list; this module
fills that list from where the server is actually reachable: the bound address
(every interface address for a wildcard bind), the machine's host name and its
``.local`` mDNS name, and ``localhost``, plus the config's ``allowed_hosts`` and
``public_url``.
"""

from __future__ import annotations

import ipaddress
import socket

from hypercorn.config import Config

from .._security import SecurityConfig
from .._servient import ServientSettings
from .guard import Guard

__all__ = ["allow_server_hosts", "apply_limits", "is_loopback"]

_WILDCARDS = ("0.0.0.0", "::", "")


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` only serves this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _interface_addresses() -> set[str]:
    """Every address of this machine's interfaces (ifaddr comes with zeroconf)."""
    addresses: set[str] = set()
    try:
        import ifaddr
    except ImportError:  # pragma: no cover - zeroconf (and ifaddr) not installed
        return addresses
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            address = ip.ip if isinstance(ip.ip, str) else ip.ip[0]
            addresses.add(address.split("%", 1)[0].lower())
    return addresses


def allow_server_hosts(guard: Guard, host: str, port: int) -> None:
    """Let ``guard`` accept the names this server is reachable at, and set its default Host."""
    names = {host.lower()}
    if host in _WILDCARDS:
        names |= _interface_addresses()
    hostname = socket.gethostname().lower()
    names |= {hostname, f"{hostname.split('.')[0]}.local", "localhost", "127.0.0.1", "::1"}
    for name in names:
        if name:
            guard.allow_host(name)
    shown = "127.0.0.1" if host in _WILDCARDS else host
    guard.default_host = f"[{shown}]:{port}" if ":" in shown else f"{shown}:{port}"


def apply_limits(config: Config, security: SecurityConfig, settings: ServientSettings) -> None:
    """TLS files and slow-client bounds on hypercorn's config.

    ``keep_alive_timeout`` also bounds a connection whose request head never
    completes (no stream exists yet, so hypercorn counts it as idle):
    slowloris clients are dropped after it. The head itself may not exceed
    ``h11_max_incomplete_size``.
    """
    if security.certfile and security.keyfile:
        config.certfile = security.certfile
        config.keyfile = security.keyfile
        config.ssl_handshake_timeout = 10
    config.keep_alive_timeout = settings.idle_timeout
    config.h11_max_incomplete_size = settings.max_header_bytes
    config.h2_max_header_list_size = settings.max_header_bytes
