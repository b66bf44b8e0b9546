"""SerialThing: the transport, its arguments, the reconnect setup and the lifecycle."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import pytest

import wot_labthing as wl
from wot_labthing.testing import ScriptedTransport


class Meter(wl.SerialThing):
    """A meter that must be told to talk before it answers."""

    baudrate = 19200
    serial_options: ClassVar[dict[str, Any]] = {"stopbits": 2, "write_terminator": "\r\n"}

    def on_connect(self, transport: wl.SerialTransport) -> None:
        transport.write("REMOTE")

    @wl.property
    def reading(self) -> float:
        """One reading."""
        return float(self.transport.query("READ?"))


def test_line_settings_come_from_the_class_and_the_arguments() -> None:
    meter = Meter("loop://")
    assert meter.transport.settings["baudrate"] == 19200
    assert meter.transport.settings["stopbits"] == 2
    assert meter.transport.write_terminator == b"\r\n"
    other = Meter("loop://", baudrate=1200, parity="E", bytesize=7, stopbits=1, timeout=3)
    settings = other.transport.settings
    assert (settings["baudrate"], settings["parity"], settings["bytesize"]) == (1200, "E", 7)
    assert settings["stopbits"] == 1 and other.transport.timeout == 3


def test_usb_ids_name_the_transport() -> None:
    meter = Meter(vid=0x0403, pid=0x6001, serial_number="A1")
    assert meter.transport.name == "usb 0403:6001 serial A1"


def test_no_port_at_all_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="Meter needs a port"):
        Meter()


def test_on_connect_runs_after_every_reopen_and_chains_a_given_hook() -> None:
    calls: list[str] = []
    script = [("REMOTE", None), ("READ?", "1.5"), ("REMOTE", None), ("READ?", "2.5")]
    with ScriptedTransport(script, on_connect=lambda _: calls.append("given")) as transport:
        meter = Meter(transport=transport)
        meter.open()
        assert meter.reading == 1.5
        meter.close()
        meter.close()  # idempotent
        assert not transport.is_open
        assert meter.reading == 2.5  # the next use reopens and sets up again
    assert calls == ["given", "given"]


def test_open_without_the_instrument_logs_and_does_not_raise(
    caplog: pytest.LogCaptureFixture, tmp_path: Any
) -> None:
    meter = Meter(str(tmp_path / "no-such-tty"), name="meter")
    with caplog.at_level(logging.WARNING):
        meter.open()
    assert "Meter on" in caplog.text and "not available yet" in caplog.text
    with pytest.raises(wl.DisconnectedError):
        meter.reading  # noqa: B018
    meter.close()


def test_the_shipped_drivers_use_it() -> None:
    from things.keysight.dmm34401a import Keysight34401A
    from things.openflexure.sangaboard import Sangaboard
    from things.scpi import ScpiInstrument

    for driver in (Sangaboard, ScpiInstrument, Keysight34401A):
        assert issubclass(driver, wl.SerialThing)
    assert "close" not in vars(Sangaboard) and "close" not in vars(ScpiInstrument)


def test_a_serial_driver_model_extends_no_library_class() -> None:
    from things.openflexure.sangaboard import Sangaboard
    from wot_labthing._tm import model_base

    assert model_base(Sangaboard) is None
    assert model_base(Meter) is None
