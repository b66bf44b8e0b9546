"""A wire-level simulator of the OpenFlexure Sangaboard (firmware v1 command set).

It answers the text protocol the real board speaks at 115200 baud: one command
per line, one or more reply lines. Moves take real time: a move of ``n`` steps
on its longest axis lasts ``n`` times the minimum step delay (1000 µs after a
fresh flash, i.e. 1000 steps/s), plus the ramp time if one is set, and the
position interpolates while it runs, axis by axis, as the firmware's stepping
loop does. ``stop`` halts a move where it is, ``moving?`` tells the truth, and
moves reply ``done.`` at once in non-blocking mode or ``stopped`` when they end
in blocking mode (the firmware's default).

Replies follow the firmware's own text (stage module of Sangaboard firmware v1
and the v0.5 sketch): ``p?`` → ``"x y z"``, ``dt?`` → ``minimum step delay N``,
``zero`` → ``position reset to 0 0 0``, ``stop`` → ``Move aborted``, ``release``
→ ``done``, setters → ``done.``, an unknown command → ``Type 'help' for a list
of commands.``. Two replies are not documented anywhere we could read, so they
are our best guess and flagged as such: the lines of ``list_modules`` and the
answer to ``led_cc <value>`` (``done.``, like every other setter).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import wot_labthing as wl

#: Answers the driver; thread-safe, so a timer may call it later.
Reply = Callable[[str], None]

__all__ = ["SangaboardSimulator"]

UNKNOWN_COMMAND = "Type 'help' for a list of commands."
END_OF_LIST = "--END--"

_COMMAND = re.compile(r"\s*([^\s?]*)(.*)")
_LEADING_INT = re.compile(r"\s*([+-]?\d+)")
_LEADING_FLOAT = re.compile(r"\s*([+-]?(?:\d+\.?\d*|\.\d+))")

_HELP = (
    "mrx <d>                        - relative move in x",
    "mry <d>                        - relative move in y",
    "mrz <d>                        - relative move in z",
    "mr <d> <d> <d>                 - relative move in all 3 axes",
    "release                        - de-energise all motors",
    "p?                             - print position (3 space-separated integers)",
    "ramp_time <d>                  - set the time taken to accelerate/decelerate in us",
    "min_step_delay <d>             - set the minimum time between steps in us.",
    "dt <d>                         - set the minimum time between steps in us.",
    "ramp_time?                     - get the time taken to accelerate/decelerate in us",
    "min_step_delay?                - get the minimum time between steps in us.",
    "zero                           - set the current position to zero.",
    "stop                           - stop a move in progress.",
    "moving?                        - true while the stage moves, else false.",
    "notify_on_stop                 - print 'stopped' when the current move ends.",
    "blocking_moves <true|false>    - reply to moves when they end (true) or at once.",
    "blocking_moves?                - whether moves are blocking.",
    "led_cc <f>                     - set the constant-current LED (0 to 1).",
    "led_cc?                        - get the constant-current LED brightness.",
    "list_modules                   - list the optional modules compiled in.",
    "version                        - get firmware version string",
)


def _atol(text: str) -> int:
    """C ``atol``: the leading integer of ``text``, 0 when there is none."""
    match = _LEADING_INT.match(text)
    return int(match.group(1)) if match else 0


def _atof(text: str) -> float:
    """C ``atof`` for plain decimals: the leading number of ``text``, 0.0 when none."""
    match = _LEADING_FLOAT.match(text)
    return float(match.group(1)) if match else 0.0


@dataclass
class _Move:
    """One move in progress, timed from ``started`` (seconds on the simulator clock)."""

    origin: list[int]
    displacement: list[int]
    started: float
    step_delay_us: float
    ramp_time_us: float
    generation: int

    @property
    def longest(self) -> int:
        return max(abs(d) for d in self.displacement)

    @property
    def duration(self) -> float:
        """Seconds until the last step, ramps included."""
        return (self.longest * self.step_delay_us + self.ramp_time_us) / 1e6

    def scaled_time_us(self, elapsed_us: float) -> float:
        """Time on the constant-speed scale: the firmware's constant-acceleration ramps."""
        ramp = self.ramp_time_us
        if ramp <= 0:
            return elapsed_us
        final = self.longest * self.step_delay_us
        remaining = final + ramp - elapsed_us
        if elapsed_us < ramp and remaining > elapsed_us:
            return elapsed_us * elapsed_us / (2 * ramp)
        if remaining < ramp:
            return final - max(remaining, 0.0) ** 2 / (2 * ramp)
        return elapsed_us - ramp / 2

    def steps_done(self, now: float) -> list[int]:
        """Steps taken on each axis by ``now`` (all axes finish together)."""
        scaled = self.scaled_time_us(max(0.0, now - self.started) * 1e6)
        longest = self.longest
        done = []
        for distance in self.displacement:
            steps = abs(distance)
            if steps == 0:
                done.append(0)
                continue
            # A step is due once the scaled time passes (k + 0.5) step intervals.
            interval = longest / steps * self.step_delay_us
            done.append(max(0, min(steps, math.floor(scaled / interval + 0.5))))
        return done

    def position(self, now: float) -> list[int]:
        done = self.steps_done(now)
        return [
            start + (steps if distance > 0 else -steps)
            for start, distance, steps in zip(self.origin, self.displacement, done, strict=True)
        ]

    def finished(self, now: float) -> bool:
        return self.steps_done(now) == [abs(d) for d in self.displacement]


class SangaboardSimulator(wl.LineSimulator):
    """The Sangaboard's command protocol with real-time moves.

    Args:
        step_delay_us: minimum time between steps (``dt``); the firmware default is
            1000 µs, i.e. 1000 steps/s on the longest axis.
        ramp_time_us: acceleration/deceleration time (``ramp_time``); 0 by default.
        blocking_moves: whether moves answer when they end (the firmware default
            after flashing) rather than at once.
        version: what ``version`` answers.
        board: what ``board`` answers.
        led: whether the constant-current LED module is present.
        position: the starting position (the board keeps it in EEPROM).
        clock: seconds, monotonic; patch it to run moves on a fake clock.
    """

    name = "sangaboard"

    def __init__(
        self,
        *,
        step_delay_us: int = 1000,
        ramp_time_us: int = 0,
        blocking_moves: bool = True,
        version: str = "Sangaboard Firmware v1.0.4",
        board: str = "Sangaboard v0.5",
        led: bool = True,
        position: tuple[int, int, int] = (0, 0, 0),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.step_delay_us = step_delay_us
        self.ramp_time_us = ramp_time_us
        self.blocking_moves = blocking_moves
        self.version = version
        self.board = board
        self.has_led = led
        self.led_cc = 0.0
        self.clock = clock
        self.commands: list[str] = []
        self._lock = threading.RLock()
        self._position = list(position)
        self._move: _Move | None = None
        self._generation = 0
        self._notify_on_stop = False
        self._timer: threading.Timer | None = None
        self._handlers: dict[str, Callable[[list[str], Reply], None]] = {
            "mrx": lambda args, reply: self._single_axis(0, args, reply),
            "mry": lambda args, reply: self._single_axis(1, args, reply),
            "mrz": lambda args, reply: self._single_axis(2, args, reply),
            "mr": self._mr,
            "release": lambda args, reply: reply("done"),
            "p": lambda args, reply: reply(" ".join(str(p) for p in self.position)),
            "ramp_time": self._ramp_time,
            "min_step_delay": self._min_step_delay,
            "dt": self._min_step_delay,
            "zero": self._zero,
            "stop": self._stop,
            "moving": lambda args, reply: reply("true" if self.moving else "false"),
            "notify_on_stop": self._notify,
            "blocking_moves": self._blocking_moves,
            "version": lambda args, reply: reply(self.version),
            "board": lambda args, reply: reply(self.board),
            "list_modules": self._list_modules,
            "help": self._help,
        }
        if led:
            self._handlers["led_cc"] = self._led_cc

    # -- state, read by tests too -----------------------------------------------------

    @property
    def position(self) -> list[int]:
        """Where the motors are now, interpolated during a move."""
        with self._lock:
            self._settle()
            if self._move is not None:
                return self._move.position(self.clock())
            return list(self._position)

    @property
    def moving(self) -> bool:
        """Whether a move is still stepping."""
        with self._lock:
            self._settle()
            return self._move is not None

    def _settle(self) -> None:
        """Fold a move that has finished into the resting position."""
        move = self._move
        if move is not None and move.finished(self.clock()):
            self._position = move.position(self.clock())
            self._move = None

    # -- LineSimulator ----------------------------------------------------------------

    def handle(self, line: str, reply: Reply) -> None:
        """Answer one command line as the firmware does."""
        match = _COMMAND.match(line)
        assert match is not None  # the pattern matches any string
        name, rest = match.group(1), match.group(2).strip()
        if not name and not rest:
            return  # an empty line: the firmware reads nothing and answers nothing
        self.commands.append(line)
        handler = self._handlers.get(name)
        if handler is None:
            reply(UNKNOWN_COMMAND)
            return
        args = rest.split()
        if rest.startswith("?"):
            args = ["?"]
        with self._lock:
            handler(args, reply)

    def close(self) -> None:
        """Stop the end-of-move timer (the endpoint stopped)."""
        with self._lock:
            self._cancel_timer()

    # -- moves ------------------------------------------------------------------------

    def _single_axis(self, axis: int, args: list[str], reply: Reply) -> None:
        displacement = [0, 0, 0]
        displacement[axis] = _atol(args[0]) if args else 0
        self._start_move(displacement, reply)

    def _mr(self, args: list[str], reply: Reply) -> None:
        padded = [*args, "", "", ""][:3]
        self._start_move([_atol(arg) for arg in padded], reply)

    def _start_move(self, displacement: list[int], reply: Reply) -> None:
        here = self.position
        self._cancel_timer()
        self._generation += 1
        self._position = here
        self._move = _Move(
            origin=here,
            displacement=displacement,
            started=self.clock(),
            step_delay_us=float(self.step_delay_us),
            ramp_time_us=float(self.ramp_time_us),
            generation=self._generation,
        )
        self._notify_on_stop = self.blocking_moves
        if not self.blocking_moves:
            reply("done.")
        self._settle()  # a zero-length move ends at once
        self._arm_timer(reply)

    def _arm_timer(self, reply: Reply) -> None:
        """Say ``stopped`` when the move ends, if someone asked to be told."""
        move = self._move
        if move is None:
            if self._notify_on_stop:
                self._notify_on_stop = False
                reply("stopped")
            return
        if not self._notify_on_stop:
            return
        delay = max(0.0, move.started + move.duration - self.clock())
        timer = threading.Timer(delay + 0.001, self._on_timer, args=(move.generation, reply))
        timer.daemon = True
        self._timer = timer
        timer.start()

    def _on_timer(self, generation: int, reply: Reply) -> None:
        with self._lock:
            if self._move is None or self._move.generation != generation:
                if generation == self._generation:
                    self._arm_timer(reply)  # ended: report it
                return
            self._settle()
            self._arm_timer(reply)  # reports if it ended, else waits a little more

    def _cancel_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _stop(self, args: list[str], reply: Reply) -> None:
        self._position = self.position
        self._move = None
        self._notify_on_stop = False
        self._cancel_timer()
        reply("Move aborted")

    def _notify(self, args: list[str], reply: Reply) -> None:
        if not self.moving:
            reply("Error: stage is not moving")
            return
        self._notify_on_stop = True
        self._cancel_timer()
        self._arm_timer(reply)

    def _zero(self, args: list[str], reply: Reply) -> None:
        here = self.position
        move = self._move
        if move is not None:  # keeps stepping, counted from the new zero
            move.origin = [start - now for start, now in zip(move.origin, here, strict=True)]
        self._position = [0, 0, 0]
        reply("position reset to 0 0 0")

    # -- settings ---------------------------------------------------------------------

    def _min_step_delay(self, args: list[str], reply: Reply) -> None:
        if not args or args[0] == "?":
            reply(f"minimum step delay {self.step_delay_us}")
            return
        self.step_delay_us = _atol(args[0])
        reply("done.")

    def _ramp_time(self, args: list[str], reply: Reply) -> None:
        if not args or args[0] == "?":
            reply(f"ramp_time {self.ramp_time_us}")
            return
        self.ramp_time_us = _atol(args[0])
        reply("done.")

    def _blocking_moves(self, args: list[str], reply: Reply) -> None:
        if not args or args[0] == "?":
            reply(f"blocking_moves {'true' if self.blocking_moves else 'false'}")
            return
        self.blocking_moves = args[0].startswith("t")
        reply("done.")

    def _led_cc(self, args: list[str], reply: Reply) -> None:
        if not args or args[0] == "?":
            # Arduino's Serial.print(float) prints two decimals.
            reply(f"CC LED:{self.led_cc:.2f}")
            return
        self.led_cc = min(1.0, max(0.0, _atof(args[0])))
        reply("done.")

    # -- information ------------------------------------------------------------------

    def _list_modules(self, args: list[str], reply: Reply) -> None:
        reply("Stage")
        if self.has_led:
            reply("Illumination: CC LED")
        reply(END_OF_LIST)

    def _help(self, args: list[str], reply: Reply) -> None:
        reply("")
        reply(f"Board: {self.board}")
        reply("")
        reply(self.version)
        reply("")
        reply("Commands (terminated by a newline character):")
        for line in _HELP:
            if line.startswith("led_cc") and not self.has_led:
                continue
            reply(line)
        reply("")
        reply("Input Key:")
        reply("<d>                            - a decimal integer.")
        reply("")
        reply(END_OF_LIST)
