"""Simulated instruments written as plain Thing classes (no serial port, no hardware).

They show how a device class looks and give the demo something to move and read
even without the serial simulators.
"""

from __future__ import annotations

import math
import random
import time
from typing import Annotated, Literal

import wot_labthing as wl


class SimulatedStage(wl.Thing):
    """A simulated three-axis stage that moves at a fixed speed."""

    speed: float = wl.property(
        default=1000.0, minimum=1, maximum=100000, unit="steps/s", description="Move speed."
    )

    moved = wl.event(data=list[int], description="Emitted with the position after every move.")

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._position = [0, 0, 0]

    @wl.property(observable=True)
    def position(self) -> list[int]:
        """Current position in steps (x, y, z)."""
        return list(self._position)

    @wl.action(exclusive=True)
    def move_to(self, x: int, y: int, z: int = 0) -> list[int]:
        """Move to an absolute position in steps; cancellable between steps."""
        target = [x, y, z]
        start = list(self._position)
        distance = max(abs(b - a) for a, b in zip(start, target, strict=True)) or 1
        steps = max(1, min(50, distance // 100))
        for step in range(1, steps + 1):
            wl.cancellable_sleep(distance / self.speed / steps)
            wl.update_task_progress(100 * step / steps)
            self._position = [
                a + (b - a) * step // steps for a, b in zip(start, target, strict=True)
            ]
            self.notify_property_changed("position", list(self._position))
        self.moved.emit(list(self._position))
        return list(self._position)


class SimulatedMeter(wl.Thing):
    """A simulated digital multimeter that reads a noisy sine wave."""

    function: Literal["VOLT:DC", "CURR:DC", "RES"] = wl.property(
        default="VOLT:DC", description="Measurement function."
    )
    nplc: Annotated[float, wl.Constraints(minimum=0.02, maximum=100)] = wl.property(
        default=1.0, description="Integration time in power-line cycles."
    )

    @wl.property
    def reading(self) -> float:
        """One reading in the unit of the current function."""
        time.sleep(self.nplc / 50)
        return round(math.sin(time.time()) + random.gauss(0, 0.01), 6)

    @wl.action(synchronous=True, safe=True, idempotent=True)
    def identify(self) -> str:
        """The instrument's identification string."""
        return "wot-labthing,SimulatedMeter,0,1.0"
