"""Our client consumes Eclipse node-wot 0.9.2 and our own servient through the same code."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

import wot_labthing as wl
from wot_labthing._consumed import Credentials, consume, consume_sync

from ..conftest import INTEROP_DIR, ROOT, ensure_node_modules, require_node


def start_nodewot(*args: str) -> tuple[subprocess.Popen[str], str]:
    node = require_node()
    ensure_node_modules()
    process = subprocess.Popen(
        [node, str(INTEROP_DIR / "nodewot_servient.js"), *args],
        cwd=INTEROP_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    url = ""
    for line in process.stdout:
        if line.startswith("TD: "):
            url = line[4:].strip()
        elif line.startswith("ready"):
            break
    if not url:
        process.kill()
        raise AssertionError(f"node-wot servient did not start: {process.communicate()[1]}")
    return process, url


def stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


@pytest.fixture(scope="module")
def nodewot_url() -> Iterator[str]:
    """A node-wot servient exposing "Node counter" on loopback; its TD URL."""
    process, url = start_nodewot()
    try:
        yield url
    finally:
        stop(process)


@pytest.fixture(scope="module")
def basic_nodewot_url() -> Iterator[str]:
    """The same Thing behind HTTP basic authentication (user "lab", password "secret")."""
    process, url = start_nodewot("basic", "lab", "secret")
    try:
        yield url
    finally:
        stop(process)


@pytest.fixture(scope="module")
def our_stage_url() -> Iterator[str]:
    from ..conftest import demo_servient

    with demo_servient(config="examples/simulated.toml") as (_, urls):
        yield next(url for url in urls if url.endswith("/stage"))


async def test_consume_nodewot_properties(nodewot_url: str) -> None:
    async with await consume(nodewot_url) as counter:
        assert counter.title == "Node counter"
        await counter.write_property("count", 4)
        assert await counter.read_property("count") == 4
        await counter.write_multiple_properties({"count": 5, "label": "five"})  # 405 -> one by one
        assert await counter.read_all_properties() == {"count": 5, "label": "five"}
        assert await counter.read_multiple_properties(["label"]) == {"label": "five"}
        with pytest.raises(wl.InputError, match="too long"):
            await counter.write_property("label", "x" * 21)
        with pytest.raises(wl.InputError):
            await counter.write_property("count", -1)


async def test_consume_nodewot_actions(nodewot_url: str) -> None:
    async with await consume(nodewot_url) as counter:
        await counter.write_property("count", 0)
        assert await counter.invoke_action("increment", {"by": 2}) == 2
        with pytest.raises(wl.InputError, match="required"):
            await counter.invoke_action("increment", {})
        # declared synchronous: false, yet node-wot answers the bare output
        handle = await counter.start_action("slow_reset")
        assert handle.done and handle.status == "completed"
        assert await handle.wait() == 2
        assert await counter.read_property("count") == 0


async def test_consume_nodewot_observe_and_events(nodewot_url: str) -> None:
    async with await consume(nodewot_url) as counter:
        await counter.write_property("count", 0)
        async with await counter.observe_property("count") as counts:
            assert counts.subprotocol == "longpoll"  # all node-wot offers
            async with await counter.subscribe_event("changed") as changes:
                await counter.invoke_action("increment", {"by": 3})
                assert await changes.next(10) == 3
                assert await counts.next(10) == 3
                await counter.write_property("count", 7)
                assert await counts.next(10) == 7
                assert await changes.next(10) == 7


async def test_basic_authentication_against_nodewot(basic_nodewot_url: str) -> None:
    async with await consume(
        basic_nodewot_url, credentials=Credentials(username="lab", password="secret")
    ) as counter:
        assert counter.td["securityDefinitions"]["sc"]["scheme"] == "basic"
        await counter.write_property("count", 11)
        assert await counter.read_property("count") == 11
        assert await counter.invoke_action("increment", {"by": 1}) == 12
    async with await consume(basic_nodewot_url) as anonymous:
        with pytest.raises(wl.ConsumerError, match="basic authentication"):
            await anonymous.read_property("count")
    wrong = Credentials(username="lab", password="guess")
    async with await consume(basic_nodewot_url, credentials=wrong) as intruder:
        with pytest.raises(wl.RemoteError) as caught:
            await intruder.read_property("count")
        assert caught.value.status == 401


def drive(thing: Any, counter_name: str, action: str, action_input: Any) -> dict[str, Any]:
    """One script for any Thing: read every property, run an action, observe a property."""
    values = thing.read_all_properties()
    handle = thing.start_action(action, action_input)
    output = handle.wait(30)
    with thing.observe_property(counter_name) as changes:
        thing.start_action(action, action_input)
        change = changes.next(10)
    return {"values": values, "output": output, "status": handle.status, "change": change}


def test_one_script_drives_both_servients(nodewot_url: str, our_stage_url: str) -> None:
    with consume_sync(nodewot_url) as counter:
        counter.write_property("count", 0)
        result = drive(counter, "count", "increment", {"by": 1})
    assert result["values"]["count"] == 0 and result["output"] == 1
    assert result["status"] == "completed" and result["change"] == 2

    with consume_sync(our_stage_url) as stage:
        stage.write_property("speed", 1000)
        start = stage.read_property("position")
        target = {"x": start[0] + 1500, "y": 0}  # 1.5 s: answered 201 + Location, followed
        result = drive(stage, "position", "move_to", target)
        stage.start_action("move_to", {"x": start[0], "y": 0}).wait(30)
    assert result["values"]["position"] == start
    assert result["output"] == [start[0] + 1500, 0, 0] and result["status"] == "completed"
    assert isinstance(result["change"], list) and len(result["change"]) == 3


def test_cli_reads_invokes_and_observes_nodewot(nodewot_url: str) -> None:
    cli = [sys.executable, "-m", "wot_labthing._cli.client"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cli, *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
        )

    assert run("write", nodewot_url, "count", "1").returncode == 0
    assert run("invoke", nodewot_url, "increment", "--input", '{"by": 4}').stdout.strip() == "5"
    assert run("read", nodewot_url, "count").stdout.strip() == "5"
    listing = run("things", nodewot_url)
    assert "Node counter" in listing.stdout and nodewot_url in listing.stdout
    with subprocess.Popen(
        [*cli, "observe", nodewot_url, "changed", "--count", "1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stderr is not None and process.stdout is not None
        assert "over longpoll" in process.stderr.readline()
        assert run("invoke", nodewot_url, "increment", "--input", '{"by": 1}').returncode == 0
        assert process.wait(timeout=30) == 0
        assert process.stdout.read().strip() == "6"
