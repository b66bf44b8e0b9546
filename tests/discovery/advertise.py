"""Runs one :class:`Advertiser` for the namespace tests, driven by lines on stdin.

``python advertise.py HOST PORT [--legacy]``, then lines ``add NAME TITLE...``,
``remove NAME``, ``names`` (prints the registered names as JSON) or ``quit``
(goodbye packets, then exit). Prints ``ok`` after each command is done.
"""

from __future__ import annotations

import asyncio
import json
import sys

from wot_labthing._discovery import Advertiser, ThingRecord


async def main(host: str, port: int, legacy: bool) -> None:
    loop = asyncio.get_running_loop()
    async with Advertiser(port=port, host=host, legacy=legacy, directory_path=None) as advertiser:
        print("ok", flush=True)
        while line := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
            command, _, rest = line.partition(" ")
            if command == "add":
                name, _, title = rest.partition(" ")
                await advertiser.add(ThingRecord(name, title, f"/things/{name}", f"urn:x:{name}"))
            elif command == "remove":
                await advertiser.remove(rest)
            elif command == "names":
                print(json.dumps(advertiser.instance_names), flush=True)
            elif command == "quit":
                break
            print("ok", flush=True)
    print("closed", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), "--legacy" in sys.argv))
