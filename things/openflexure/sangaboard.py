"""The OpenFlexure Sangaboard: a three-axis stepper controller on a serial line.

The board (firmware v1) speaks newline-terminated ASCII at 115200 baud. The
commands this driver uses, and the board's answers:

==========================  ================================================
``version``                 ``Sangaboard Firmware v1.0.4``
``blocking_moves false``    ``done.`` (moves then answer at once, not at the end)
``p?``                      ``x y z`` in steps
``moving?``                 ``true`` or ``false``
``mr dx dy dz``             ``done.`` (non-blocking: the move starts)
``stop``                    ``Move aborted`` (the motors stop where they are)
``zero``                    ``position reset to 0 0 0``
``release``                 ``done`` (the coils are de-energised)
``dt?`` / ``dt N``          ``minimum step delay N`` / ``done.`` (µs per step)
``ramp_time?`` / ``… N``    ``ramp_time N`` / ``done.`` (µs of acceleration)
``led_cc?`` / ``led_cc F``  ``CC LED:0.32`` / one line (LED brightness 0-1)
``list_modules``            one line per module, then ``--END--``
==========================  ================================================

An unknown command answers ``Type 'help' for a list of commands.``; firmware
errors start with ``Error``. The firmware has no absolute move, so
:meth:`Sangaboard.move_absolute` reads the position and moves by the
difference.

Moves run non-blocking: the driver starts the move, then polls ``moving?`` and
``p?`` with the port lock released between polls, so property reads are served
during a move (each exchange is atomic on the transport) and the run's progress
follows the real position. Cancelling a move sends ``stop`` at once (an abort
hook, from another thread); the run ends cancelled with the position after the
stop published to observers.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Annotated, Any, ClassVar

import wot_labthing as wl

__all__ = ["Sangaboard"]

_log = logging.getLogger(__name__)

BAUDRATE = 115200
UNKNOWN_COMMAND = "Type 'help' for a list of commands."
END_OF_LIST = "--END--"
_INTEGER = re.compile(r"[+-]?\d+")


#: A step count the firmware can hold: positions and moves are 32-bit ``long`` on the board.
Steps = Annotated[int, wl.Constraints(minimum=-(2**31), maximum=2**31 - 1)]


def _is_error(reply: str) -> bool:
    """Whether a reply is the firmware refusing a command.

    v0.5 answers an unknown command with exactly :data:`UNKNOWN_COMMAND`; later
    firmware may put the command before it, so any line holding it counts.
    """
    return UNKNOWN_COMMAND in reply or reply.startswith("Error")


class Sangaboard(wl.SerialThing):
    """An OpenFlexure Sangaboard motor controller: a three-axis stage moved in motor steps.

    Args:
        port: the serial device or pyserial URL (``/dev/ttyACM0``, ``socket://h:p``).
        **kwargs: the other :class:`wot_labthing.SerialThing` arguments (``vid``,
            ``pid``, ``serial_number``, ``timeout``, ``transport``) and ``name``,
            ``title``, ``description``, ``id`` of the Thing.
    """

    baudrate = BAUDRATE
    #: Seconds between two polls of a running move; patch it in tests.
    poll_interval: ClassVar[float] = 0.05
    #: Most lines ``list_modules`` may answer before its end marker.
    max_module_lines: ClassVar[int] = 32
    #: Affordances only some boards support (``tm:optional`` in the Thing Model): the
    #: constant-current LED is an optional firmware module.
    tm_optional: ClassVar[tuple[str, ...]] = ("led_brightness",)

    def __init__(self, port: str | None = None, **kwargs: Any) -> None:
        super().__init__(port, **kwargs)
        self._firmware = ""
        # Guards the start of a move against its abort hook (which runs in another
        # thread): a cancel arriving before ``mr`` prevents it, one arriving after
        # sends exactly one ``stop``.
        self._abort_lock = threading.Lock()
        self._move_started = False
        self._stop_sent = False

    # -- lifecycle ----------------------------------------------------------------------

    def on_connect(self, transport: wl.SerialTransport) -> None:
        """Runs after every (re)connection: identify the board, make moves non-blocking."""
        version = transport.query("version")
        if not version.startswith(("Sangaboard Firmware", "OpenFlexure Motor Board")):
            _log.warning("%s: %r does not look like a Sangaboard", transport.name, version)
        self._firmware = version
        reply = transport.query("blocking_moves false")
        if reply != "done.":
            raise wl.InstrumentError(
                f"{transport.name}: the board refused non-blocking moves ({reply!r}); "
                f"this driver needs Sangaboard firmware v1 or later (board says {version!r})",
                port=transport.name,
                command="blocking_moves false",
            )
        _log.info("%s: %s, non-blocking moves", transport.name, version)

    # -- wire helpers ---------------------------------------------------------------------

    def _query(self, command: str) -> str:
        """One exchange; the board's error replies become :class:`InstrumentError`."""
        reply = self.transport.query(command)
        if _is_error(reply):
            raise wl.InstrumentError(
                f"{self.transport.name}: {command!r} failed: {reply}",
                port=self.transport.name,
                command=command,
            )
        return reply

    def _expect(self, command: str, *answers: str) -> str:
        reply = self._query(command)
        if reply not in answers:
            raise wl.InstrumentError(
                f"{self.transport.name}: unexpected reply to {command!r}: {reply!r}",
                port=self.transport.name,
                command=command,
            )
        return reply

    def _read_position(self) -> list[int]:
        reply = self._query("p?")
        parts = reply.split()
        if len(parts) != 3 or not all(_INTEGER.fullmatch(part) for part in parts):
            raise wl.InstrumentError(
                f"{self.transport.name}: position reply {reply!r} is not three integers",
                port=self.transport.name,
                command="p?",
            )
        return [int(part) for part in parts]

    def _read_moving(self) -> bool:
        return self._expect("moving?", "true", "false") == "true"

    def _read_number(self, command: str) -> int:
        """The last integer of a reply such as ``minimum step delay 1000``."""
        reply = self._query(command)
        numbers = _INTEGER.findall(reply)
        if not numbers:
            raise wl.InstrumentError(
                f"{self.transport.name}: no number in the reply {reply!r}",
                port=self.transport.name,
                command=command,
            )
        return int(numbers[-1])

    # -- properties -----------------------------------------------------------------------

    @wl.property(observable=True)
    def position(self) -> list[int]:
        """Current position in motor steps (x, y, z), as the board counts them."""
        return self._read_position()

    @wl.property(observable=True)
    def moving(self) -> bool:
        """Whether the motors are stepping now (asked from the board)."""
        return self._read_moving()

    @wl.property
    def firmware_version(self) -> str:
        """The firmware's version string, e.g. ``Sangaboard Firmware v1.0.4``."""
        return self._query("version")

    @wl.property(minimum=1, maximum=1_000_000, unit="us")
    def step_delay(self) -> int:
        """Minimum time between two motor steps in µs (1000 µs: 1000 steps/s); kept in EEPROM."""
        return self._read_number("dt?")

    @step_delay.setter
    def _set_step_delay(self, value: int) -> None:
        self._expect(f"dt {value}", "done.")

    @wl.property(minimum=0, maximum=10_000_000, unit="us")
    def ramp_time(self) -> int:
        """Time in µs to accelerate at the start of a move and decelerate at its end."""
        return self._read_number("ramp_time?")

    @ramp_time.setter
    def _set_ramp_time(self, value: int) -> None:
        self._expect(f"ramp_time {value}", "done.")

    @wl.property(minimum=0.0, maximum=1.0)
    def led_brightness(self) -> float:
        """Brightness of the constant-current illumination LED, 0 (off) to 1 (full)."""
        command = "led_cc?"
        reply = self._query(command)
        prefix = "CC LED:"
        if not reply.startswith(prefix):
            raise wl.InstrumentError(
                f"{self.transport.name}: no constant-current LED on this board ({reply!r})",
                port=self.transport.name,
                command=command,
            )
        try:
            return float(reply[len(prefix) :])
        except ValueError:
            raise wl.InstrumentError(
                f"{self.transport.name}: LED reply {reply!r} holds no number",
                port=self.transport.name,
                command=command,
            ) from None

    @led_brightness.setter
    def _set_led_brightness(self, value: float) -> None:
        self._query(f"led_cc {value:.4f}")

    @wl.property
    def modules(self) -> list[str]:
        """The optional firmware modules the board reports (``list_modules``)."""
        command = "list_modules"
        lines: list[str] = []
        with self.transport.locked() as transport:
            transport.clear_input()
            transport.write(command)
            for _ in range(self.max_module_lines):
                line = transport.read_line(command=command)
                if line == END_OF_LIST:
                    return lines
                if _is_error(line):
                    raise wl.InstrumentError(
                        f"{transport.name}: {command!r} failed: {line}",
                        port=transport.name,
                        command=command,
                    )
                lines.append(line)
        raise wl.InstrumentError(
            f"{self.transport.name}: no {END_OF_LIST!r} after {len(lines)} module lines",
            port=self.transport.name,
            command=command,
        )

    # -- actions --------------------------------------------------------------------------

    @wl.action(exclusive=True)
    def move_relative(self, x: Steps = 0, y: Steps = 0, z: Steps = 0) -> list[int]:
        """Move by (x, y, z) motor steps in one straight move; returns the final position.

        Progress follows the polled position; cancelling stops the motors at once.
        """
        return self._move([x, y, z])

    @wl.action(exclusive=True)
    def move_absolute(self, x: Steps, y: Steps, z: Steps) -> list[int]:
        """Move to the position (x, y, z) in motor steps; returns the final position.

        The board only moves relatively, so this reads the position and moves by the
        difference. Progress and cancelling work as for ``move_relative``.
        """
        here = self._read_position()
        return self._move([x - here[0], y - here[1], z - here[2]], start=here)

    @wl.action(exclusive=True, synchronous=True)
    def zero(self) -> list[int]:
        """Make the current position (0, 0, 0) without moving; the board keeps it in EEPROM."""
        self._expect("zero", "position reset to 0 0 0")
        position = [0, 0, 0]
        self.notify_property_changed("position", position)
        return position

    @wl.action(synchronous=True, idempotent=True)
    def stop(self) -> list[int]:
        """Stop the motors now, even during a move run; returns where they stopped.

        The running move action (if any) then ends completed at that position.
        """
        self._expect("stop", "Move aborted")
        position = self._read_position()
        self.notify_property_changed("position", position)
        return position

    @wl.action(exclusive=True, synchronous=True, idempotent=True)
    def release(self) -> None:
        """De-energise the motor coils (they stay released until the next move)."""
        self._expect("release", "done")

    # -- moving ---------------------------------------------------------------------------

    def _abort_move(self) -> None:
        """Send ``stop`` once per started move, from the abort hook or the cancelled action."""
        with self._abort_lock:
            if self._move_started and not self._stop_sent:
                self._expect("stop", "Move aborted")
                self._stop_sent = True

    def _move(self, displacement: list[int], *, start: list[int] | None = None) -> list[int]:
        if start is None:
            start = self._read_position()
        if any(
            not -(2**31) <= here + by < 2**31 for here, by in zip(start, displacement, strict=True)
        ):
            raise wl.InputError(
                f"a move from {start} by {displacement} leaves the board's 32-bit step range"
            )
        axis = max(range(3), key=lambda index: abs(displacement[index]))
        longest = abs(displacement[axis])
        if longest == 0:
            return start
        dx, dy, dz = displacement
        position = start
        with wl.abort_hook(self._abort_move):
            try:
                with self._abort_lock:
                    wl.raise_if_cancelled()
                    self._stop_sent = False
                    self._expect(f"mr {dx} {dy} {dz}", "done.")
                    self._move_started = True
                self.notify_property_changed("moving", True)
                while True:
                    wl.cancellable_sleep(self.poll_interval)
                    still_moving = self._read_moving()
                    now = self._read_position()
                    if now != position:
                        position = now
                        self.notify_property_changed("position", position)
                    wl.update_task_progress(100 * abs(position[axis] - start[axis]) / longest)
                    if not still_moving:
                        return position
            except wl.InvocationCancelled:
                self._after_cancel()
                raise
            finally:
                with self._abort_lock:
                    self._move_started = False
                self.notify_property_changed("moving", False)

    def _after_cancel(self) -> None:
        """Make sure the motors stopped, and publish where, before the run ends cancelled."""
        try:
            self._abort_move()
            position = self._read_position()
        except wl.InstrumentError as exc:
            _log.warning("move cancelled; the stop could not be confirmed: %s", exc)
            return
        self.notify_property_changed("position", position)
        _log.info("move cancelled; stopped at %s", position)
