"""Finding a TD Directory on the LAN (``_directory._sub._wot._tcp``) across network namespaces.

A real Domus TDD in the server namespace, announced either by one of our servients
(``[[directories]] advertise = true``) or by plain python-zeroconf the way another
vendor's software would; in the client namespace a servient with
``[[directories]] discover = true`` finds it and registers, and
``wot-labthing discover --directories`` lists it. Needs root (see conftest.py) and
the TDD venv (scripts/bootstrap).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ..directory.tdd import require_tdd
from .conftest import HERE, Lan, Process

pytestmark = pytest.mark.netns

LAMP = "tests.directory.test_registration:Lamp"


def start_tdd(lan: Lan, tmp_path: Path) -> tuple[Process, str]:
    """A Domus TDD (and its oxigraph) in the server namespace, bound to its LAN address."""
    require_tdd()
    tdd = lan.python(lan.server, "-m", "tests.directory.tdd", lan.server_ip, str(tmp_path))
    line = tdd.expect(lambda line: line.startswith("ready "), 90, "the TDD")
    return tdd, line.split(" ", 1)[1]


def serve(lan: Lan, namespace: str, host: str, config: str, path: Path) -> Process:
    """``wot-labthing serve`` with ``config`` (TOML) in ``namespace``."""
    path.write_text(config)
    servient = lan.python(namespace, "-m", "wot_labthing", "serve", str(path))
    servient.expect(lambda line: line.startswith("ready"), 60, f"the servient at {host}")
    return servient


def titles_in(lan: Lan, tdd_url: str) -> list[str]:
    """The titles of the TDs the TDD holds, asked from inside the server namespace.

    Domus TDD 1.0.2 answers a listing that races a PUT with a 500 (a KeyError in its
    paging); that answer is asked again, a few times.
    """
    script = f"""
import httpx, json, time
for _ in range(10):
    r = httpx.get({tdd_url + "/things"!r}, timeout=20)
    if r.status_code != 500:
        break
    time.sleep(0.2)
r.raise_for_status()
print(json.dumps([t.get("title") for t in r.json()]))
"""
    result = lan.run(lan.server, [sys.executable, "-c", script])
    assert result.returncode == 0, result.stderr
    titles: list[str] = json.loads(result.stdout)
    return titles


def until(check: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout} s")
        time.sleep(0.5)


def bench(name: str, title: str, port: int, host: str, directories: str) -> str:
    return f"""
[servient]
host = "{host}"
port = {port}

{directories}

[[things]]
class = "{LAMP}"
name = "{name}"
title = "{title}"
"""


def test_our_advertisement_is_found_by_a_registrar_and_the_cli(lan: Lan, tmp_path: Path) -> None:
    (tmp_path / "tdd").mkdir()
    tdd, tdd_url = start_tdd(lan, tmp_path / "tdd")
    processes = [tdd]
    try:
        # the lab servient announces the TDD (and, being on the LAN, its own read-only
        # directory under the same subtype, which a registrar must pass by)
        advertising = bench(
            "lab",
            "Lab lamp",
            8090,
            lan.server_ip,
            f'[[directories]]\nurl = "{tdd_url}"\nadvertise = true\nttl = 30',
        )
        processes.append(serve(lan, lan.server, lan.server_ip, advertising, tmp_path / "a.toml"))
        until(lambda: "Lab lamp" in titles_in(lan, tdd_url), "lab lamp in the TDD", 60)

        finding = bench(
            "bench",
            "Bench lamp",
            8091,
            lan.client_ip,
            "[[directories]]\ndiscover = true\nttl = 30",
        )
        client = serve(lan, lan.client, lan.client_ip, finding, tmp_path / "b.toml")
        processes.append(client)
        until(lambda: "Bench lamp" in titles_in(lan, tdd_url), "bench lamp in the TDD", 60)

        listed = lan.run(
            lan.client,
            [sys.executable, "-m", "wot_labthing", "discover", "--directories", "--json"],
        )
        assert listed.returncode == 0, listed.stderr
        directories: list[dict[str, Any]] = json.loads(listed.stdout)
        writable = [d for d in directories if d["writable"]]
        assert [d["url"] for d in writable] == [tdd_url], directories
        assert writable[0]["td_url"] == tdd_url + "/"
        assert writable[0]["title"] == "Thing Description Directory (TDD)"
        read_only = [d for d in directories if not d["writable"]]
        assert f"http://{lan.server_ip}:8090/.well-known/wot" in [d["td_url"] for d in read_only]

        # the things command without a URL lists (and searches) the directory it finds
        search = lan.run(
            lan.client,
            [sys.executable, "-m", "wot_labthing", "things", "--title", "LAMP", "--json"],
        )
        assert search.returncode == 0, search.stderr
        assert sorted(t["title"] for t in json.loads(search.stdout)) == ["Bench lamp", "Lab lamp"]
        assert f"at {tdd_url}" in search.stderr

        # a clean stop deletes the bench's TD from the directory it found
        assert client.stop() == 0
        until(lambda: "Bench lamp" not in titles_in(lan, tdd_url), "the deletion", 30)
    finally:
        for process in reversed(processes):
            process.stop()


def test_another_vendors_advertisement_is_found_after_serving_without_one(
    lan: Lan, tmp_path: Path
) -> None:
    (tmp_path / "tdd").mkdir()
    tdd, tdd_url = start_tdd(lan, tmp_path / "tdd")
    processes = [tdd]
    try:
        finding = bench(
            "early",
            "Early lamp",
            8092,
            lan.client_ip,
            "[[directories]]\ndiscover = true\nttl = 6\nretry_max = 1",
        )
        processes.append(serve(lan, lan.client, lan.client_ip, finding, tmp_path / "c.toml"))
        # no directory on the LAN yet: the servient serves, nothing is registered
        fetch = lan.run(
            lan.client,
            [
                sys.executable,
                "-c",
                f"import httpx; print(httpx.get('http://{lan.client_ip}:8092/things/early')"
                ".json()['title'])",
            ],
        )
        assert fetch.stdout.strip() == "Early lamp", fetch.stderr
        assert titles_in(lan, tdd_url) == []

        port = tdd_url.rsplit(":", 1)[1]
        announcer = lan.python(
            lan.server, str(HERE / "third_party_directory.py"), lan.server_ip, port, "/"
        )
        processes.append(announcer)
        announcer.expect(lambda line: line == "announced", 30, "the announcement")
        until(lambda: "Early lamp" in titles_in(lan, tdd_url), "early lamp in the TDD", 60)

        # that directory goes away and another is announced: the registrar moves over
        announcer.stop()
        tdd.stop()
        (tmp_path / "tdd2").mkdir()
        other, other_url = start_tdd(lan, tmp_path / "tdd2")
        processes.append(other)
        assert other_url != tdd_url
        second = lan.python(
            lan.server,
            str(HERE / "third_party_directory.py"),
            lan.server_ip,
            other_url.rsplit(":", 1)[1],
            "/",
        )
        processes.append(second)
        second.expect(lambda line: line == "announced", 30, "the second announcement")
        until(lambda: "Early lamp" in titles_in(lan, other_url), "early lamp in the new TDD", 90)
    finally:
        for process in reversed(processes):
            process.stop()
