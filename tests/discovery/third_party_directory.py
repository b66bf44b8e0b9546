"""Announces a TD Directory the way another vendor's software would: python-zeroconf only.

``python third_party_directory.py ADDRESS PORT TD_PATH``: registers
``Acme TDD._wot._tcp.local.`` under the subtype ``_directory._sub._wot._tcp.local.``
(WoT Discovery 6.3: TXT ``td``, ``type=Directory``), prints ``announced`` and keeps
it up until stdin closes. None of wot_labthing's code is used.
"""

from __future__ import annotations

import signal
import sys

from zeroconf import IPVersion, ServiceInfo, Zeroconf


def main(address: str, port: int, td_path: str) -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # goodbye packets on SIGTERM
    zeroconf = Zeroconf(interfaces=[address], ip_version=IPVersion.V4Only)
    info = ServiceInfo(
        "_directory._sub._wot._tcp.local.",
        "Acme TDD._wot._tcp.local.",
        port=port,
        properties={"td": td_path, "type": "Directory"},
        server="acme-tdd.local.",
        parsed_addresses=[address],
    )
    try:
        zeroconf.register_service(info)
        print("announced", flush=True)
        sys.stdin.read()
    finally:
        zeroconf.unregister_all_services()
        zeroconf.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
