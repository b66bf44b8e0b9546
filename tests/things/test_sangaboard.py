"""The Sangaboard driver as command/reply pairs: every scripted pair must be consumed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import wot_labthing as wl
from things.openflexure.sangaboard import Sangaboard
from wot_labthing._context import run_in_context
from wot_labthing._http.forms import thing_description
from wot_labthing.testing import ScriptedTransport

UNKNOWN = "Type 'help' for a list of commands."
SETUP: list[tuple[str, str | list[str] | None]] = [
    ("version", "Sangaboard Firmware v1.0.4"),
    ("blocking_moves false", "done."),
]

Changes = list[tuple[str, str, Any]]


@pytest.fixture(autouse=True)
def no_poll_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Sangaboard, "poll_interval", 0.0)


def scripted(*pairs: tuple[str, str | list[str] | None]) -> ScriptedTransport:
    """A transport expecting the connection setup, then ``pairs``."""
    return ScriptedTransport([*SETUP, *pairs])


def watch(board: Sangaboard) -> Changes:
    """Record the property changes the board publishes (what observers would see)."""
    changes: Changes = []
    board._wot_attach(lambda kind, name, value: changes.append((kind, name, value)))
    return changes


@pytest.fixture
def board_with() -> Iterator[Callable[..., Sangaboard]]:
    """``board_with(pairs...)``: a board on a scripted transport, checked for leftovers."""
    transports: list[ScriptedTransport] = []

    def make(*pairs: tuple[str, str | list[str] | None]) -> Sangaboard:
        transport = scripted(*pairs)
        transports.append(transport)
        return Sangaboard(transport=transport)

    yield make
    for transport in transports:
        transport.assert_consumed()


# Construction and lifecycle -------------------------------------------------------------


def test_a_port_builds_a_115200_baud_transport_without_opening_it() -> None:
    board = Sangaboard("loop://", name="stage")
    transport = board.transport
    assert isinstance(transport, wl.SerialTransport)
    assert transport.port == "loop://"
    assert transport.settings["baudrate"] == 115200
    assert not transport.is_open
    assert board.thing_name == "stage"
    board.close()
    board.close()  # idempotent


def test_usb_ids_name_the_transport() -> None:
    board = Sangaboard(vid=0x2E8A, pid=0x0005, serial_number="E660")
    assert board.transport.name == "usb 2e8a:0005 serial E660"


def test_open_connects_and_sets_up_non_blocking_moves() -> None:
    with ScriptedTransport(SETUP) as transport:
        board = Sangaboard(transport=transport)
        board.open()
        assert transport.is_open
        board.close()
        assert not transport.is_open


def test_an_injected_transports_own_on_connect_still_runs() -> None:
    ran: list[str] = []
    with ScriptedTransport([("hello", "hi"), *SETUP]) as transport:
        transport.on_connect = lambda opened: ran.append(opened.query("hello"))
        board = Sangaboard(transport=transport)
        board.open()
    assert ran == ["hi"]


def test_open_without_the_board_logs_and_does_not_raise(caplog: pytest.LogCaptureFixture) -> None:
    board = Sangaboard("/dev/this-board-is-not-plugged-in")
    with caplog.at_level(logging.WARNING):
        board.open()
    assert "not available yet" in caplog.text
    with pytest.raises(wl.DisconnectedError):
        _ = board.position  # still absent: the use fails, naming the port
    board.close()


def test_a_silent_board_times_out_in_setup(caplog: pytest.LogCaptureFixture) -> None:
    with ScriptedTransport([("version", None)]) as transport:
        board = Sangaboard(transport=transport)
        with caplog.at_level(logging.WARNING):
            board.open()
    assert "version" in caplog.text


def test_old_firmware_without_non_blocking_moves_is_refused() -> None:
    transport = ScriptedTransport(
        [("version", "Sangaboard Firmware v0.5"), ("blocking_moves false", UNKNOWN)]
    )
    with transport:
        board = Sangaboard(transport=transport)
        with pytest.raises(wl.InstrumentError, match="firmware v1"):
            _ = board.position
    assert not transport.is_open


# Properties -----------------------------------------------------------------------------


def test_position_and_moving(board_with: Callable[..., Sangaboard]) -> None:
    board = board_with(("p?", "12 -3 4"), ("moving?", "true"), ("moving?", "false"))
    assert board.position == [12, -3, 4]
    assert board.moving is True
    assert board.moving is False


def test_setup_runs_once_per_connection(board_with: Callable[..., Sangaboard]) -> None:
    board = board_with(("p?", "0 0 0"), ("p?", "1 0 0"))
    assert board.position == [0, 0, 0]
    assert board.position == [1, 0, 0]


def test_firmware_version(board_with: Callable[..., Sangaboard]) -> None:
    board = board_with(("version", "Sangaboard Firmware v1.0.4"))
    assert board.firmware_version == "Sangaboard Firmware v1.0.4"


def test_step_delay_and_ramp_time(board_with: Callable[..., Sangaboard]) -> None:
    board = board_with(
        ("dt?", "minimum step delay 1000"),
        ("dt 500", "done."),
        ("ramp_time?", "ramp_time 0"),
        ("ramp_time 20000", "done."),
    )
    assert board.step_delay == 1000
    board.step_delay = 500
    assert board.ramp_time == 0
    board.ramp_time = 20000


def test_led_brightness(board_with: Callable[..., Sangaboard]) -> None:
    board = board_with(("led_cc?", "CC LED:0.32"), ("led_cc 0.5000", "done."))
    assert board.led_brightness == pytest.approx(0.32)
    board.led_brightness = 0.5


def test_led_brightness_without_the_led_module(board_with: Callable[..., Sangaboard]) -> None:
    board = board_with(("led_cc?", UNKNOWN))
    with pytest.raises(wl.InstrumentError, match="help") as caught:
        _ = board.led_brightness
    assert caught.value.command == "led_cc?"


def test_an_unknown_command_reply_with_the_command_quoted_is_an_error(
    board_with: Callable[..., Sangaboard],
) -> None:
    board = board_with(("led_cc 0.1000", f"Command not recognised: 'led_cc 0.1000', {UNKNOWN}"))
    with pytest.raises(wl.InstrumentError, match="not recognised"):
        board.led_brightness = 0.1


def test_modules(board_with: Callable[..., Sangaboard]) -> None:
    board = board_with(("list_modules", ["Stage", "Illumination: CC LED", "--END--"]))
    assert board.modules == ["Stage", "Illumination: CC LED"]


def test_modules_without_end_marker_time_out(board_with: Callable[..., Sangaboard]) -> None:
    board = board_with(("list_modules", ["Stage"]))
    with pytest.raises(wl.InstrumentTimeoutError):
        _ = board.modules


def test_a_garbled_position_is_an_instrument_error(board_with: Callable[..., Sangaboard]) -> None:
    board = board_with(("p?", "Move aborted"))
    with pytest.raises(wl.InstrumentError, match="three integers"):
        _ = board.position


def test_firmware_errors_become_instrument_errors(board_with: Callable[..., Sangaboard]) -> None:
    board = board_with(("dt 5", "Error: something the firmware disliked"))
    with pytest.raises(wl.InstrumentError, match="disliked") as caught:
        board.step_delay = 5
    assert caught.value.command == "dt 5"


# Actions from plain Python ----------------------------------------------------------------


def test_move_relative_polls_until_the_board_stops(board_with: Callable[..., Sangaboard]) -> None:
    board = board_with(
        ("p?", "0 0 0"),
        ("mr 100 -50 0", "done."),
        ("moving?", "true"),
        ("p?", "40 -20 0"),
        ("moving?", "true"),
        ("p?", "40 -20 0"),
        ("moving?", "false"),
        ("p?", "100 -50 0"),
    )
    changes = watch(board)
    assert board.move_relative(100, -50) == [100, -50, 0]
    assert changes == [
        ("property", "moving", True),
        ("property", "position", [40, -20, 0]),  # published once per change, not per poll
        ("property", "position", [100, -50, 0]),
        ("property", "moving", False),
    ]


def test_move_absolute_moves_by_the_difference(board_with: Callable[..., Sangaboard]) -> None:
    board = board_with(
        ("p?", "10 20 30"),
        ("mr 90 -20 0", "done."),
        ("moving?", "false"),
        ("p?", "100 0 30"),
    )
    assert board.move_absolute(100, 0, 30) == [100, 0, 30]


def test_a_move_to_here_sends_no_move(board_with: Callable[..., Sangaboard]) -> None:
    board = board_with(("p?", "5 5 5"), ("p?", "5 5 5"))
    assert board.move_relative() == [5, 5, 5]
    assert board.move_absolute(5, 5, 5) == [5, 5, 5]


def test_a_refused_move_fails_naming_the_command(board_with: Callable[..., Sangaboard]) -> None:
    board = board_with(("p?", "0 0 0"), ("mr 1 0 0", UNKNOWN))
    changes = watch(board)
    with pytest.raises(wl.InstrumentError) as caught:
        board.move_relative(1)
    assert caught.value.command == "mr 1 0 0"
    assert changes == [("property", "moving", False)]


def test_zero_stop_release(board_with: Callable[..., Sangaboard]) -> None:
    board = board_with(
        ("zero", "position reset to 0 0 0"),
        ("stop", "Move aborted"),
        ("p?", "7 0 0"),
        ("release", "done"),
    )
    changes = watch(board)
    assert board.zero() == [0, 0, 0]
    assert board.stop() == [7, 0, 0]
    assert board.release() is None
    assert changes == [("property", "position", [0, 0, 0]), ("property", "position", [7, 0, 0])]


# Cancelling, driven by hand through an invocation ---------------------------------------------


def invocation_of(board: Sangaboard) -> wl.Invocation:
    return wl.Invocation(board, Sangaboard.actions["move_relative"], {}, {}, lambda record: None)


def test_a_cancel_before_the_move_starts_sends_no_move(
    board_with: Callable[..., Sangaboard],
) -> None:
    board = board_with(("p?", "0 0 0"), ("p?", "0 0 0"))  # no "mr", no "stop"
    invocation = invocation_of(board)
    invocation.request_cancel()
    with pytest.raises(wl.InvocationCancelled):
        run_in_context(invocation, lambda: board.move_relative(500))


def test_a_cancel_mid_move_sends_one_stop_and_publishes_where_it_stopped(
    board_with: Callable[..., Sangaboard], monkeypatch: pytest.MonkeyPatch
) -> None:
    board = board_with(
        ("p?", "0 0 0"),
        ("mr 500 0 0", "done."),
        ("moving?", "true"),
        ("p?", "100 0 0"),
        ("stop", "Move aborted"),  # from the abort hook or the action, never both
        ("p?", "120 0 0"),
    )
    invocation = invocation_of(board)
    sleeps = 0
    real_sleep = wl.cancellable_sleep

    def sleep_then_cancel(seconds: float) -> None:
        nonlocal sleeps
        sleeps += 1
        if sleeps == 2:
            invocation.request_cancel()  # starts the abort hook in another thread
        real_sleep(seconds)

    monkeypatch.setattr(wl, "cancellable_sleep", sleep_then_cancel)
    changes = watch(board)
    with pytest.raises(wl.InvocationCancelled):
        run_in_context(invocation, lambda: board.move_relative(500))
    assert changes[-2:] == [("property", "position", [120, 0, 0]), ("property", "moving", False)]
    assert invocation.progress == 20


# Through a servient -----------------------------------------------------------------------


async def test_a_move_run_completes_with_progress() -> None:
    transport = scripted(
        ("p?", "0 0 0"),
        ("mr 0 0 -200", "done."),
        ("moving?", "true"),
        ("p?", "0 0 -50"),
        ("moving?", "false"),
        ("p?", "0 0 -200"),
        ("p?", "0 0 -200"),
    )
    board = Sangaboard(transport=transport, name="stage")
    seen: list[int | None] = []
    async with wl.Servient([board]) as servient:
        assert transport.is_open  # the servient opened it at start
        invocation = servient.invoke_action("stage", "move_relative", {"z": -200})
        original = invocation.set_progress

        def record(percent: float) -> None:
            original(percent)
            seen.append(invocation.progress)

        invocation.set_progress = record  # type: ignore[method-assign]
        assert await servient.invocations.wait(invocation, 10)
        assert invocation.status == "completed", invocation.error
        assert invocation.output == [0, 0, -200]
        assert await servient.read_property("stage", "position") == [0, 0, -200]
    transport.assert_consumed()
    assert seen == [25, 100]
    assert not transport.is_open  # the servient closed it at stop


def test_td_is_valid_and_every_affordance_is_described(
    assert_valid_td: Callable[[dict[str, Any]], None],
) -> None:
    td = thing_description(Sangaboard("loop://"), "http://localhost:8080/")
    assert_valid_td(td)
    assert set(td["properties"]) == {
        "position",
        "moving",
        "firmware_version",
        "step_delay",
        "ramp_time",
        "led_brightness",
        "modules",
    }
    assert set(td["actions"]) == {"move_relative", "move_absolute", "zero", "stop", "release"}
    assert td["properties"]["position"]["observable"] is True
    assert td["properties"]["firmware_version"]["readOnly"] is True
    assert td["properties"]["step_delay"].get("readOnly", False) is False
    for kind in ("properties", "actions"):
        for name, affordance in td[kind].items():
            assert affordance.get("description"), f"{kind}.{name}"
