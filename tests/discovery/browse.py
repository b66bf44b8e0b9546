"""A python-zeroconf browser for the namespace tests: one JSON line per service event.

Run as ``python browse.py SECONDS [TYPE ...]``; prints ``{"event": "added"|"removed",
"type": ..., "name": ...}`` lines until SECONDS have passed or stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import sys

from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncZeroconf


async def main(seconds: float, types: list[str]) -> None:
    def on_change(
        zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        event = {ServiceStateChange.Added: "added", ServiceStateChange.Removed: "removed"}
        if state_change in event:
            line = {"event": event[state_change], "type": service_type, "name": name}
            print(json.dumps(line), flush=True)

    zeroconf = AsyncZeroconf(ip_version=IPVersion.V4Only)
    browser = AsyncServiceBrowser(zeroconf.zeroconf, types, handlers=[on_change])
    stdin_closed = asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    print(json.dumps({"event": "browsing"}), flush=True)
    try:
        await asyncio.wait_for(stdin_closed, seconds)
    except TimeoutError:
        pass
    finally:
        await browser.async_cancel()
        await zeroconf.async_close()


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1]), sys.argv[2:] or ["_wot._tcp.local."]))
