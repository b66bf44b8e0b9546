"""ScriptedTransport: the command/reply pairs a driver test relies on."""

from __future__ import annotations

import pytest

import wot_labthing as wl
from wot_labthing.testing import ScriptedTransport


def test_pairs_are_checked_and_consumed() -> None:
    with ScriptedTransport([("*IDN?", "ACME,1"), ("*RST", None), ("LINES?", ["a", "b"])]) as t:
        assert t.query("*IDN?") == "ACME,1"
        t.write("*RST")
        assert t.query_lines("LINES?", 2) == ["a", "b"]


def test_wrong_command_fails() -> None:
    transport = ScriptedTransport([("*IDN?", "ACME,1")])
    with pytest.raises(AssertionError, match=r"expected command '\*IDN\?', the driver sent 'ID\?'"):
        transport.query("ID?")


def test_unconsumed_pairs_fail() -> None:
    with pytest.raises(AssertionError, match="1 scripted commands never sent: '\\*RST'"):
        with ScriptedTransport([("*IDN?", "ACME,1"), ("*RST", None)]) as transport:
            transport.query("*IDN?")


def test_missing_reply_is_a_timeout() -> None:
    with ScriptedTransport([("MEAS?", None)]) as transport:
        with pytest.raises(wl.InstrumentTimeoutError, match="MEAS"):
            transport.query("MEAS?")


def test_on_connect_is_part_of_the_script() -> None:
    def setup(transport: wl.SerialTransport) -> None:
        transport.write("SYST:REM")

    with ScriptedTransport([("SYST:REM", None), ("*IDN?", "X")], on_connect=setup) as transport:
        assert transport.query("*IDN?") == "X"
