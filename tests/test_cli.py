from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

import wot_labthing as wl
from wot_labthing._cli import main

from .conftest import demo_servient

ROOT = Path(__file__).parent.parent


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wot_labthing", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_prints_td_urls_that_answer() -> None:
    with demo_servient() as (process, urls):
        assert len(urls) == 2, process.poll()
        for url in urls:
            assert re.match(r"http://127\.0\.0\.1:\d+/things/\w+", url)
            response = httpx.get(url, timeout=10)
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/td+json"
            assert response.json()["base"] == url + "/"
    assert process.returncode == 0


def test_serve_bad_config_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[[things]]\nclass = "nope_module:X"\nname = "broken"\n')
    result = run_cli("serve", str(config), "--port", "0", "--no-mdns")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "broken" in result.stderr and "nope_module" in result.stderr


def test_td_command_prints_a_valid_td(assert_valid_td) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "examples")}
    result = subprocess.run(
        [sys.executable, "-m", "wot_labthing", "td", "simulated:SimulatedMeter"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    td = json.loads(result.stdout)
    assert td["title"] == "SimulatedMeter"
    assert_valid_td(td)


def test_validate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = {
        "@context": "https://www.w3.org/2022/wot/td/v1.1",
        "title": "ok",
        "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
        "security": "nosec_sc",
    }
    bad = {**good, "id": "not a uri", "security": "missing_sc"}
    (tmp_path / "good.json").write_text(json.dumps(good))
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    (tmp_path / "broken.json").write_text("{")
    assert main(["validate", str(tmp_path / "good.json")]) == 0
    assert "valid TD 1.1" in capsys.readouterr().out
    assert main(["validate", str(tmp_path / "bad.json")]) == 1
    out = capsys.readouterr().out
    assert "/id" in out and "is not a 'uri'" in out
    assert "'missing_sc' is not in securityDefinitions" in out
    assert main(["validate", str(tmp_path / "broken.json")]) == 1
    assert "malformed JSON" in capsys.readouterr().err


@contextmanager
def simulate(*args: str) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    """``wot-labthing simulate ARGS``; yields the process and its "key: value" lines up to ready."""
    with subprocess.Popen(
        [sys.executable, "-m", "wot_labthing", "simulate", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        assert process.stdout is not None
        printed: dict[str, str] = {}
        for line in process.stdout:
            if line.startswith("ready"):
                break
            key, _, value = line.partition(": ")
            printed[key] = value.strip()
        try:
            yield process, printed
        finally:
            if process.poll() is None:
                process.kill()


def test_simulate_prints_a_port_the_driver_talks_to() -> None:
    with simulate("sangaboard") as (process, printed):
        port = printed["port"]
        transport = wl.SerialTransport(port, baudrate=115200, timeout=2)
        try:
            assert transport.query("version").startswith("Sangaboard Firmware v")
        finally:
            transport.close()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    assert not Path(port).exists()  # the pty's symlink is cleaned up


def test_simulate_on_tcp_and_unknown_names() -> None:
    unknown = run_cli("simulate", "nope")
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("error: no simulator named 'nope' is installed (installed: ")
    with simulate("34401a", "--socket", "0") as (process, printed):
        assert re.match(r"socket://127\.0\.0\.1:\d+$", printed["port"]), printed
        transport = wl.SerialTransport(printed["port"], timeout=2)
        try:
            assert transport.query("*IDN?").startswith("HEWLETT-PACKARD,34401A")
        finally:
            transport.close()
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_td_of_a_driver_needs_no_constructor_arguments() -> None:
    done = run_cli("td", "things.keysight.dmm34401a:Keysight34401A")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["title"] == "Keysight34401A"
    done = run_cli("td", "things.keysight.dmm34401a:Keysight34401A", "--arg", "port=loop://")
    assert done.returncode == 0, done.stderr
    refused = run_cli("td", "things.keysight.dmm34401a:Keysight34401A", "--arg", "nope=1")
    assert refused.returncode == 2
    assert "cannot build" in refused.stderr and "Traceback" not in refused.stderr


def test_serve_on_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", "--port", str(port), "--no-mdns", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"error: cannot listen on 127.0.0.1:{port}: address in use (try --port)"
    )
    assert "Traceback" not in result.stderr
