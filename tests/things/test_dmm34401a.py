# Assigning a wl.property from Python is a descriptor write, which mypy takes for a method.
# mypy: disable-error-code="method-assign,no-any-return"
"""The 34401A driver against scripted command/reply pairs: every pair must be consumed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import wot_labthing as wl
from things.keysight.dmm34401a import Keysight34401A
from things.scpi import ScpiError
from wot_labthing._http.forms import thing_description
from wot_labthing.testing import ScriptedTransport

NO_ERROR = '+0,"No error"'
CONNECT: list[tuple[str, str | None]] = [
    ("SYST:REM", None),
    ("TRIG:SOUR IMM", None),
    ("TRIG:COUN 1", None),
    ("SAMP:COUN 1", None),
    ("*CLS", None),
]


def meter(transport: ScriptedTransport) -> Keysight34401A:
    return Keysight34401A(transport=transport)


def test_td_is_valid(assert_valid_td: Callable[[dict[str, Any]], None]) -> None:
    td = thing_description(Keysight34401A("loop://"), "http://localhost:8080/")
    assert_valid_td(td)
    assert set(td["properties"]) == {
        "identity",
        "function",
        "range",
        "autorange",
        "nplc",
        "reading",
    }
    assert set(td["actions"]) == {"take_readings", "reset", "clear_status"}
    assert td["properties"]["reading"]["readOnly"] is True
    assert td["properties"]["nplc"]["enum"] == [0.02, 0.2, 1.0, 10.0, 100.0, None]


def test_serial_settings_follow_the_manual() -> None:
    default = Keysight34401A("loop://").transport.settings
    assert (default["baudrate"], default["bytesize"], default["parity"]) == (9600, 8, "N")
    assert default["stopbits"] == 2
    seven_even = Keysight34401A("loop://", parity="E", baudrate=1200).transport.settings
    assert (seven_even["baudrate"], seven_even["bytesize"], seven_even["parity"]) == (1200, 7, "E")


def test_connecting_puts_the_meter_in_remote_first() -> None:
    with ScriptedTransport([*CONNECT, ("*IDN?", "HEWLETT-PACKARD,34401A,0,11-5-2")]) as t:
        assert meter(t).identity["model"] == "34401A"


@pytest.mark.parametrize(
    ("reply", "function"),
    [('"VOLT"', "VOLT:DC"), ('"VOLT:AC"', "VOLT:AC"), ('"CURR"', "CURR:DC"), ('"FRES"', "FRES")],
)
def test_function_read(reply: str, function: str) -> None:
    with ScriptedTransport([*CONNECT, ("FUNC?", reply)]) as transport:
        assert meter(transport).function == function


def test_unsupported_function_is_explained() -> None:
    with ScriptedTransport([*CONNECT, ("FUNC?", '"FREQ"')]) as transport:
        with pytest.raises(wl.InstrumentError, match="'FREQ', which this driver does not"):
            _ = meter(transport).function


def test_function_write_checks_errors() -> None:
    script = [*CONNECT, ('FUNC "CURR:DC"', None), ("SYST:ERR?", NO_ERROR)]
    with ScriptedTransport(script) as transport:
        meter(transport).function = "CURR:DC"


def test_range_reads_auto_or_the_fixed_range() -> None:
    script = [
        *CONNECT,
        ("FUNC?", '"VOLT"'),
        ("VOLT:DC:RANG:AUTO?", "1"),
        ("FUNC?", '"RES"'),
        ("RES:RANG:AUTO?", "0"),
        ("RES:RANG?", "+1.00000000E+04"),
    ]
    with ScriptedTransport(script) as transport:
        dmm = meter(transport)
        # two reads, each its own query (a local each: mypy would narrow dmm.range)
        first = dmm.range
        assert first == "AUTO"
        second = dmm.range
        assert second == 1e4


def test_range_writes() -> None:
    script = [
        *CONNECT,
        ("FUNC?", '"VOLT"'),
        ("VOLT:DC:RANG 10", None),
        ("SYST:ERR?", NO_ERROR),
        ("FUNC?", '"CURR:AC"'),
        ("CURR:AC:RANG:AUTO ON", None),
        ("SYST:ERR?", NO_ERROR),
    ]
    with ScriptedTransport(script) as transport:
        dmm = meter(transport)
        dmm.range = 10.0
        dmm.range = "AUTO"


def test_out_of_range_is_the_meters_error() -> None:
    script = [
        *CONNECT,
        ("FUNC?", '"VOLT"'),
        ("VOLT:DC:RANG 0.5", None),
        ("SYST:ERR?", '-222,"Data out of range"'),
        ("SYST:ERR?", NO_ERROR),
    ]
    with ScriptedTransport(script) as transport:
        with pytest.raises(ScpiError, match="-222 Data out of range") as caught:
            meter(transport).range = 0.5
    assert caught.value.code == -222


def test_range_limits_hold_before_anything_is_sent() -> None:
    # The TD bounds a range to (0, 1e8]; above the present function's largest
    # range the driver refuses it without a word to the meter.
    with ScriptedTransport([*CONNECT, ("FUNC?", '"CURR"')]) as transport:
        dmm = meter(transport)
        with pytest.raises(wl.InputError, match=r"largest CURR:DC range \(3 A\)"):
            dmm.range = 10.0
        with pytest.raises(wl.InputError, match="'range'"):
            dmm.range = 1e300
        with pytest.raises(wl.InputError, match="'range'"):
            dmm.range = "auto"  # type: ignore[assignment]
        with pytest.raises(wl.InputError, match="'range'"):
            dmm.range = float("nan")


def test_null_nplc_is_the_default_or_nothing() -> None:
    script = [
        *CONNECT,
        ("FUNC?", '"VOLT"'),
        ("VOLT:DC:NPLC 10", None),
        ("SYST:ERR?", NO_ERROR),
        ("FUNC?", '"VOLT:AC"'),
    ]
    with ScriptedTransport(script) as transport:
        dmm = meter(transport)
        dmm.nplc = None
        dmm.nplc = None


def test_autorange() -> None:
    script = [
        *CONNECT,
        ("FUNC?", '"CURR"'),
        ("CURR:DC:RANG:AUTO?", "0"),
        ("FUNC?", '"CURR"'),
        ("CURR:DC:RANG:AUTO ON", None),
        ("SYST:ERR?", NO_ERROR),
    ]
    with ScriptedTransport(script) as transport:
        dmm = meter(transport)
        assert dmm.autorange is False
        dmm.autorange = True


def test_nplc_read_and_write() -> None:
    script = [
        *CONNECT,
        ("FUNC?", '"VOLT"'),
        ("VOLT:DC:NPLC?", "+1.00000000E+01"),
        ("FUNC?", '"RES"'),
        ("RES:NPLC 0.2", None),
        ("SYST:ERR?", NO_ERROR),
        ("FUNC?", '"VOLT:AC"'),
    ]
    with ScriptedTransport(script) as transport:
        dmm = meter(transport)
        assert dmm.nplc == 10.0
        dmm.nplc = 0.2
        assert dmm.nplc is None  # AC functions have no integration time


def test_nplc_refused_before_sending() -> None:
    with ScriptedTransport([*CONNECT, ("FUNC?", '"VOLT:AC"')]) as transport:
        dmm = meter(transport)
        with pytest.raises(wl.InputError, match=r"'nplc'.*is not one of"):
            dmm.nplc = 5.0
        with pytest.raises(wl.InputError, match="the function is VOLT:AC"):
            dmm.nplc = 1.0


def test_reading() -> None:
    script = [
        *CONNECT,
        ("FUNC?", '"VOLT"'),
        ("VOLT:DC:NPLC?", "+1.00000000E+00"),
        ("READ?", "+1.23456780E+00"),
    ]
    with ScriptedTransport(script) as transport:
        assert meter(transport).reading == pytest.approx(1.2345678)


def test_garbage_reading_is_an_instrument_error() -> None:
    script = [*CONNECT, ("FUNC?", '"VOLT"'), ("VOLT:DC:NPLC?", "+1.0E+00"), ("READ?", "+1.2,+1.3")]
    with ScriptedTransport(script) as transport:
        with pytest.raises(wl.InstrumentError, match="expected a number in reply to 'READ\\?'"):
            _ = meter(transport).reading


def test_take_readings_outside_a_servient() -> None:
    readings = ["+1.00000000E+00", "+2.00000000E+00", "+3.00000000E+00"]
    script = [*CONNECT, ("FUNC?", '"VOLT"'), ("VOLT:DC:NPLC?", "+2.00000000E-02")]
    script += [("READ?", value) for value in readings]
    with ScriptedTransport(script) as transport:
        assert meter(transport).take_readings(3) == [1.0, 2.0, 3.0]


async def test_take_readings_through_a_servient() -> None:
    script = [*CONNECT, ("*IDN?", "HEWLETT-PACKARD,34401A,0,11-5-2")]  # open() identifies
    script += [("FUNC?", '"RES"'), ("RES:NPLC?", "+2.00000000E-02")]
    script += [("READ?", f"+{index}.00000000E+03") for index in range(1, 5)]
    with ScriptedTransport(script) as transport:
        dmm = Keysight34401A(transport=transport, name="dmm")
        async with wl.Servient([dmm]) as servient:
            run = servient.invoke_action("dmm", "take_readings", {"count": 4})
            assert await servient.invocations.wait(run, 10)
            record = run.as_record()
    assert record["status"] == "completed", record["error"]
    assert record["output"] == [1000.0, 2000.0, 3000.0, 4000.0]
    assert record["data"] == record["output"]
    assert record["progress"] == 100


def test_reset_then_opc() -> None:
    script = [*CONNECT, ("*RST", None), ("SYST:ERR?", NO_ERROR), ("*OPC?", "1")]
    with ScriptedTransport(script) as transport:
        meter(transport).reset()
