"""SerialTransport against real pseudo-terminals, TCP sockets and pyserial's loop://."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest
from serial.tools import list_ports

import wot_labthing as wl
from wot_labthing import SimulatorEndpoint, _transport

from .conftest import EchoInstrument


def test_query_round_trip(endpoint: SimulatorEndpoint) -> None:
    transport = wl.SerialTransport(endpoint.url, timeout=2)
    try:
        assert transport.query("ECHO hello") == "hello"
        assert transport.query_lines("LINES 3", 3) == ["line 0", "line 1", "line 2"]
        assert transport.is_open
    finally:
        transport.close()
    assert not transport.is_open


def test_loop_url_and_terminators() -> None:
    transport = wl.SerialTransport("loop://", write_terminator="\r\n", read_terminator="\n")
    try:
        transport.write("ping")  # loop:// hands the bytes straight back
        assert transport.read_line() == "ping"  # the \r before \n is stripped
    finally:
        transport.close()


def test_timeout_names_port_and_command(endpoint: SimulatorEndpoint) -> None:
    transport = wl.SerialTransport(endpoint.url, timeout=0.2)
    try:
        with pytest.raises(wl.InstrumentTimeoutError) as caught:  # after 0.2 s, not a hang
            transport.query("SILENT")
        assert caught.value.port == endpoint.url
        assert caught.value.command == "SILENT"
        assert "SILENT" in str(caught.value) and endpoint.url in str(caught.value)
        # A late reply to a timed-out command is never taken for the next answer.
        with pytest.raises(wl.InstrumentTimeoutError):
            transport.query("SLOW 0.4 late", timeout=0.1)
        time.sleep(0.5)  # the scenario, not a wait: the late reply comes before the next query
        assert transport.query("ECHO fresh") == "fresh"
    finally:
        transport.close()


def test_garbled_reply_is_an_instrument_error(endpoint: SimulatorEndpoint) -> None:
    transport = wl.SerialTransport(endpoint.url, timeout=1)
    try:
        with pytest.raises(wl.InstrumentError, match="garbled reply"):
            transport.query("GARBLED")
        assert transport.query("ECHO still fine") == "still fine"
    finally:
        transport.close()


def test_concurrent_queries_never_interleave(endpoint: SimulatorEndpoint) -> None:
    transport = wl.SerialTransport(endpoint.url, timeout=5)
    errors: list[str] = []

    def worker(worker_id: int) -> None:
        for count in range(40):
            text = f"w{worker_id}-{count}-" + "x" * (worker_id * 7)
            answer = transport.query(f"ECHO {text}")
            if answer != text:
                errors.append(f"sent {text!r}, got {answer!r}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        transport.close()
    assert errors == []
    assert len(endpoint.simulator.received) == 8 * 40  # type: ignore[attr-defined]


def test_two_transports_on_one_port_share_the_lock(endpoint: SimulatorEndpoint) -> None:
    first = wl.SerialTransport(endpoint.url, timeout=2)
    second = wl.SerialTransport(endpoint.url, timeout=2)
    assert first._lock is second._lock
    first.close()
    second.close()


def test_vanished_device_then_reconnect(
    endpoint: SimulatorEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = wl.SerialTransport(endpoint.url, timeout=1, reconnect_min=0.2)
    try:
        assert transport.query("ECHO before") == "before"
        endpoint.stop()
        with pytest.raises(wl.DisconnectedError) as caught:
            for _ in range(3):  # a TCP peer's close may only show on the second exchange
                transport.query("ECHO during")
        assert caught.value.port == endpoint.url
        assert not transport.is_open
        # While the device stays away, uses fail fast with a clear message: one tries to
        # reopen it, then, within the back-off (the clock held still however slow the
        # machine is), none tries the port again.
        with monkeypatch.context() as frozen:
            now = time.monotonic()
            frozen.setattr(_transport, "time", SimpleNamespace(monotonic=lambda: now))
            with pytest.raises(wl.DisconnectedError, match="cannot open"):
                transport.query("ECHO away")
            for _ in range(4):
                with pytest.raises(wl.DisconnectedError, match=r"disconnected .* retrying in"):
                    transport.query("ECHO away")
        endpoint.start()
        deadline = time.monotonic() + 10
        while True:  # the back-off lets the next attempt through after at most 5 s
            try:
                assert transport.query("ECHO after") == "after"
                break
            except wl.DisconnectedError:
                assert time.monotonic() < deadline, "never reconnected"
                time.sleep(0.1)
    finally:
        transport.close()


def test_open_missing_port_backs_off(tmp_path: pytest.TempPathFactory) -> None:
    transport = wl.SerialTransport(f"{tmp_path}/no-such-tty", reconnect_min=0.3, reconnect_max=1)
    with pytest.raises(wl.DisconnectedError, match="cannot open"):
        transport.open()
    with pytest.raises(wl.DisconnectedError, match="retrying in"):
        transport.query("ECHO x")


def test_the_retry_delay_is_never_shown_as_zero(
    tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Clock:
        now = 100.0

        @classmethod
        def monotonic(cls) -> float:
            return cls.now

    monkeypatch.setattr(_transport, "time", Clock)
    transport = wl.SerialTransport(f"{tmp_path}/no-such-tty", reconnect_min=0.3)
    with pytest.raises(wl.DisconnectedError, match="cannot open"):
        transport.open()
    Clock.now = transport._next_attempt - 0.02  # 20 ms left: one decimal would say "0.0 s"
    with pytest.raises(wl.DisconnectedError, match=r"retrying in 0\.1 s$"):
        transport.query("ECHO x")


def test_on_connect_runs_after_every_open(endpoint: SimulatorEndpoint) -> None:
    opened: list[str] = []

    def setup(transport: wl.SerialTransport) -> None:
        opened.append(transport.query("ECHO setup"))

    transport = wl.SerialTransport(endpoint.url, timeout=1, on_connect=setup, reconnect_min=0)
    try:
        assert transport.query("ECHO a") == "a"
        transport.close()
        assert transport.query("ECHO b") == "b"
    finally:
        transport.close()
    assert opened == ["setup", "setup"]


def test_find_by_usb_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    ports = [
        SimpleNamespace(device="/dev/ttyACM0", vid=0x2341, pid=0x0043, serial_number="A1"),
        SimpleNamespace(device="/dev/ttyACM1", vid=0x2341, pid=0x0043, serial_number="B2"),
        SimpleNamespace(device="/dev/ttyUSB0", vid=0x0403, pid=0x6001, serial_number="FT1"),
    ]
    monkeypatch.setattr(list_ports, "comports", lambda: ports)
    assert wl.find_serial_port(vid=0x0403, pid=0x6001) == "/dev/ttyUSB0"
    assert wl.find_serial_port(vid=0x2341, serial_number="B2") == "/dev/ttyACM1"
    with pytest.raises(wl.DisconnectedError, match="2 serial ports match"):
        wl.find_serial_port(vid=0x2341, pid=0x0043)
    with pytest.raises(wl.DisconnectedError, match="no serial port matches usb 1234:5678"):
        wl.find_serial_port(vid=0x1234, pid=0x5678)
    transport = wl.SerialTransport(vid=0x1234, pid=0x5678)
    with pytest.raises(wl.DisconnectedError, match="no serial port"):
        transport.open()


def test_found_port_follows_replugging(monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by USB ids, the port is looked up again on reconnect (another socket)."""
    with (
        SimulatorEndpoint(EchoInstrument()) as first,
        SimulatorEndpoint(EchoInstrument()) as second,
    ):
        device = {"path": first.url}
        monkeypatch.setattr(
            list_ports,
            "comports",
            lambda: [SimpleNamespace(device=device["path"], vid=1, pid=2, serial_number="S")],
        )
        transport = wl.SerialTransport(vid=1, pid=2, serial_number="S", timeout=1, reconnect_min=0)
        try:
            assert transport.query("ECHO one") == "one"
            first.stop()
            device["path"] = second.url
            with pytest.raises(wl.DisconnectedError):
                for _ in range(3):
                    transport.query("ECHO gone")
            assert transport.query("ECHO two") == "two"
            assert second.simulator.received[-1] == "ECHO two"  # type: ignore[attr-defined]
        finally:
            transport.close()


def test_needs_a_port() -> None:
    with pytest.raises(ValueError, match="give a port"):
        wl.SerialTransport()
