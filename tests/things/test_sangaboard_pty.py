"""The real driver against the simulator at the far end of a real pseudo-terminal.

The board moves at its default 1000 steps/s, so a move's duration is its
length in milliseconds. Waits poll a condition with a deadline; nothing sleeps
for a fixed time to let something happen.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import wot_labthing as wl
from things.openflexure.sangaboard import Sangaboard
from things.simulators.sangaboard import SangaboardSimulator
from wot_labthing import SimulatorEndpoint


@dataclass
class Rig:
    """A simulated board on a pty, and the driver connected to it."""

    simulator: SangaboardSimulator
    endpoint: SimulatorEndpoint
    board: Sangaboard


@pytest.fixture
def rig() -> Iterator[Rig]:
    simulator = SangaboardSimulator()
    endpoint = SimulatorEndpoint(simulator, kind="pty")
    url = endpoint.start()
    board = Sangaboard(url, name="stage", timeout=2.0)
    board.transport.reconnect_min = 0.05
    board.transport.reconnect_max = 0.2
    try:
        yield Rig(simulator, endpoint, board)
    finally:
        board.close()
        endpoint.close()


@pytest.fixture
async def servient(rig: Rig) -> AsyncIterator[wl.Servient]:
    async with wl.Servient([rig.board]) as running:
        yield running


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait (without blocking the loop) until ``condition()`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def test_a_plain_python_move(rig: Rig) -> None:
    assert rig.board.firmware_version == "Sangaboard Firmware v1.0.4"
    assert rig.simulator.blocking_moves is False  # the driver's setup made it so
    assert rig.board.move_relative(30, -20, 10) == [30, -20, 10]
    assert rig.board.move_absolute(0, 0, 0) == [0, 0, 0]
    assert rig.simulator.position == [0, 0, 0]
    assert rig.board.modules == ["Stage", "Illumination: CC LED"]
    rig.board.led_brightness = 0.25
    assert rig.board.led_brightness == pytest.approx(0.25)


async def test_a_move_run_reports_progress_from_the_real_position(
    rig: Rig, servient: wl.Servient
) -> None:
    invocation = servient.invoke_action("stage", "move_relative", {"x": 400, "y": 200})
    progress: list[int] = []
    while not invocation.is_finished:
        if invocation.progress is not None and invocation.progress not in progress:
            progress.append(invocation.progress)
        await asyncio.sleep(0.002)
    assert invocation.status == "completed", invocation.error
    assert invocation.output == [400, 200, 0]
    assert rig.simulator.position == [400, 200, 0]
    intermediate = [value for value in progress if 0 < value < 100]
    assert len(intermediate) >= 2, progress  # a 0.4 s move polled every 50 ms
    assert intermediate == sorted(intermediate)


async def test_cancelling_a_move_stops_the_board_at_once(rig: Rig, servient: wl.Servient) -> None:
    positions: list[Any] = []
    rig.board._wot_attach(
        lambda kind, name, value: positions.append(value) if name == "position" else None
    )
    invocation = servient.invoke_action("stage", "move_relative", {"x": 20000})
    await until(lambda: rig.simulator.position[0] >= 100)
    servient.invocations.cancel_or_remove(invocation.id)
    assert await servient.invocations.wait(invocation, 15)  # the move would take 20 s
    assert invocation.status == "failed"
    assert invocation.error is not None and "cancel" in invocation.error["type"]
    assert isinstance(invocation.exception, wl.InvocationCancelled)
    # The record ends at the cancel; the worker thread finishes its cleanup just after.
    await until(lambda: any("stopped at" in entry["message"] for entry in invocation.log), 10)
    assert not rig.simulator.moving
    stopped_at = rig.simulator.position
    assert 100 <= stopped_at[0] < 20000
    assert rig.simulator.commands.count("stop") == 1  # the hook's, not one more
    assert positions[-1] == stopped_at  # the position after the stop was published
    assert await servient.read_property("stage", "position") == stopped_at
    assert await servient.read_property("stage", "moving") is False


async def test_the_stop_action_ends_a_move_run_from_another_client(
    rig: Rig, servient: wl.Servient
) -> None:
    move = servient.invoke_action("stage", "move_relative", {"y": -20000})
    await until(lambda: rig.simulator.position[1] <= -50)
    stop = servient.invoke_action("stage", "stop", None)
    assert await servient.invocations.wait(stop, 5)
    assert stop.status == "completed", stop.error
    assert await servient.invocations.wait(move, 5)
    assert move.status == "completed", move.error
    assert move.output == stop.output == rig.simulator.position


def test_reads_during_a_move_never_interleave(rig: Rig) -> None:
    results: list[list[int]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def mover() -> None:
        try:
            rig.board.move_relative(600, 0, -600)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            done.set()

    def reader() -> None:
        mine: list[list[int]] = []
        try:
            while not done.is_set():
                mine.append(rig.board.position)
                assert isinstance(rig.board.moving, bool)
        except BaseException as exc:
            errors.append(exc)
        results.extend(mine)
        for earlier, later in itertools.pairwise(mine):
            if later[0] < earlier[0]:
                errors.append(AssertionError(f"position went back: {earlier} -> {later}"))

    threads = [threading.Thread(target=mover)]
    threads += [threading.Thread(target=reader) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len(results) > 50
    for x, y, z in results:  # every reply parsed as three integers of this very move
        assert 0 <= x <= 600 and y == 0 and z == -x
    assert any(0 < x < 600 for x, _, _ in results)  # read while it moved
    assert rig.simulator.position == [600, 0, -600]


async def test_a_vanished_board_fails_the_move_and_reconnects_after_replug(
    rig: Rig, servient: wl.Servient
) -> None:
    invocation = servient.invoke_action("stage", "move_relative", {"z": 20000})
    await until(lambda: rig.simulator.position[2] >= 50)
    rig.endpoint.stop()  # unplugged mid-move: the motors lose power too
    rig.simulator.handle("stop", lambda line: None)
    assert await servient.invocations.wait(invocation, 10)
    assert invocation.status == "failed"
    assert isinstance(invocation.exception, wl.DisconnectedError)
    assert invocation.error is not None and "disconnected" in invocation.error["type"]
    with pytest.raises(wl.DisconnectedError):
        await servient.read_property("stage", "position")

    rig.endpoint.restart()  # plugged back in, same device path
    position: list[int] | None = None
    deadline = time.monotonic() + 10
    while position is None:
        try:
            position = await servient.read_property("stage", "position")
        except wl.DisconnectedError:  # still backing off from the failed attempts
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    assert position == rig.simulator.position
    assert rig.simulator.commands.count("blocking_moves false") == 2  # set up again
    rig.simulator.blocking_moves = True  # as if the board had rebooted
    rig.board.close()
    again = servient.invoke_action("stage", "move_relative", {"z": -10})
    assert await servient.invocations.wait(again, 10)
    assert again.status == "completed", again.error
    assert rig.simulator.commands.count("blocking_moves false") == 3


async def test_over_http(rig: Rig, serve: Callable[..., Any]) -> None:
    async with serve([rig.board]) as (_, client):
        created = await client.post("/things/stage/actions/move_relative", json={"x": 100})
        assert created.status_code == 201
        record = created.json()
        assert record["status"] == "completed", record
        assert record["output"] == [100, 0, 0]
        assert (await client.get("/things/stage/properties/position")).json() == [100, 0, 0]
        written = await client.put("/things/stage/properties/step_delay", json=2000)
        assert written.status_code == 204
        assert rig.simulator.step_delay_us == 2000
        refused = await client.put("/things/stage/properties/step_delay", json=0)
        assert refused.status_code == 400  # below the board's 1 µs minimum: never sent
        assert "dt 0" not in rig.simulator.commands


@pytest.mark.hardware("sangaboard")
def test_a_real_board(hardware_port: str) -> None:
    """``pytest --hardware sangaboard=/dev/ttyACM0``: small moves there and back."""
    board = Sangaboard(hardware_port, timeout=2.0)
    try:
        assert board.firmware_version.startswith("Sangaboard Firmware v1")
        start = board.position
        assert board.moving is False
        assert board.move_relative(50, -50, 20) == [start[0] + 50, start[1] - 50, start[2] + 20]
        assert board.move_absolute(*start) == start
        assert board.step_delay >= 1
    finally:
        board.close()


async def test_step_counts_stay_within_the_firmware_range(rig: Rig, servient: wl.Servient) -> None:
    with pytest.raises(wl.InputError, match="/x"):
        servient.invoke_action("stage", "move_relative", {"x": 2**31})
    with pytest.raises(wl.InputError, match="/z"):
        rig.board.move_absolute(0, 0, -(2**31) - 1)
    # within the range as an argument, beyond it as a destination: refused before "mr"
    with pytest.raises(wl.InputError, match="32-bit step range"):
        rig.board._move([2**31 - 1, 0, 0], start=[10, 0, 0])
    assert await servient.read_property("stage", "position") == [0, 0, 0]
