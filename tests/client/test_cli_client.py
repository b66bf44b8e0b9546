"""The client subcommands, run as a user runs them against the demo servient.

The demo (examples/demo.toml) serves the real Sangaboard and 34401A drivers on
serial simulators, so a progress bar here follows a Sangaboard move.
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from wot_labthing._cli.client.invoke import ProgressBar
from wot_labthing._cli.client_args import add_client_commands

from ..conftest import ROOT, demo_servient

CLI = [sys.executable, "-m", "wot_labthing"]


@pytest.fixture(scope="module")
def servient_url() -> Iterator[str]:
    """examples/demo.toml served by ``wot-labthing serve``; its root URL."""
    with demo_servient() as (_, urls):
        yield urls[0].split("/things/")[0] + "/"


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], text: str) -> None:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], lines


def test_add_client_commands_builds_every_subcommand() -> None:
    parser = argparse.ArgumentParser(prog="wot-labthing")
    add_client_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["invoke", "http://h/things/stage", "move_relative", "--input", "{}"])
    assert args.handler.__name__ == "_invoke" and args.input == "{}"
    for command in ("read", "write", "observe", "things"):
        extra = {"read": ["p"], "write": ["p", "1"], "observe": ["p"], "things": []}[command]
        assert parser.parse_args([command, "http://h/", *extra]).command == command


def test_things_lists_a_servient(servient_url: str) -> None:
    result = cli("things", servient_url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["TITLE", "TD", "URL", "OFFERS"]
    assert any("Sangaboard" in line and f"{servient_url}things/stage" in line for line in lines)
    host_port = servient_url.removeprefix("http://").rstrip("/")
    listing = json.loads(cli("things", host_port, "--json").stdout)
    by_title = {entry["title"]: entry for entry in listing}
    meter = by_title["Keysight 34401A multimeter (simulated)"]
    assert sorted(meter["actions"]) == ["clear_status", "reset", "take_readings"]
    stage = by_title["OpenFlexure stage (simulated Sangaboard)"]
    assert stage["td_url"] == f"{servient_url}things/stage"


def test_read_and_write_through_a_servient_or_td_url(servient_url: str) -> None:
    assert cli("write", servient_url, "nplc", "0.2").returncode == 0
    result = cli("read", f"{servient_url}things/meter", "nplc")
    assert result.returncode == 0 and json.loads(result.stdout) == 0.2
    assert json.loads(cli("read", servient_url, "function").stdout) == "VOLT:DC"


def test_errors_are_one_line_and_exit_non_zero(servient_url: str) -> None:
    assert_one_line_error(cli("write", servient_url, "function", "fast"), "must be JSON")
    assert_one_line_error(
        cli("write", servient_url, "function", '"fast"'), "is not one of ['VOLT:DC'"
    )
    assert_one_line_error(cli("read", servient_url, "colour"), "has a property 'colour'")
    assert_one_line_error(cli("read", f"{servient_url}things/ghost", "x"), "404")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert_one_line_error(cli("things", f"http://127.0.0.1:{port}/"), "cannot connect")
    assert_one_line_error(
        cli("read", "no-such-thing", "x", "--discover-timeout", "0.2"), "no Thing named"
    )


def test_invoke_prints_a_quick_output(servient_url: str) -> None:
    assert cli("write", servient_url, "nplc", "0.2").returncode == 0
    result = cli("invoke", servient_url, "take_readings", "--input", '{"count": 3}')
    assert result.returncode == 0, result.stderr
    readings = json.loads(result.stdout)
    assert len(readings) == 3 and all(isinstance(value, float) for value in readings)
    assert "%" not in result.stderr  # no progress bar for a run that is already over


def test_invoke_progress_shows_how_a_quick_run_ended(servient_url: str) -> None:
    result = cli("invoke", servient_url, "zero", "--progress")  # a synchronous action
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [0, 0, 0]
    assert result.stderr.strip().splitlines()[-1] == "zero [" + "#" * 30 + "] 100.0% completed"
    result = cli("invoke", servient_url, "take_readings", "--input", '{"count": 1}', "--progress")
    assert result.returncode == 0, result.stderr
    assert result.stderr.rstrip().endswith("completed"), result.stderr


def stage_position(servient_url: str) -> list[int]:
    response = httpx.get(f"{servient_url}things/stage/properties/position")
    position: list[int] = response.json()
    return position


def set_speed(servient_url: str, speed: float) -> None:
    """Steps per second, as the Sangaboard's step delay in microseconds."""
    delay = round(1e6 / speed)
    response = httpx.put(f"{servient_url}things/stage/properties/step_delay", json=delay)
    assert response.status_code == 204


def bar_percentages(stderr: str) -> list[float]:
    return [
        float(chunk.split("]")[1].split("%")[0])
        for chunk in stderr.splitlines()  # text mode turned each "\r" into a line end
        if chunk.startswith("move_relative [")
    ]


def test_invoke_draws_a_progress_bar_and_prints_the_output(servient_url: str) -> None:
    set_speed(servient_url, 2000)
    start = stage_position(servient_url)
    # 5000 steps take 2.5 s, beyond the servient's 1 s answer wait
    move = json.dumps({"x": 5000, "y": 7})
    result = cli("invoke", servient_url, "move_relative", "--input", move, "--progress")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [start[0] + 5000, start[1] + 7, start[2]]
    percentages = bar_percentages(result.stderr)
    assert len(percentages) > 3, result.stderr
    assert percentages == sorted(percentages) and percentages[-1] == 100.0
    assert result.stderr.rstrip().endswith("completed")


class Reader:
    """Collects what a child writes on one file descriptor, from a thread."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.data = b""
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:
                return
            if not chunk:
                return
            self.data += chunk

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.text):
            assert time.monotonic() < deadline, f"timed out; got {self.text!r}"
            time.sleep(0.02)


def last_move(servient_url: str) -> dict[str, Any]:
    runs = httpx.get(f"{servient_url}actions", params={"thing": "stage", "action": "move_relative"})
    record: dict[str, Any] = runs.json()[0]
    return record


def slow_move_command(servient_url: str, *extra: str) -> tuple[list[str], int]:
    set_speed(servient_url, 1000)
    x = stage_position(servient_url)[0] + 30000  # 30 s: it will be cancelled long before
    move = json.dumps({"x": 30000})
    command = [*CLI, "invoke", servient_url, "move_relative", "--input", move]
    return [*command, *extra], x


def test_ctrl_c_without_a_terminal_cancels_the_run(servient_url: str) -> None:
    command, x = slow_move_command(servient_url, "--progress")
    with subprocess.Popen(
        command,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stderr is not None and process.stdout is not None
        stderr = Reader(process.stderr.fileno())
        stderr.wait_for(lambda text: "% running" in text)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 130
        stdout = process.stdout.read().decode()
    assert "move_relative: run cancelled" in stderr.text, stderr.text
    assert "Traceback" not in stderr.text and stdout == ""
    record = last_move(servient_url)
    assert record["status"] == "failed" and record["error"]["type"].endswith(":cancelled")
    assert stage_position(servient_url)[0] < x


def test_ctrl_c_on_a_terminal_asks_before_cancelling(servient_url: str) -> None:
    command, x = slow_move_command(servient_url)
    controller, terminal = pty.openpty()
    with subprocess.Popen(
        command, cwd=ROOT, stdin=terminal, stdout=subprocess.PIPE, stderr=terminal
    ) as process:
        os.close(terminal)
        assert process.stdout is not None
        screen = Reader(controller)
        # stderr is a terminal: the bar is drawn without --progress
        screen.wait_for(lambda text: "% running" in text)
        process.send_signal(signal.SIGINT)
        screen.wait_for(lambda text: "cancel the run? [y/N]" in text)
        drawn = screen.text.count("% running")
        os.write(controller, b"n\n")
        # answering no keeps the run and the command going: the bar is drawn again
        screen.wait_for(lambda text: text.count("% running") > drawn)
        assert process.poll() is None
        assert last_move(servient_url)["status"] == "running"
        process.send_signal(signal.SIGINT)
        screen.wait_for(lambda text: text.count("cancel the run? [y/N]") == 2)
        os.write(controller, b"y\n")
        assert process.wait(timeout=30) == 130
        process.stdout.read()
    screen.wait_for(lambda text: "move_relative: run cancelled" in text)
    os.close(controller)
    assert "Traceback" not in screen.text
    assert last_move(servient_url)["status"] == "failed"
    assert stage_position(servient_url)[0] < x


def test_observe_prints_changes_as_json_lines(servient_url: str) -> None:
    set_speed(servient_url, 1000)
    start = stage_position(servient_url)[0]
    with subprocess.Popen(
        [*CLI, "observe", servient_url, "position", "--count", "3"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stderr is not None and process.stdout is not None
        assert "observing position" in process.stderr.readline()
        body = {"x": 1000}  # one second of polled positions
        moved = httpx.post(f"{servient_url}things/stage/actions/move_relative", json=body)
        assert moved.is_success
        assert process.wait(timeout=30) == 0
        seen = [json.loads(line) for line in process.stdout.read().splitlines()]
    assert len(seen) == 3 and all(len(value) == 3 for value in seen)
    assert start < seen[-1][0] <= start + 1000


def test_progress_bar_draws_known_and_unknown_progress() -> None:
    import io

    stream = io.StringIO()
    bar = ProgressBar(stream, "scan", width=10)
    bar.update("pending", None)
    bar.update("running", 50)
    bar.end()
    assert stream.getvalue() == "\rscan pending\rscan [#####.....]  50.0% running\n"
