"""The Sangaboard simulator's protocol, one command line at a time (no I/O).

Timing runs on a fake clock, so the interpolation is checked exactly; the
``stopped`` notification of blocking moves uses the real clock with short moves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

import wot_labthing as wl
from things.simulators.sangaboard import UNKNOWN_COMMAND, SangaboardSimulator
from wot_labthing._plugins import SIMULATORS_GROUP, load_class


class FakeClock:
    """Seconds that only move when the test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Board:
    """A simulator plus the lines it answered."""

    def __init__(self, **kwargs: object) -> None:
        self.clock = FakeClock()
        self.sim = SangaboardSimulator(clock=self.clock, **kwargs)  # type: ignore[arg-type]
        self.lines: list[str] = []
        self.arrived = threading.Event()

    def reply(self, text: str) -> None:
        self.lines.append(text)
        self.arrived.set()

    def send(self, line: str) -> list[str]:
        """The lines answered at once to ``line``."""
        before = len(self.lines)
        self.sim.handle(line, self.reply)
        return self.lines[before:]

    def ask(self, line: str) -> str:
        answers = self.send(line)
        assert len(answers) == 1, answers
        return answers[0]


@pytest.fixture
def board() -> Iterator[Board]:
    board = Board(blocking_moves=False)
    yield board
    board.sim.close()


def test_registered_under_its_name() -> None:
    assert (
        load_class("sangaboard", group=SIMULATORS_GROUP, base=wl.LineSimulator, directory=None)
        is SangaboardSimulator
    )


def test_identity_and_lists() -> None:
    board = Board(version="Sangaboard Firmware v1.0.4", board="Sangaboard v0.5")
    assert board.ask("version") == "Sangaboard Firmware v1.0.4"
    assert board.ask("board") == "Sangaboard v0.5"
    assert board.send("list_modules") == ["Stage", "Illumination: CC LED", "--END--"]
    assert Board(led=False).send("list_modules") == ["Stage", "--END--"]
    help_lines = board.send("help")
    assert help_lines[-1] == "--END--"
    assert "Sangaboard Firmware v1.0.4" in help_lines
    assert any(line.startswith("mr <d> <d> <d>") for line in help_lines)


def test_unknown_and_empty_commands() -> None:
    board = Board()
    assert board.ask("frobnicate 3") == UNKNOWN_COMMAND
    assert board.ask("MR 1 2 3") == UNKNOWN_COMMAND  # the firmware is case-sensitive
    assert board.send("") == []
    assert board.send("   ") == []


def test_position_starts_where_the_eeprom_left_it() -> None:
    board = Board(position=(5, -6, 7))
    assert board.ask("p?") == "5 -6 7"
    assert board.ask("p") == "5 -6 7"


def test_settings_query_and_set() -> None:
    board = Board()
    assert board.ask("dt?") == "minimum step delay 1000"
    assert board.ask("min_step_delay?") == "minimum step delay 1000"
    assert board.ask("dt 250") == "done."
    assert board.ask("min_step_delay?") == "minimum step delay 250"
    assert board.ask("ramp_time?") == "ramp_time 0"
    assert board.ask("ramp_time 20000") == "done."
    assert board.ask("ramp_time?") == "ramp_time 20000"
    assert board.ask("blocking_moves?") == "blocking_moves true"
    assert board.ask("blocking_moves false") == "done."
    assert board.ask("blocking_moves?") == "blocking_moves false"
    assert board.ask("blocking_moves true") == "done."
    assert board.sim.blocking_moves is True


def test_non_blocking_move_interpolates_in_real_time(board: Board) -> None:
    # 1000 µs per step: 100 steps on the longest axis last 0.1 s; y keeps pace.
    assert board.ask("mr 100 -50 0") == "done."
    assert board.ask("moving?") == "true"
    assert board.ask("p?") == "0 0 0"
    board.clock.advance(0.0502)
    assert board.ask("p?") == "50 -25 0"
    assert board.ask("moving?") == "true"
    board.clock.advance(0.05)
    assert board.ask("moving?") == "false"
    assert board.ask("p?") == "100 -50 0"
    assert board.send("moving?") == ["false"]  # nothing else arrives: no "stopped"


def test_single_axis_moves(board: Board) -> None:
    assert board.ask("mrx 10") == "done."
    board.clock.advance(1)
    assert board.ask("mry -20") == "done."
    board.clock.advance(1)
    assert board.ask("mrz 30") == "done."
    board.clock.advance(1)
    assert board.ask("p?") == "10 -20 30"


def test_move_arguments_read_like_atol(board: Board) -> None:
    assert board.ask("mr 7") == "done."  # missing numbers count as 0
    board.clock.advance(1)
    assert board.ask("mr x 3abc -2") == "done."
    board.clock.advance(1)
    assert board.ask("p?") == "7 3 -2"


def test_step_delay_sets_the_speed(board: Board) -> None:
    board.ask("dt 2000")  # 500 steps/s
    board.ask("mrx 100")
    board.clock.advance(0.1)
    assert board.ask("p?") == "50 0 0"
    board.clock.advance(0.1)
    assert board.ask("moving?") == "false"


def test_ramp_time_accelerates_and_lengthens_the_move(board: Board) -> None:
    board.ask("ramp_time 100000")  # 0.1 s ramps on a 0.1 s move
    board.ask("mrx 100")
    board.clock.advance(0.05)
    early = int(board.ask("p?").split()[0])
    assert 0 < early < 50  # still accelerating: slower than full speed
    board.clock.advance(0.1)  # the move alone would be over by now
    assert board.ask("moving?") == "true"
    board.clock.advance(0.06)
    assert board.ask("moving?") == "false"
    assert board.ask("p?") == "100 0 0"


def test_stop_halts_mid_move(board: Board) -> None:
    board.ask("mr 1000 0 -1000")
    board.clock.advance(0.3)
    assert board.ask("stop") == "Move aborted"
    assert board.ask("moving?") == "false"
    board.clock.advance(5)
    assert board.ask("p?") == "300 0 -300"
    assert board.ask("stop") == "Move aborted"  # stopping while still is harmless


def test_a_new_move_starts_from_where_the_last_one_is(board: Board) -> None:
    board.ask("mrx 1000")
    board.clock.advance(0.25)
    board.ask("mry 100")  # the firmware replaces the move in progress
    board.clock.advance(1)
    assert board.ask("p?") == "250 100 0"


def test_zero_keeps_a_move_going_from_the_new_origin(board: Board) -> None:
    board.ask("mrx 100")
    board.clock.advance(0.04)
    assert board.ask("zero") == "position reset to 0 0 0"
    assert board.ask("p?") == "0 0 0"
    board.clock.advance(1)
    assert board.ask("p?") == "60 0 0"
    assert board.ask("zero") == "position reset to 0 0 0"
    assert board.ask("p?") == "0 0 0"


def test_release(board: Board) -> None:
    assert board.ask("release") == "done"


def test_led(board: Board) -> None:
    assert board.ask("led_cc?") == "CC LED:0.00"
    assert board.ask("led_cc 0.32") == "done."
    assert board.ask("led_cc?") == "CC LED:0.32"
    assert board.ask("led_cc 7") == "done."
    assert board.ask("led_cc?") == "CC LED:1.00"
    assert Board(led=False).ask("led_cc?") == UNKNOWN_COMMAND


def test_notify_on_stop_needs_a_move(board: Board) -> None:
    assert board.ask("notify_on_stop") == "Error: stage is not moving"


def test_blocking_move_answers_stopped_when_it_ends() -> None:
    board = Board()
    board.sim.clock = time.monotonic  # real time: the reply comes from a timer
    try:
        assert board.send("mrx 20") == []  # blocking: no answer until the end (~20 ms)
        assert board.arrived.wait(5)
        assert board.lines == ["stopped"]
        assert board.ask("p?") == "20 0 0"
        assert board.send("mrx 0") == ["stopped"]  # an empty move ends at once
    finally:
        board.sim.close()


def test_notify_on_stop_in_non_blocking_mode() -> None:
    board = Board(blocking_moves=False)
    board.sim.clock = time.monotonic
    try:
        assert board.ask("mrx 20") == "done."
        board.arrived.clear()
        assert board.send("notify_on_stop") == []
        assert board.arrived.wait(5)
        assert board.lines[-1] == "stopped"
    finally:
        board.sim.close()


def test_stop_and_close_cancel_the_stopped_reply() -> None:
    board = Board()
    board.sim.clock = time.monotonic
    board.send("mrx 50")
    assert board.ask("stop") == "Move aborted"
    board.arrived.clear()
    board.send("mrx 50")
    board.sim.close()
    assert not board.arrived.wait(0.2)
    assert board.lines == ["Move aborted"]
