"""Real multicast between two network namespaces: a servient in one, discovery in the other.

Needs root (see conftest.py); run alone with ``pytest tests/discovery -m netns``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from wot_labthing._discovery import DIRECTORY_TYPE, LEGACY_TYPE, WOT_TYPE

from .conftest import HERE, Lan, Process, require_ipv6, require_node_modules

pytestmark = pytest.mark.netns

THINGS = {
    "OpenFlexure stage (simulated Sangaboard)": "stage",
    "Keysight 34401A multimeter (simulated)": "meter",
}
DISCOVER = (
    "import sys, json; from wot_labthing._cli.discover import discover_command;"
    " sys.exit(discover_command({timeout}, True))"
)


def serve(lan: Lan, port: int) -> Process:
    """The real servient, bound dual-stack (::) in the server namespace."""
    command = ["-m", "wot_labthing", "serve", "examples/demo.toml", "--host", "::"]
    servient = lan.python(lan.server, *command, "--port", str(port))
    servient.expect(lambda line: line.startswith("ready"), 30, "servient ready")
    return servient


def discover(lan: Lan, timeout: float = 2.0) -> list[dict[str, Any]]:
    result = lan.run(lan.client, [sys.executable, "-c", DISCOVER.format(timeout=timeout)])
    assert result.returncode in (0, 1), result.stderr
    found: list[dict[str, Any]] = json.loads(result.stdout)
    return found


def names(events: list[dict[str, Any]], event: str) -> set[tuple[str, str]]:
    return {(e["type"], e["name"]) for e in events if e["event"] == event}


def test_every_thing_is_discovered_from_the_other_host_with_a_working_td_url(lan: Lan) -> None:
    servient = serve(lan, 8080)
    found = discover(lan)
    assert sorted(thing["title"] for thing in found) == sorted(THINGS)  # merged: one each
    for thing in found:
        name = THINGS[thing["title"]]
        # IPv4 preferred although AAAA (link-local) records are advertised too
        assert thing["td_url"] == f"http://{lan.server_ip}:8080/things/{name}"
        assert thing["via"] is None  # advertised itself, and the directory's copy merged in
        assert thing["valid"], thing
        assert thing["td"]["title"] == thing["title"]
        assert thing["td"]["base"] == f"http://{lan.server_ip}:8080/things/{name}/"
    # The advertised URL works for any HTTP client in the other namespace, too.
    url = found[0]["td_url"]
    fetch = lan.run(
        lan.client,
        [
            sys.executable,
            "-c",
            f"import httpx; r = httpx.get({url!r}); print(r.status_code,"
            " r.headers['content-type']); print(r.text)",
        ],
    )
    status, body = fetch.stdout.split("\n", 1)
    assert status == "200 application/td+json", fetch.stderr
    assert json.loads(body)["id"] == found[0]["id"]
    servient.stop()


def test_records_seen_by_a_non_python_mdns_client(lan: Lan) -> None:
    query = str(require_node_modules() / "query.js")
    servient = serve(lan, 8081)
    result = lan.run(lan.client, ["node", query, "_wot._tcp.local", "1500"], timeout=30)
    assert result.returncode == 0, result.stderr
    records: list[dict[str, Any]] = json.loads(result.stdout)
    ptrs = {r["data"] for r in records if r["type"] == "PTR" and r["name"] == "_wot._tcp.local"}
    assert ptrs == {f"{title}._wot._tcp.local" for title in THINGS}
    for title, name in THINGS.items():
        instance = f"{title}._wot._tcp.local"
        [srv] = [r["data"] for r in records if r["type"] == "SRV" and r["name"] == instance]
        assert srv["port"] == 8081
        [txt] = [r["data"] for r in records if r["type"] == "TXT" and r["name"] == instance]
        assert sorted(txt) == sorted([f"td=/things/{name}", "type=Thing", "scheme=http"])
        hosts = {r["data"] for r in records if r["type"] == "A" and r["name"] == srv["target"]}
        assert hosts == {lan.server_ip}
        v6 = {r["data"] for r in records if r["type"] == "AAAA" and r["name"] == srv["target"]}
        if lan.ipv6:  # bound to ::, so link-local IPv6 addresses are advertised too
            assert v6 and all(address.startswith("fe80:") for address in v6)
        assert all(r["from"] == lan.server_ip for r in records)

    directory = lan.run(
        lan.client, ["node", query, "_directory._sub._wot._tcp.local", "1500"], timeout=30
    )
    records = json.loads(directory.stdout)
    [ptr] = [r["data"] for r in records if r["type"] == "PTR"]
    assert ptr.endswith("._wot._tcp.local")
    [txt] = [r["data"] for r in records if r["type"] == "TXT" and r["name"] == ptr]
    assert sorted(txt) == ["scheme=http", "td=/.well-known/wot", "type=Directory"]
    servient.stop()


def test_stopping_the_servient_sends_goodbyes_that_a_browser_sees(lan: Lan) -> None:
    servient = serve(lan, 8082)
    browser = lan.browser(WOT_TYPE, DIRECTORY_TYPE)
    expected = {(WOT_TYPE, f"{title}.{WOT_TYPE}") for title in THINGS}

    def complete(events: list[dict[str, Any]]) -> bool:
        added = names(events, "added")
        return expected <= added and any(type_ == DIRECTORY_TYPE for type_, _ in added)

    seen = names(browser.events(5, until=complete), "added")
    assert expected <= seen
    [directory] = [name for type_, name in seen if type_ == DIRECTORY_TYPE]
    # python-zeroconf's browser also files a subtype PTR under the base type it browses
    assert seen - expected <= {(DIRECTORY_TYPE, directory), (WOT_TYPE, directory)}
    assert servient.stop() == 0
    # PTR records live 75 minutes: only goodbye packets remove them within seconds.
    removed = names(browser.events(5, until=lambda e: names(e, "removed") >= seen), "removed")
    assert removed == seen
    browser.stop()
    assert discover(lan, 1.5) == []


def test_live_updates_name_clashes_and_no_goodbye_without_close(lan: Lan) -> None:
    script = str(HERE / "advertise.py")
    first = lan.python(lan.server, script, lan.server_ip, "9001", "--legacy")
    second = lan.python(lan.server, script, lan.server_ip, "9002")
    for advertiser in (first, second):
        advertiser.expect(lambda line: line == "ok", 20, "advertiser start")
    browser = lan.browser(WOT_TYPE, LEGACY_TYPE)

    first.send("add bench Bench scope")
    first.expect(lambda line: line == "ok", 10, "add")
    second.send("add bench Bench scope")  # the same title, from another servient
    second.expect(lambda line: line == "ok", 10, "add with a clash")
    second.send("names")
    renamed = json.loads(second.expect(lambda line: line.startswith("{"), 10, "names"))
    assert renamed == {"bench": [f"Bench scope (2).{WOT_TYPE}"]}
    both = {
        (WOT_TYPE, f"Bench scope.{WOT_TYPE}"),
        (WOT_TYPE, f"Bench scope (2).{WOT_TYPE}"),
        (LEGACY_TYPE, f"Bench scope.{LEGACY_TYPE}"),
    }
    added = names(browser.events(5, until=lambda e: names(e, "added") >= both), "added")
    assert added == both

    first.send("remove bench")
    first.expect(lambda line: line == "ok", 10, "remove")
    gone = {(WOT_TYPE, f"Bench scope.{WOT_TYPE}"), (LEGACY_TYPE, f"Bench scope.{LEGACY_TYPE}")}
    removed = names(browser.events(5, until=lambda e: names(e, "removed") >= gone), "removed")
    assert removed == gone
    # Control: a responder killed without closing sends no goodbye, and the browser
    # keeps the service, so the goodbye assertions above can fail.
    second.kill()
    assert names(browser.events(3), "removed") == set()
    first.send("quit")
    first.expect(lambda line: line == "closed", 10, "close")
    browser.stop()


def test_a_servient_reachable_only_over_ipv6_link_local_is_found_with_its_scope(lan: Lan) -> None:
    require_ipv6(lan)
    show = lan.run(lan.server, ["ip", "-6", "-o", "addr", "show", "scope", "link"])
    [line] = [line for line in show.stdout.splitlines() if "fe80:" in line]
    device, address = line.split()[1], line.split()[3].split("/")[0]
    command = ["-m", "wot_labthing", "serve", "examples/demo.toml", "--port", "8083"]
    servient = lan.python(lan.server, *command, "--host", f"{address}%{device}")
    servient.expect(lambda line: line.startswith("ready"), 30, "servient ready")
    found = discover(lan)
    assert sorted(thing["title"] for thing in found) == sorted(THINGS)
    for thing in found:
        # the scope is the client's interface index, which getaddrinfo needs
        assert thing["td_url"].startswith(f"http://[{address}%")
        assert thing["td"]["title"] == thing["title"]
    servient.stop()


CANCEL = """
import asyncio, time
from wot_labthing._discovery import discover

async def main():
    started = time.monotonic()
    try:
        await asyncio.wait_for(discover(10.0), 0.5)
    except TimeoutError:
        print(f"cancelled after {time.monotonic() - started:.1f} s")
    assert len(asyncio.all_tasks()) == 1, asyncio.all_tasks()

asyncio.run(main())
"""


def test_cancelling_discover_closes_everything_at_once(lan: Lan) -> None:
    result = lan.run(lan.client, [sys.executable, "-X", "dev", "-c", CANCEL], timeout=30)
    assert result.returncode == 0, result.stderr
    # browsing would last 10 s; cancelled, it ends at once (a wide margin for a busy host)
    seconds = float(result.stdout.split()[2])
    assert seconds < 5, result.stdout
    assert "Task was destroyed" not in result.stderr and "Error" not in result.stderr


def test_the_client_cli_finds_a_thing_by_name_on_the_other_host(lan: Lan) -> None:
    """``wot-labthing read NAME PROPERTY``: NAME is a title found by DNS-SD, not a URL."""
    servient = serve(lan, 8084)
    cli = [sys.executable, "-m", "wot_labthing"]
    title = "OpenFlexure stage (simulated Sangaboard)"
    read = lan.run(lan.client, [*cli, "read", title, "firmware_version"])
    assert read.returncode == 0, read.stderr
    assert json.loads(read.stdout).startswith("Sangaboard Firmware v1")
    moved = lan.run(lan.client, [*cli, "invoke", title, "move_relative", "--input", '{"x": 50}'])
    assert moved.returncode == 0, moved.stderr
    assert json.loads(moved.stdout) == [50, 0, 0]
    listing = lan.run(lan.client, [*cli, "things", "Keysight 34401A multimeter (simulated)"])
    assert listing.returncode == 0, listing.stderr
    assert f"http://{lan.server_ip}:8084/things/meter" in listing.stdout
    servient.stop()
