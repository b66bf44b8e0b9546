# Assigning a wl.property from Python is a descriptor write, which mypy takes for a method.
# mypy: disable-error-code="method-assign,no-any-return"
"""The real 34401A driver against the simulator at the far end of a real pseudo-terminal.

Waits poll a condition with a deadline; nothing sleeps for a fixed time to let
something happen.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import pytest

import wot_labthing as wl
from things.keysight.dmm34401a import Keysight34401A
from things.scpi import ScpiError
from things.simulators.dmm34401a import Dmm34401aSimulator
from wot_labthing import LineSimulator, SimulatorEndpoint
from wot_labthing._line_simulator import Reply

from ..waiting import DEADLINE


@dataclass
class Rig:
    """A simulated meter on a pty, and the driver connected to it."""

    simulator: Dmm34401aSimulator
    endpoint: SimulatorEndpoint
    dmm: Keysight34401A


@pytest.fixture
def rig() -> Iterator[Rig]:
    simulator = Dmm34401aSimulator(seed=7)
    endpoint = SimulatorEndpoint(simulator, kind="pty")
    url = endpoint.start()
    dmm = Keysight34401A(url, name="dmm", timeout=2.0)
    dmm.transport.reconnect_min = 0.05
    dmm.transport.reconnect_max = 0.2
    try:
        yield Rig(simulator, endpoint, dmm)
    finally:
        dmm.close()
        endpoint.close()


@pytest.fixture
async def servient(rig: Rig) -> AsyncIterator[wl.Servient]:
    async with wl.Servient([rig.dmm]) as running:
        yield running


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait (without blocking the loop) until ``condition()`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def test_settings_round_trip(rig: Rig) -> None:
    dmm = rig.dmm
    assert dmm.identity == {
        "manufacturer": "HEWLETT-PACKARD",
        "model": "34401A",
        "serial": "0",
        "firmware": "11-5-2",
    }
    assert rig.simulator.remote is True  # SYST:REM went first
    assert rig.simulator.received[0] == "SYST:REM"
    assert dmm.function == "VOLT:DC"
    assert dmm.range == "AUTO" and dmm.autorange is True
    dmm.range = 5.0
    assert dmm.range == 10.0 and dmm.autorange is False
    dmm.nplc = 0.2
    assert dmm.nplc == 0.2
    assert dmm.reading == pytest.approx(1.2345678, abs=1e-3)
    dmm.function = "RES"
    assert dmm.function == "RES"
    assert rig.simulator.settings.function == "RES"
    dmm.autorange = True
    assert dmm.range == "AUTO"
    dmm.range = 100.0
    assert dmm.range == 100.0
    assert dmm.reading == 9.9e37  # 1 kΩ on the 100 Ω range: overload
    dmm.function = "VOLT:AC"
    assert dmm.nplc is None


def test_refused_setting_carries_the_meters_error(rig: Rig) -> None:
    with pytest.raises(wl.InputError, match="largest VOLT:DC range"):
        rig.dmm.range = 2000.0  # the driver knows the limit: nothing is sent
    with pytest.raises(ScpiError) as caught:
        rig.dmm.write("VOLT:DC:RANG 2000")
    assert (caught.value.code, caught.value.error_message) == (-222, "Data out of range")
    assert caught.value.port == rig.endpoint.url
    assert list(rig.simulator.errors) == []  # the driver emptied the queue
    assert rig.dmm.range == "AUTO"  # nothing changed, and the link still works


def test_unknown_query_reports_undefined_header(rig: Rig) -> None:
    rig.dmm.transport.timeout = 0.3
    with pytest.raises(ScpiError, match="-113 Undefined header"):
        rig.dmm.query("CALC:AVER:AVER?")


async def test_take_readings_with_progress(rig: Rig, servient: wl.Servient) -> None:
    rig.dmm.nplc = 1.0  # about 43 ms a reading
    run = servient.invoke_action("dmm", "take_readings", {"count": 5, "interval": 0.05})
    progress: list[int] = []
    while not run.is_finished:
        if run.progress is not None and (not progress or progress[-1] != run.progress):
            progress.append(run.progress)
        await asyncio.sleep(0.002)
    assert run.status == "completed", run.error
    assert len(run.output) == 5
    assert all(value == pytest.approx(1.2345678, abs=1e-3) for value in run.output)
    assert progress == sorted(progress) and len(progress) >= 2
    assert run.as_record()["progress"] == 100
    assert rig.simulator.received.count("READ?") == 5


async def test_cancel_take_readings_midway(rig: Rig, servient: wl.Servient) -> None:
    # 10 PLC at 50 Hz with autozero: about 0.4 s a reading, 20 s for all 50.
    run = servient.invoke_action("dmm", "take_readings", {"count": 50})
    await until(lambda: (run.progress or 0) >= 4)
    servient.invocations.cancel_or_remove(run.id)
    await until(lambda: run.is_finished)
    assert run.status == "failed"
    assert run.error is not None and run.error["type"].endswith(":cancelled")
    assert rig.simulator.received.count("READ?") < 50
    # The meter is still usable, and no late reply is mistaken for an answer.
    assert rig.dmm.identity["model"] == "34401A"


class Silent(LineSimulator):
    """A meter that is switched off: it never answers."""

    name = "silent"

    def handle(self, line: str, reply: Reply) -> None:
        pass


class Garbage(LineSimulator):
    """A meter at the wrong baud rate: every reply is noise."""

    name = "garbage"
    encoding = "latin-1"

    def handle(self, line: str, reply: Reply) -> None:
        if line.endswith("?"):
            reply("\xfe\x9c\xff")


class Wrong(LineSimulator):
    """Another instrument on the port: it answers in its own language."""

    name = "wrong"

    def handle(self, line: str, reply: Reply) -> None:
        if line.endswith("?"):
            reply("OK")


def test_silent_meter_times_out_naming_the_command() -> None:
    with SimulatorEndpoint(Silent(), kind="pty") as endpoint:
        dmm = Keysight34401A(endpoint.url, timeout=0.3)
        with pytest.raises(wl.InstrumentTimeoutError) as caught:  # not a hang
            _ = dmm.reading
        assert caught.value.command == "FUNC?"
        assert "no complete reply to 'FUNC?'" in str(caught.value)
        dmm.open()  # lenient: logs a warning, raises nothing
        dmm.close()


def test_garbage_replies_are_instrument_errors() -> None:
    # These simulators do reply: a reply timeout as long as any wait here, so a busy
    # machine delaying the simulator's thread cannot turn a bad reply into a timeout.
    with SimulatorEndpoint(Garbage(), kind="pty") as endpoint:
        dmm = Keysight34401A(endpoint.url, timeout=DEADLINE)
        with pytest.raises(wl.InstrumentError, match="garbled reply"):
            _ = dmm.identity
        dmm.close()
    with SimulatorEndpoint(Wrong(), kind="pty") as endpoint:
        dmm = Keysight34401A(endpoint.url, timeout=DEADLINE)
        with pytest.raises(wl.InstrumentError, match="four comma-separated fields"):
            _ = dmm.identity
        with pytest.raises(wl.InstrumentError, match="unexpected reply to 'SYST:ERR\\?'"):
            dmm.function = "RES"
        dmm.close()


async def test_unplugged_mid_action_then_reconnects(rig: Rig, servient: wl.Servient) -> None:
    run = servient.invoke_action("dmm", "take_readings", {"count": 50})
    await until(lambda: (run.progress or 0) >= 2)
    await asyncio.to_thread(rig.endpoint.stop)
    await until(lambda: run.is_finished)
    assert run.status == "failed"
    assert run.error is not None and run.error["type"].endswith(":disconnected"), run.error
    assert "port" not in run.error and rig.endpoint.url not in run.error["detail"]  # no leaks
    await asyncio.to_thread(rig.endpoint.restart)
    remote_before = rig.simulator.received.count("SYST:REM")

    def read_when_back() -> str:
        deadline = time.monotonic() + 5
        while True:
            try:
                return rig.dmm.function
            except wl.DisconnectedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # the transport backs off between reconnection attempts

    assert await asyncio.to_thread(read_when_back) == "VOLT:DC"
    assert rig.simulator.received.count("SYST:REM") == remote_before + 1


@pytest.mark.hardware("34401a")
def test_a_real_meter(hardware_port: str) -> None:
    """``pytest --hardware 34401a=/dev/ttyUSB0``: identity, a setting round trip, readings."""
    meter = Keysight34401A(hardware_port, timeout=3.0)
    try:
        assert meter.identity["model"] == "34401A"
        meter.function = "VOLT:DC"
        meter.nplc = 1
        assert meter.function == "VOLT:DC" and meter.nplc == 1
        assert isinstance(meter.reading, float)
        assert len(meter.take_readings(3)) == 3
    finally:
        meter.close()
