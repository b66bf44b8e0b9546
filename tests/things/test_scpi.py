"""ScpiInstrument against scripted command/reply pairs: every pair must be consumed."""

from __future__ import annotations

import logging

import pytest

import wot_labthing as wl
from things.scpi import ScpiError, ScpiInstrument, parse_error
from wot_labthing.testing import ScriptedTransport

NO_ERROR = '+0,"No error"'
CONNECT = [("*CLS", None)]


def test_parse_error() -> None:
    assert parse_error('-113,"Undefined header"') == (-113, "Undefined header")
    assert parse_error('+0,"No error"') == (0, "No error")
    assert parse_error("+1.00000000E+00") is None


def test_identity_after_connect_commands() -> None:
    script = [*CONNECT, ("*IDN?", "HEWLETT-PACKARD,34401A,0,11-5-2")]
    with ScriptedTransport(script) as transport:
        instrument = ScpiInstrument(transport=transport)
        assert instrument.identity == {
            "manufacturer": "HEWLETT-PACKARD",
            "model": "34401A",
            "serial": "0",
            "firmware": "11-5-2",
        }


def test_malformed_identity_is_an_instrument_error() -> None:
    with ScriptedTransport([*CONNECT, ("*IDN?", "hello")]) as transport:
        instrument = ScpiInstrument(transport=transport)
        with pytest.raises(wl.InstrumentError, match="four comma-separated fields"):
            _ = instrument.identity


def test_setting_reads_the_error_queue() -> None:
    script = [*CONNECT, ("VOLT:DC:NPLC 1", None), ("SYST:ERR?", NO_ERROR)]
    with ScriptedTransport(script) as transport:
        ScpiInstrument(transport=transport).write("VOLT:DC:NPLC 1")


def test_rejected_setting_raises_with_code_and_message() -> None:
    script = [
        *CONNECT,
        ("VOLT:DC:RANG 2000", None),
        ("SYST:ERR?", '-222,"Data out of range"'),
        ("SYST:ERR?", '-113,"Undefined header"'),
        ("SYST:ERR?", NO_ERROR),
    ]
    with ScriptedTransport(script) as transport:
        instrument = ScpiInstrument(transport=transport)
        with pytest.raises(ScpiError) as caught:
            instrument.write("VOLT:DC:RANG 2000")
    error = caught.value
    assert isinstance(error, wl.InstrumentError)
    assert (error.code, error.error_message) == (-222, "Data out of range")
    assert error.errors == [(-222, "Data out of range"), (-113, "Undefined header")]
    assert error.command == "VOLT:DC:RANG 2000"
    assert "-222 Data out of range" in str(error) and "VOLT:DC:RANG 2000" in str(error)


def test_unanswered_query_reports_the_instruments_error() -> None:
    script = [*CONNECT, ("BOGUS?", None), ("SYST:ERR?", '-113,"Undefined header"')]
    script.append(("SYST:ERR?", NO_ERROR))
    with ScriptedTransport(script) as transport:
        instrument = ScpiInstrument(transport=transport)
        with pytest.raises(ScpiError, match="-113 Undefined header") as caught:
            instrument.query("BOGUS?")
    assert isinstance(caught.value.__cause__, wl.InstrumentTimeoutError)


def test_silent_instrument_is_a_timeout_naming_the_query() -> None:
    with ScriptedTransport([*CONNECT, ("*IDN?", None), ("SYST:ERR?", None)]) as transport:
        instrument = ScpiInstrument(transport=transport)
        with pytest.raises(wl.InstrumentTimeoutError) as caught:
            instrument.query("*IDN?")
    assert caught.value.command == "*IDN?"


def test_garbage_in_the_error_queue_is_an_instrument_error() -> None:
    script = [*CONNECT, ("*CLS", None), ("SYST:ERR?", "+1.23456780E+00")]
    with ScriptedTransport(script) as transport:
        instrument = ScpiInstrument(transport=transport)
        with pytest.raises(wl.InstrumentError, match="unexpected reply to 'SYST:ERR\\?'"):
            instrument.write("*CLS")


def test_query_float_rejects_text() -> None:
    with ScriptedTransport([*CONNECT, ("VOLT:DC:RANG?", "ten")]) as transport:
        instrument = ScpiInstrument(transport=transport)
        with pytest.raises(wl.InstrumentError, match="expected a number"):
            instrument.query_float("VOLT:DC:RANG?")


def test_reset_waits_for_operation_complete() -> None:
    script = [*CONNECT, ("*RST", None), ("SYST:ERR?", NO_ERROR), ("*OPC?", "1")]
    with ScriptedTransport(script) as transport:
        ScpiInstrument(transport=transport).reset()


def test_unexpected_opc_reply() -> None:
    with ScriptedTransport([*CONNECT, ("*OPC?", "0")]) as transport:
        with pytest.raises(wl.InstrumentError, match=r"\*OPC\?"):
            ScpiInstrument(transport=transport).wait_until_complete()


def test_clear_status_sends_cls() -> None:
    with ScriptedTransport([*CONNECT, ("*CLS", None)]) as transport:
        ScpiInstrument(transport=transport).clear_status()


def test_a_transports_own_on_connect_runs_first() -> None:
    calls: list[str] = []

    def mine(transport: wl.SerialTransport) -> None:
        calls.append("mine")
        transport.write("SYST:BEEP")

    script = [("SYST:BEEP", None), *CONNECT, ("*OPC?", "1")]
    with ScriptedTransport(script, on_connect=mine) as transport:
        ScpiInstrument(transport=transport).wait_until_complete()
    assert calls == ["mine"]


def test_open_is_lenient_when_the_device_is_absent(caplog: pytest.LogCaptureFixture) -> None:
    instrument = ScpiInstrument("/dev/does-not-exist-34401a")
    with caplog.at_level(logging.WARNING, logger="things.scpi"):
        instrument.open()
    assert "not available yet" in caplog.text
    instrument.close()
    instrument.close()  # idempotent


def test_open_logs_a_model_mismatch(caplog: pytest.LogCaptureFixture) -> None:
    class Expecting(ScpiInstrument):
        """Expects a 34401A."""

        expected_model = "34401A"

    script = [*CONNECT, ("*IDN?", "Keithley Instruments,2000,123,A01")]
    with ScriptedTransport(script) as transport:
        with caplog.at_level(logging.WARNING, logger="things.scpi"):
            Expecting(transport=transport).open()
    assert "expected a 34401A" in caplog.text


def test_needs_a_port() -> None:
    with pytest.raises(TypeError, match="needs a port"):
        ScpiInstrument()
