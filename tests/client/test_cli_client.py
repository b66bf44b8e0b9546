"""The client subcommands, run as a user runs them against the simulated servient."""

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

from wot_labthing._cli_client import ProgressBar, add_client_commands

from ..conftest import ROOT, demo_servient

CLI = [sys.executable, "-m", "wot_labthing._cli_client"]


@pytest.fixture(scope="module")
def servient_url() -> Iterator[str]:
    """examples/simulated.toml served by ``wot-labthing serve``; its root URL."""
    with demo_servient(config="examples/simulated.toml") as (_, urls):
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
    args = parser.parse_args(["invoke", "http://h/things/stage", "move_to", "--input", "{}"])
    assert args.handler.__name__ == "_invoke" and args.input == "{}"
    for command in ("read", "write", "observe", "things"):
        extra = {"read": ["p"], "write": ["p", "1"], "observe": ["p"], "things": []}[command]
        assert parser.parse_args([command, "http://h/", *extra]).command == command


def test_things_lists_a_servient(servient_url: str) -> None:
    result = cli("things", servient_url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["TITLE", "TD", "URL", "OFFERS"]
    assert any(
        "Simulated stage" in line and f"{servient_url}things/stage" in line for line in lines
    )
    host_port = servient_url.removeprefix("http://").rstrip("/")
    listing = json.loads(cli("things", host_port, "--json").stdout)
    by_title = {entry["title"]: entry for entry in listing}
    assert by_title["Simulated meter"]["actions"] == ["identify"]
    assert by_title["Simulated stage"]["td_url"] == f"{servient_url}things/stage"


def test_read_and_write_through_a_servient_or_td_url(servient_url: str) -> None:
    assert cli("write", servient_url, "nplc", "2.5").returncode == 0
    result = cli("read", f"{servient_url}things/meter", "nplc")
    assert result.returncode == 0 and json.loads(result.stdout) == 2.5
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


def test_invoke_prints_a_synchronous_output(servient_url: str) -> None:
    result = cli("invoke", servient_url, "identify")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == "wot-labthing,SimulatedMeter,0,1.0"
    assert "%" not in result.stderr  # no progress bar for a run that is already over


def stage_position(servient_url: str) -> list[int]:
    response = httpx.get(f"{servient_url}things/stage/properties/position")
    position: list[int] = response.json()
    return position


def set_speed(servient_url: str, speed: float) -> None:
    assert httpx.put(f"{servient_url}things/stage/properties/speed", json=speed).status_code == 204


def bar_percentages(stderr: str) -> list[float]:
    return [
        float(chunk.split("]")[1].split("%")[0])
        for chunk in stderr.splitlines()  # text mode turned each "\r" into a line end
        if chunk.startswith("move_to [")
    ]


def test_invoke_draws_a_progress_bar_and_prints_the_output(servient_url: str) -> None:
    set_speed(servient_url, 2000)
    x = stage_position(servient_url)[0] + 5000  # 2.5 s, beyond the servient's 1 s answer wait
    result = cli(
        "invoke", servient_url, "move_to", "--input", json.dumps({"x": x, "y": 7}), "--progress"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [x, 7, 0]
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
    runs = httpx.get(f"{servient_url}actions", params={"thing": "stage", "action": "move_to"})
    record: dict[str, Any] = runs.json()[0]
    return record


def slow_move_command(servient_url: str, *extra: str) -> tuple[list[str], int]:
    set_speed(servient_url, 1000)
    x = stage_position(servient_url)[0] + 30000  # 30 s: it will be cancelled long before
    command = [*CLI, "invoke", servient_url, "move_to", "--input", json.dumps({"x": x, "y": 0})]
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
    assert "move_to: run cancelled" in stderr.text, stderr.text
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
        os.write(controller, b"n\n")
        time.sleep(1.5)
        assert process.poll() is None, "answering no keeps the run and the command going"
        assert last_move(servient_url)["status"] == "running"
        drawn = screen.text.count("% running")
        screen.wait_for(lambda text: text.count("% running") > drawn)  # the bar goes on
        process.send_signal(signal.SIGINT)
        screen.wait_for(lambda text: text.count("cancel the run? [y/N]") == 2)
        os.write(controller, b"y\n")
        assert process.wait(timeout=30) == 130
        process.stdout.read()
    screen.wait_for(lambda text: "move_to: run cancelled" in text)
    os.close(controller)
    assert "Traceback" not in screen.text
    assert last_move(servient_url)["status"] == "failed"
    assert stage_position(servient_url)[0] < x


def test_observe_prints_changes_as_json_lines(servient_url: str) -> None:
    set_speed(servient_url, 20000)
    start = stage_position(servient_url)[0]
    with subprocess.Popen(
        [*CLI, "observe", servient_url, "moved", "--count", "1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stderr is not None and process.stdout is not None
        assert "observing moved" in process.stderr.readline()
        body = {"x": start + 100, "y": 1}
        assert httpx.post(f"{servient_url}things/stage/actions/move_to", json=body).is_success
        assert process.wait(timeout=30) == 0
        assert json.loads(process.stdout.read()) == [start + 100, 1, 0]


def test_progress_bar_draws_known_and_unknown_progress() -> None:
    import io

    stream = io.StringIO()
    bar = ProgressBar(stream, "scan", width=10)
    bar.update("pending", None)
    bar.update("running", 50)
    bar.end()
    assert stream.getvalue() == "\rscan pending\rscan [#####.....]  50.0% running\n"
