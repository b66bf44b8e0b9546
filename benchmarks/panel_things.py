"""The Thing of benchmarks/panel.py: one observable value that changes on its own."""

from __future__ import annotations

import os
import threading
import time

import wot_labthing as wl


class Ticker(wl.Thing):
    """Publishes ``stamp`` (the wall-clock time, s) RATE times a second from its own thread."""

    gain: float = wl.property(default=1.0, minimum=0, maximum=10, unit="V/V", description="Gain.")
    mode: str = wl.property(default="fast", description="A string to edit.")

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._rate = float(os.environ.get("PANEL_BENCH_RATE", "100"))
        self._stamp = time.time()
        self._published = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @wl.property(observable=True, unit="s")
    def stamp(self) -> float:
        """When the value was last published (seconds since the epoch)."""
        return self._stamp

    @wl.property
    def published(self) -> int:
        """How many values were published so far."""
        return self._published

    def open(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ticker", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _run(self) -> None:
        period, due = 1 / self._rate, time.perf_counter()
        while not self._stop.is_set():
            self._stamp = time.time()
            self._published += 1
            self.notify_property_changed("stamp", self._stamp)
            due += period
            self._stop.wait(max(0.0, due - time.perf_counter()))
