"""A tiny line instrument for transport tests, served over a real pty or TCP."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from wot_labthing import LineSimulator, SimulatorEndpoint
from wot_labthing._line_simulator import Reply


class EchoInstrument(LineSimulator):
    """``ECHO text`` → text; ``SLOW s text`` → text after s seconds; ``LINES n`` → n lines;
    ``GARBLED`` → undecodable bytes; ``PARTIAL`` → a reply without its line end;
    ``SILENT`` → nothing."""

    name = "echo"
    encoding = "latin-1"

    def __init__(self) -> None:
        self.received: list[str] = []
        self._timers: list[threading.Timer] = []

    def handle(self, line: str, reply: Reply) -> None:
        self.received.append(line)
        verb, _, rest = line.partition(" ")
        if verb == "ECHO":
            reply(rest)
        elif verb == "SLOW":
            delay, _, text = rest.partition(" ")
            timer = threading.Timer(float(delay), reply, args=(text,))
            self._timers.append(timer)
            timer.start()
        elif verb == "LINES":
            for index in range(int(rest)):
                reply(f"line {index}")
        elif verb == "GARBLED":
            reply("\xff\xfe")
        elif verb == "PARTIAL":
            reply("no line end")  # followed by the terminator, so strip it below
        elif verb == "SILENT":
            pass
        else:
            reply(f"ERROR unknown {verb}")

    def close(self) -> None:
        for timer in self._timers:
            timer.cancel()


@pytest.fixture(params=["pty", "socket"])
def endpoint(request: pytest.FixtureRequest) -> Iterator[SimulatorEndpoint]:
    """An echo instrument on the far end of a real pseudo-terminal or TCP socket."""
    with SimulatorEndpoint(EchoInstrument(), kind=request.param) as served:
        yield served
