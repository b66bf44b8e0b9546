"""LAN discovery per W3C WoT Discovery (DNS-SD over mDNS): advertise and browse.

The only package that imports zeroconf: ``names`` (service types, instance
names, addresses), ``advertiser`` (:class:`Advertiser`, and
:class:`MdnsAdvertising`, the servient's advertiser) and ``browser``
(:func:`discover`), ``directories`` (TD Directories: :func:`discover_directories`,
:func:`watch_directories`, and :class:`DirectoryAdvertising` to announce one);
each opens its mDNS responder with ``responder.open_zeroconf`` (sockets and
interfaces in a worker thread, never on the event loop).

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

from .advertiser import Advertiser, MdnsAdvertising, ThingRecord
from .browser import DiscoveredThing, discover, discover_sync
from .directories import (
    DirectoryAdvertising,
    DiscoveredDirectory,
    discover_directories,
    discover_directories_sync,
    watch_directories,
)
from .names import (
    DIRECTORY_TYPE,
    LEGACY_TYPE,
    WOT_TYPE,
    advertised_addresses,
    instance_name,
)

__all__ = [
    "DIRECTORY_TYPE",
    "LEGACY_TYPE",
    "WOT_TYPE",
    "Advertiser",
    "DirectoryAdvertising",
    "DiscoveredDirectory",
    "DiscoveredThing",
    "MdnsAdvertising",
    "ThingRecord",
    "advertised_addresses",
    "discover",
    "discover_directories",
    "discover_directories_sync",
    "discover_sync",
    "instance_name",
    "watch_directories",
]
