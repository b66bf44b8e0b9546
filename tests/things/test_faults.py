"""Unplugging, silence and garbage on the serial line, seen through the HTTP API.

Both demo drivers run against their simulators on real pseudo-terminals inside
one servient; the tests pull the plug on one and check that the run fails with
a clear error, reads answer problem+json, the other Thing is untouched, no
record is lost, and the next request after replugging reconnects.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

import wot_labthing as wl
from things.keysight.dmm34401a import Keysight34401A
from things.openflexure.sangaboard import Sangaboard
from things.simulators.dmm34401a import Dmm34401aSimulator
from things.simulators.sangaboard import SangaboardSimulator
from wot_labthing import LineSimulator, SimulatorEndpoint
from wot_labthing._line_simulator import Reply

from ..waiting import eventually


class SilentDevice(LineSimulator):
    """A device that takes every command and never answers (wrong baud, hung firmware)."""

    name = "silent"

    def handle(self, line: str, reply: Reply) -> None:
        return None


class GarbageDevice(LineSimulator):
    """A device that answers every command with line noise."""

    name = "garbage"
    encoding = "latin-1"

    def handle(self, line: str, reply: Reply) -> None:
        reply("\x8f\xfe\x00~~")


@pytest.fixture
def lab() -> Iterator[tuple[SimulatorEndpoint, Sangaboard, Keysight34401A]]:
    board_end = SimulatorEndpoint(SangaboardSimulator(), kind="pty")
    meter_end = SimulatorEndpoint(Dmm34401aSimulator(seed=1), kind="pty")
    stage = Sangaboard(board_end.start(), name="stage", timeout=1.0)
    meter = Keysight34401A(meter_end.start(), name="meter", timeout=1.0)
    stage.transport.reconnect_min = 0.05
    stage.transport.reconnect_max = 0.2
    try:
        yield board_end, stage, meter
    finally:
        stage.close()
        meter.close()
        board_end.close()
        meter_end.close()


async def poll(client: httpx.AsyncClient, href: str, statuses: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while True:
        record: dict[str, Any] = (await client.get(href)).json()
        if record["status"] in statuses:
            return record
        assert time.monotonic() < deadline, record
        await asyncio.sleep(0.05)


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["type"] == f"urn:wot-labthing:problem:{slug}", problem
    return problem


async def test_unplug_mid_move_then_replug(
    lab: tuple[SimulatorEndpoint, Sangaboard, Keysight34401A], serve: Callable[..., Any]
) -> None:
    board_end, stage, meter = lab
    async with serve([stage, meter]) as (_, client):
        started = await client.post(
            "things/stage/actions/move_relative",
            json={"x": 20000},
            headers={"Prefer": "respond-async"},
        )
        assert started.status_code == 201
        href = started.headers["Location"]
        await poll(client, href, {"running"})

        board_end.stop()  # the USB cable is pulled mid-move
        record = await poll(client, href, {"failed", "completed"})
        assert record["status"] == "failed"
        assert record["error"]["type"] == "urn:wot-labthing:problem:disconnected"
        # The device path stays in the server log; clients see the problem without it.
        assert board_end.url not in record["error"]["detail"]
        assert "<path>" in record["error"]["detail"]

        problem = assert_problem(
            await client.get("things/stage/properties/position"), 503, "disconnected"
        )
        assert board_end.url not in problem["detail"] and "<path>" in problem["detail"]
        # The other instrument is untouched, and the failed run is still on record.
        reading = await client.get("things/meter/properties/reading")
        assert reading.status_code == 200 and isinstance(reading.json(), float)
        listed = (await client.get("actions", params={"thing": "stage"})).json()
        assert [(r["href"], r["status"]) for r in listed] == [(href, "failed")]

        board_end.start()  # plugged back in, at the same path

        async def reconnected() -> httpx.Response | None:  # once the back-off lets it try
            response = await client.get("things/stage/properties/position")
            return response if response.status_code == 200 else None

        await eventually(reconnected, "the stage to be reachable again")
        moved = await client.post("things/stage/actions/move_relative", json={"y": 5})
        assert moved.json()["status"] == "completed", moved.json()


@pytest.mark.parametrize(
    ("device", "status", "slug"),
    [(SilentDevice, 504, "instrument-timeout"), (GarbageDevice, 502, "instrument-error")],
)
async def test_silent_or_garbled_device_answers_a_problem_quickly(
    device: type[LineSimulator], status: int, slug: str, serve: Callable[..., Any]
) -> None:
    with SimulatorEndpoint(device(), kind="pty") as endpoint:
        stage = Sangaboard(endpoint.url, name="stage", timeout=0.3)
        try:
            async with serve([stage]) as (_, client):
                problem = assert_problem(  # the port's timeout, not a hang
                    await client.get("things/stage/properties/position"), status, slug
                )
                assert endpoint.url not in problem["detail"] and "<path>" in problem["detail"]
                # The servient itself keeps answering.
                assert (await client.get("things/stage")).status_code == 200
        finally:
            stage.close()


async def test_shutdown_mid_move_stops_the_board_and_keeps_the_record() -> None:
    """Stopping the servient cancels the move (the board gets 'stop'), then closes the port."""
    simulator = SangaboardSimulator()
    with SimulatorEndpoint(simulator, kind="pty") as endpoint:
        stage = Sangaboard(endpoint.url, name="stage", timeout=1.0)
        servient = wl.Servient([stage])
        await servient.start()
        run = servient.invoke_action("stage", "move_relative", {"x": 20000})
        await eventually(lambda: simulator.position[0] >= 100, "the board to move")
        await servient.stop()
        assert simulator.position[0] < 20000  # stopped, not run to the end
        assert run.status == "failed"
        assert run.error is not None and run.error["type"].endswith(":cancelled")
        assert "stop" in simulator.commands and not simulator.moving
        assert not stage.transport.is_open
