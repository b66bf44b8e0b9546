"""The 34401A simulator's protocol, driven through handle() with a reply collector."""

from __future__ import annotations

import queue
import time

import pytest

import wot_labthing as wl
from things.simulators.dmm34401a import IDN, QUEUE_LENGTH, Dmm34401aSimulator
from wot_labthing._plugins import SIMULATORS_GROUP, load_class


class Replies:
    """Collects replies, which READ? sends later from a timer thread."""

    def __init__(self) -> None:
        self.lines: queue.Queue[str] = queue.Queue()

    def __call__(self, text: str) -> None:
        self.lines.put(text)

    def next(self, timeout: float = 2.0) -> str:
        return self.lines.get(timeout=timeout)

    def none_pending(self) -> bool:
        return self.lines.empty()


@pytest.fixture
def sim() -> Dmm34401aSimulator:
    return Dmm34401aSimulator(seed=1, time_scale=20)


def ask(sim: Dmm34401aSimulator, line: str) -> str:
    replies = Replies()
    sim.handle(line, replies)
    return replies.next()


def tell(sim: Dmm34401aSimulator, line: str) -> None:
    replies = Replies()
    sim.handle(line, replies)
    assert replies.none_pending(), f"{line!r} should have no reply"


def test_registered_under_its_name() -> None:
    assert (
        load_class("34401a", group=SIMULATORS_GROUP, base=wl.LineSimulator, directory=None)
        is Dmm34401aSimulator
    )
    assert Dmm34401aSimulator.write_terminator == b"\r\n"  # RS-232 replies end in CR LF


def test_identity_and_common_commands(sim: Dmm34401aSimulator) -> None:
    assert ask(sim, "*IDN?") == IDN == "HEWLETT-PACKARD,34401A,0,11-5-2"
    assert ask(sim, "*OPC?") == "1"
    assert ask(sim, "SYST:ERR?") == '+0,"No error"'
    assert ask(sim, "SYSTem:VERSion?") == "1992.0"


def test_remote_state(sim: Dmm34401aSimulator) -> None:
    assert sim.remote is False
    tell(sim, "SYST:REM")
    assert sim.remote is True
    tell(sim, "syst:loc")
    assert sim.remote is False


def test_error_queue_order_and_clear(sim: Dmm34401aSimulator) -> None:
    tell(sim, "BOGUS")
    tell(sim, "VOLT:DC:RANG 5000")
    assert ask(sim, "SYST:ERR?") == '-113,"Undefined header"'
    assert ask(sim, "SYST:ERR?") == '-222,"Data out of range"'
    assert ask(sim, "SYST:ERR?") == '+0,"No error"'
    tell(sim, "BOGUS")
    tell(sim, "*CLS")
    assert ask(sim, "SYST:ERR?") == '+0,"No error"'


def test_parameter_errors(sim: Dmm34401aSimulator) -> None:
    tell(sim, "*RST 1")
    tell(sim, "VOLT:DC:NPLC")
    tell(sim, "VOLT:DC:NPLC fast")
    tell(sim, 'FUNC "TEMP"')
    codes = [ask(sim, "SYST:ERR?").split(",")[0] for _ in range(5)]
    assert codes == ["-108", "-109", "-141", "-224", "+0"]


def test_queue_overflow_keeps_too_many_errors_last(sim: Dmm34401aSimulator) -> None:
    for _ in range(QUEUE_LENGTH + 5):
        tell(sim, "BOGUS")
    replies = [ask(sim, "SYST:ERR?") for _ in range(QUEUE_LENGTH + 1)]
    assert replies[QUEUE_LENGTH - 2] == '-113,"Undefined header"'
    assert replies[QUEUE_LENGTH - 1] == '-350,"Too many errors"'
    assert replies[QUEUE_LENGTH] == '+0,"No error"'


def test_function_short_and_long_forms(sim: Dmm34401aSimulator) -> None:
    assert ask(sim, "FUNC?") == '"VOLT"'  # DC volts answers its short form
    tell(sim, 'FUNCtion "CURRent:AC"')
    assert ask(sim, "sense:function?") == '"CURR:AC"'
    tell(sim, "CONF:FRES")
    assert ask(sim, "FUNC?") == '"FRES"'
    tell(sim, "FUNC 'VOLT:DC'")
    assert ask(sim, "FUNC?") == '"VOLT"'


def test_range_selects_the_next_range_up(sim: Dmm34401aSimulator) -> None:
    assert ask(sim, "VOLT:DC:RANG:AUTO?") == "1"
    tell(sim, "VOLT:DC:RANG 5")
    assert ask(sim, "VOLT:DC:RANG?") == "+1.00000000E+01"
    assert ask(sim, "VOLTage:RANGe:AUTO?") == "0"
    tell(sim, "SENS:VOLT:DC:RANG MAX")
    assert ask(sim, "VOLT:DC:RANG?") == "+1.00000000E+03"
    tell(sim, "RES:RANG:AUTO ON")
    assert ask(sim, "RES:RANG:AUTO?") == "1"
    assert ask(sim, "SYST:ERR?") == '+0,"No error"'


def test_nplc_rounds_up_and_refuses_beyond_100(sim: Dmm34401aSimulator) -> None:
    assert ask(sim, "VOLT:DC:NPLC?") == "+1.00000000E+01"  # power-on default
    tell(sim, "VOLT:DC:NPLC 5")
    assert ask(sim, "VOLT:DC:NPLC?") == "+1.00000000E+01"
    tell(sim, "VOLT:NPLC 0.02")
    assert ask(sim, "VOLT:DC:NPLCycles?") == "+2.00000000E-02"
    tell(sim, "VOLT:DC:NPLC 200")
    assert ask(sim, "SYST:ERR?") == '-222,"Data out of range"'
    tell(sim, "VOLT:AC:NPLC 1")  # AC has no integration time
    assert ask(sim, "SYST:ERR?") == '-113,"Undefined header"'


def test_compound_message(sim: Dmm34401aSimulator) -> None:
    assert ask(sim, "CONF:RES 1000;:RES:RANG?;*OPC?") == "+1.00000000E+03;1"


def test_read_format_and_value(sim: Dmm34401aSimulator) -> None:
    reading = ask(sim, "READ?")
    assert len(reading) == len("+1.23456780E+00")
    assert float(reading) == pytest.approx(1.2345678, abs=1e-4)


def test_overload_on_a_fixed_range(sim: Dmm34401aSimulator) -> None:
    tell(sim, "VOLT:DC:RANG 0.1")
    assert ask(sim, "READ?") == "+9.90000000E+37"


def test_sample_count(sim: Dmm34401aSimulator) -> None:
    tell(sim, "SAMP:COUN 3")
    assert ask(sim, "SAMP:COUN?") == "+3"
    assert len(ask(sim, "READ?").split(",")) == 3


def test_bus_trigger_deadlock(sim: Dmm34401aSimulator) -> None:
    tell(sim, "TRIG:SOUR BUS")
    tell(sim, "READ?")
    assert ask(sim, "SYST:ERR?") == '-214,"Trigger deadlock"'


def test_read_takes_the_integration_time() -> None:
    sim = Dmm34401aSimulator(line_frequency=50)
    tell(sim, "VOLT:DC:NPLC 10")
    assert sim.measuring_time() == pytest.approx(2 * 10 / 50 + 0.003)
    tell(sim, "VOLT:DC:NPLC 1")
    replies = Replies()
    started = time.monotonic()
    sim.handle("READ?", replies)
    replies.next()
    assert time.monotonic() - started >= 2 * 1 / 50
    assert Dmm34401aSimulator(line_frequency=60).measuring_time() < sim.measuring_time() * 10


def test_commands_during_a_reading_wait_for_it() -> None:
    sim = Dmm34401aSimulator(time_scale=4)  # 10 PLC at 50 Hz: 0.1 s per reading
    replies = Replies()
    sim.handle("READ?", replies)
    sim.handle("*IDN?", replies)
    assert replies.next().startswith("+1.234")
    assert replies.next() == IDN


def test_reset_restores_power_on_settings(sim: Dmm34401aSimulator) -> None:
    tell(sim, 'FUNC "RES";:VOLT:DC:NPLC 1;:SAMP:COUN 4')
    tell(sim, "*RST")
    assert ask(sim, "FUNC?;VOLT:DC:NPLC?;SAMP:COUN?") == '"VOLT";+1.00000000E+01;+1'


def test_close_drops_a_reading_in_progress() -> None:
    sim = Dmm34401aSimulator()  # 0.4 s per reading
    replies = Replies()
    sim.handle("READ?", replies)
    sim.close()
    with pytest.raises(queue.Empty):
        replies.next(timeout=0.6)
    assert ask(sim, "*OPC?") == "1"  # powered up again: answers at once


def test_inputs_option() -> None:
    sim = Dmm34401aSimulator({"RES": 4700.0}, seed=3, time_scale=20)
    tell(sim, "CONF:RES")
    assert float(ask(sim, "READ?")) == pytest.approx(4700.0, rel=1e-4)
    with pytest.raises(TypeError, match="TEMP"):
        Dmm34401aSimulator({"TEMP": 20.0})
