"""Eclipse node-wot 0.9.2 drives the README's demo: real serial drivers on simulators."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from ..conftest import demo_servient
from .test_nodewot import node_lines


@pytest.fixture(scope="module")
def serial_demo() -> Iterator[list[str]]:
    """``wot-labthing serve examples/demo.toml``: its TD URLs (stage, meter)."""
    with demo_servient() as (_, urls):
        yield urls


def test_nodewot_reads_every_property_of_both_instruments(
    serial_demo: list[str], run_node: Callable[..., Any]
) -> None:
    lines = node_lines(run_node("nodewot_client.js", "read", *serial_demo))
    values = {(line["thing"], line["name"]): line["value"] for line in lines}
    stage = "OpenFlexure stage (simulated Sangaboard)"
    meter = "Keysight 34401A multimeter (simulated)"
    assert values[(stage, "firmware_version")].startswith("Sangaboard Firmware v1")
    assert len(values[(stage, "position")]) == 3
    assert values[(meter, "identity")]["model"] == "34401A"
    assert isinstance(values[(meter, "reading")], float)
    expected = {
        (td["title"], name)
        for td in (httpx.get(url).json() for url in serial_demo)
        for name, prop in td["properties"].items()
        if not prop.get("writeOnly")
    }
    assert set(values) == expected


def test_nodewot_zeroes_and_moves_the_sangaboard(
    serial_demo: list[str], run_node: Callable[..., Any]
) -> None:
    lines = node_lines(
        run_node(
            "nodewot_client.js",
            "actions",
            *serial_demo,
            "stage.zero",
            "stage.move_relative",
            json.dumps({"x": 300, "z": -20}),
        )
    )
    by_op = {line["op"]: line for line in lines}
    assert by_op["invoke-sync"]["output"] == [0, 0, 0]
    final = by_op["polled"]["record"]
    assert final["status"] == "completed", final
    assert final["output"] == [300, 0, -20]
