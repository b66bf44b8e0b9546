"""Eclipse node-wot 0.9.2 as a real WoT client of the demo servient, from the TDs alone."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx


def fast_stage(td_urls: list[str]) -> None:
    """The property test may leave the stage slow; make moves quick again."""
    stage = next(url for url in td_urls if url.endswith("/stage"))
    assert httpx.put(f"{stage}/properties/speed", json=20000).status_code == 204


def node_lines(result: Any) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    errors = [line["error"] for line in lines if "error" in line]
    assert result.returncode == 0 and not errors, (errors, result.stderr[-2000:])
    return lines


def test_nodewot_reads_and_writes_every_property(
    demo_td_urls: list[str], run_node: Callable[..., Any]
) -> None:
    lines = node_lines(run_node("nodewot_client.js", "properties", *demo_td_urls))
    reads = [line for line in lines if line["op"] == "read"]
    writes = [line for line in lines if line["op"] == "write"]
    assert {(line["thing"], line["name"]) for line in reads} >= {
        ("Simulated stage", "position"),
        ("Simulated stage", "speed"),
        ("Simulated meter", "reading"),
    }
    assert writes, "the demo has writable properties"
    for line in writes:
        assert line["back"] == line["wanted"], line


def test_nodewot_invokes_sync_and_async_actions(
    demo_td_urls: list[str], run_node: Callable[..., Any]
) -> None:
    fast_stage(demo_td_urls)
    lines = node_lines(
        run_node(
            "nodewot_client.js",
            "actions",
            *demo_td_urls,
            "meter.identify",
            "stage.move_to",
            json.dumps({"x": 300, "y": 200}),
        )
    )
    by_op = {line["op"]: line for line in lines}
    assert by_op["invoke-sync"]["output"].startswith("wot-labthing,SimulatedMeter")
    record = by_op["invoke-async"]["record"]
    assert record["status"] in {"pending", "running", "completed"}
    assert record["href"].endswith("/actions/" + record["id"])
    final = by_op["polled"]["record"]
    assert final["status"] == "completed"
    assert final["output"] == [300, 200, 0]


def test_nodewot_observes_a_moving_stage_and_its_events(
    demo_td_urls: list[str], run_node: Callable[..., Any]
) -> None:
    fast_stage(demo_td_urls)
    httpx.put(demo_td_urls[0].rsplit("/", 1)[0] + "/stage/properties/speed", json=2000)
    lines = node_lines(
        run_node(
            "nodewot_client.js",
            "observe",
            *demo_td_urls,
            "stage",
            "position",
            "moved",
            "move_to",
            json.dumps({"x": 1000, "y": 0}),
            "5",
        )
    )
    (observed,) = [line for line in lines if line["op"] == "observed"]
    assert observed["errors"] == [], "node-wot ended a subscription (it does on any non-2xx)"
    assert observed["final"] == "completed"
    values = observed["values"]
    assert len(values) >= 5, values
    xs = [value[0] for value in values]
    assert xs == sorted(xs), "changes arrive in order"
    assert values[-1] == [1000, 0, 0]
    assert observed["events"] == [[1000, 0, 0]]
