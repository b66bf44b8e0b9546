"""Two network namespaces joined by a veth pair: a private LAN for real multicast tests.

Creating them needs root and iproute2. Without them the tests skip, saying why;
with ``CI=true`` they fail instead, so CI cannot pass without running them.
"""

from __future__ import annotations

import json
import os
import queue
import random
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
IN_CI = os.environ.get("CI") == "true"


def skip_or_fail(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: not skipping)")
    pytest.skip(reason)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=10)


class Process:
    """A process in a namespace whose stdout lines can be awaited with a deadline."""

    def __init__(self, args: list[str]) -> None:
        self.popen = subprocess.Popen(
            args,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.stderr: list[str] = []
        self._pumps = [
            threading.Thread(target=self._pump, daemon=True),
            threading.Thread(target=self._pump_stderr, daemon=True),
        ]
        for pump in self._pumps:
            pump.start()

    def _pump(self) -> None:
        assert self.popen.stdout is not None
        with self.popen.stdout:
            for line in self.popen.stdout:
                self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _pump_stderr(self) -> None:
        assert self.popen.stderr is not None
        with self.popen.stderr:
            for line in self.popen.stderr:
                self.stderr.append(line)

    def expect(self, match: Callable[[str], bool], timeout: float, what: str) -> str:
        """The next stdout line that ``match`` accepts, within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if match(line):
                return line
        raise AssertionError(
            f"no {what} within {timeout} s; stdout: {self.seen[-20:]}; stderr: {self.stderr[-20:]}"
        )

    def events(
        self, timeout: float, until: Callable[[list[dict[str, Any]]], bool] | None = None
    ) -> list[dict[str, Any]]:
        """The JSON lines (browse.py) printed within ``timeout`` s, or until ``until`` holds."""
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            found.append(json.loads(line))
            if until is not None and until(found):
                break
        return found

    def send(self, line: str) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(line + "\n")
        self.popen.stdin.flush()

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM, then SIGKILL if it does not end in ``timeout`` seconds; close the pipes."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self.close()
        return self.popen.returncode

    def kill(self) -> None:
        """SIGKILL: no chance to clean up (no goodbye packets)."""
        self.popen.kill()
        self.popen.wait(5)
        self.close()

    def close(self) -> None:
        assert self.popen.stdin is not None
        try:
            self.popen.stdin.close()
        except BrokenPipeError:
            pass
        for pump in self._pumps:
            pump.join(5)


@dataclass
class Lan:
    """Namespace ``server`` (address ``server_ip``) and ``client``, on one veth link."""

    server: str
    client: str
    server_ip: str
    client_ip: str
    processes: list[Process] = field(default_factory=list)
    #: Whether the veth pair got IPv6 link-local addresses (no IPv6 in the kernel: False).
    ipv6: bool = False

    def run(
        self, namespace: str, args: list[str], timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", namespace, *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, namespace: str, args: list[str]) -> Process:
        process = Process(["ip", "netns", "exec", namespace, *args])
        self.processes.append(process)
        return process

    def python(self, namespace: str, *args: str) -> Process:
        return self.start(namespace, [sys.executable, *args])

    def browser(self, *types: str, seconds: float = 60) -> Process:
        """browse.py in the client namespace, already browsing."""
        process = self.python(self.client, str(HERE / "browse.py"), str(seconds), *types)
        process.expect(lambda line: "browsing" in line, 20, "browser start")
        return process


@pytest.fixture(scope="module")
def lan() -> Iterator[Lan]:
    if shutil.which("ip") is None:
        skip_or_fail("network namespace tests need iproute2 (apt-get install -y iproute2)")
    if os.geteuid() != 0:
        skip_or_fail("network namespace tests need root (ip netns add)")
    tag = uuid.uuid4().hex[:8]
    subnet = f"10.{random.randrange(256)}.{random.randrange(256)}"
    lan = Lan(f"wls{tag}", f"wlc{tag}", f"{subnet}.1", f"{subnet}.2")
    created: list[str] = []
    try:
        try:
            for namespace in (lan.server, lan.client):
                _ip("netns", "add", namespace)
                created.append(namespace)
                # IPv6 on (some CI containers default it off), and no duplicate address
                # detection, so link-local addresses are usable at once
                settings = " ".join(
                    f"echo {value} > /proc/sys/net/ipv6/conf/{scope}/{key};"
                    for key, value in (("disable_ipv6", 0), ("accept_dad", 0))
                    for scope in ("all", "default")
                )
                lan.run(namespace, ["sh", "-c", settings], timeout=10)
            _ip("link", "add", f"ws{tag}", "type", "veth", "peer", "name", f"wc{tag}")
            for namespace, device, address in (
                (lan.server, f"ws{tag}", lan.server_ip),
                (lan.client, f"wc{tag}", lan.client_ip),
            ):
                _ip("link", "set", device, "netns", namespace)
                _ip("-n", namespace, "addr", "add", f"{address}/24", "dev", device)
                _ip("-n", namespace, "link", "set", "lo", "up")
                _ip("-n", namespace, "link", "set", device, "up")
                _ip("-n", namespace, "route", "add", "224.0.0.0/4", "dev", device)
        except subprocess.CalledProcessError as exc:
            skip_or_fail(f"cannot create network namespaces: {' '.join(exc.cmd)}: {exc.stderr}")
        lan.ipv6 = _has_link_local(lan)
        yield lan
    finally:
        for process in lan.processes:
            process.kill()
        for namespace in created:  # the veth pair goes with its namespaces
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=10)


def _has_link_local(lan: Lan) -> bool:
    for _ in range(100):  # addresses appear once the link is up; bounded wait (10 s)
        show = lan.run(lan.server, ["ip", "-6", "-o", "addr", "show", "scope", "link"])
        if "fe80:" in show.stdout:
            return True
        time.sleep(0.1)
    return False


def require_ipv6(lan: Lan) -> None:
    if not lan.ipv6:
        skip_or_fail("no IPv6 link-local addresses in the namespaces (kernel without IPv6?)")


def require_node_modules() -> Path:
    """tests/discovery/mdns_query with multicast-dns installed (npm ci if absent)."""
    directory = HERE / "mdns_query"
    if shutil.which("node") is None or shutil.which("npm") is None:
        skip_or_fail("node and npm are needed for the multicast-dns check")
    if not (directory / "node_modules" / "multicast-dns").exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=directory,
            check=True,
            capture_output=True,
            timeout=300,
        )
    return directory
