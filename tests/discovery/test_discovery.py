"""DNS-SD advertisement and discovery, across two real network namespaces."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from wot_labthing._discovery import Advertiser, host_addresses, instance_name

ROOT = Path(__file__).parent.parent.parent
IN_CI = os.environ.get("CI") == "true"


def test_instance_names_are_readable_and_at_most_63_bytes() -> None:
    assert instance_name("Simulated stage") == "Simulated stage"
    long = instance_name("Mikroskop-Bühne " * 10)
    assert len(long.encode()) <= 63
    long.encode("utf-8")  # no broken character
    assert "." not in instance_name("v1.2 stage")


def test_loopback_only_advertises_nothing_unless_asked() -> None:
    assert not Advertiser(port=8080, host="127.0.0.1").enabled
    assert Advertiser(port=8080, host="127.0.0.1", allow_loopback=True).enabled
    assert "127.0.0.1" not in host_addresses("0.0.0.0")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def namespaces() -> Iterator[tuple[str, str]]:
    """Two network namespaces joined by a veth pair (10.77.x.1 and 10.77.x.2)."""
    if shutil.which("ip") is None or os.geteuid() != 0:
        reason = "network namespaces need root and iproute2"
        if IN_CI:
            pytest.fail(reason + " (CI=true: not skipping)")
        pytest.skip(reason)
    tag = uuid.uuid4().hex[:6]
    server, client = f"wls{tag}", f"wlc{tag}"
    try:
        _ip("netns", "add", server)
        _ip("netns", "add", client)
        _ip("link", "add", f"vs{tag}", "type", "veth", "peer", "name", f"vc{tag}")
        for namespace, device, address in (
            (server, f"vs{tag}", "10.77.0.1/24"),
            (client, f"vc{tag}", "10.77.0.2/24"),
        ):
            _ip("link", "set", device, "netns", namespace)
            _ip("-n", namespace, "addr", "add", address, "dev", device)
            _ip("-n", namespace, "link", "set", "lo", "up")
            _ip("-n", namespace, "link", "set", device, "up")
            _ip("-n", namespace, "route", "add", "224.0.0.0/4", "dev", device)
    except subprocess.CalledProcessError as exc:
        for namespace in (server, client):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
        message = f"cannot create network namespaces: {exc.stderr!r}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield server, client
    finally:
        for namespace in (server, client):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True)


def _discover(namespace: str, timeout: float) -> list[dict[str, str]]:
    result = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            namespace,
            sys.executable,
            "-m",
            "wot_labthing",
            "discover",
            "--json",
            "--timeout",
            str(timeout),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    found: list[dict[str, str]] = json.loads(result.stdout)
    return found


def test_servient_found_from_another_host_and_goodbye_seen(namespaces: tuple[str, str]) -> None:
    server, client = namespaces
    command = [
        "ip",
        "netns",
        "exec",
        server,
        sys.executable,
        "-m",
        "wot_labthing",
        "serve",
        "examples/demo.toml",
        "--host",
        "0.0.0.0",
        "--port",
        "8080",
    ]
    with subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as process:
        try:
            assert process.stdout is not None
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if process.stdout.readline().startswith("ready"):
                    break
            found = _discover(client, 3)
            assert {thing["title"] for thing in found} == {"Simulated stage", "Simulated meter"}
            for thing in found:
                assert thing["td"].startswith("http://10.77.0.1:8080/things/")
                fetch = subprocess.run(
                    [
                        "ip",
                        "netns",
                        "exec",
                        client,
                        sys.executable,
                        "-c",
                        f"import httpx; print(httpx.get({thing['td']!r}).text)",
                    ],
                    capture_output=True,
                    text=True,
                    timeout=30,
                )
                td = json.loads(fetch.stdout)
                assert td["title"] == thing["title"]
        finally:
            process.terminate()
            process.wait(timeout=20)
    assert _discover(client, 2) == [], "goodbye packets withdrew the services"
