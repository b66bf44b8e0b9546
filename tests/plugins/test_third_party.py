"""A third-party driver package, pip-installed into a fresh venv, served by its registered names.

The package is built from source in a temporary directory and installed with pip
into a venv that sees this project's own environment (through a ``.pth`` file;
only the package's build backend is fetched, as for any user). The config and
the commands name its driver and its simulator only by their entry-point names,
from a directory without its source.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import wot_labthing as wl

DRIVER = '''
"""Acme TH-1: a thermometer on a serial line."""

import wot_labthing as wl


class Thermometer(wl.SerialThing):
    """An Acme TH-1 thermometer."""

    baudrate = 19200

    def on_connect(self, transport: wl.SerialTransport) -> None:
        if transport.query("*IDN?") != "ACME,TH-1":
            raise wl.InstrumentError("not an Acme TH-1")

    @wl.property(unit="degC")
    def temperature(self) -> float:
        """The temperature now."""
        return float(self.transport.query("T?"))
'''

SIMULATOR = '''
"""The Acme TH-1's wire protocol."""

from collections.abc import Callable

import wot_labthing as wl


class ThermometerSimulator(wl.LineSimulator):
    """A TH-1 at a constant temperature."""

    name = "acme-th1"

    def __init__(self, temperature: float = 21.5) -> None:
        self.temperature = temperature

    def handle(self, line: str, reply: Callable[[str], None]) -> None:
        answers = {"*IDN?": "ACME,TH-1", "T?": f"{self.temperature:.2f}"}
        reply(answers.get(line, "ERR"))
'''

PYPROJECT = """
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "acme-th1"
version = "1.2.0"
dependencies = ["wot-labthing"]

[project.entry-points."wot_labthing.things"]
acme-th1 = "acme_th1:Thermometer"

[project.entry-points."wot_labthing.simulators"]
acme-th1 = "acme_th1.simulator:ThermometerSimulator"
"""

CONFIG = """
[[simulators]]
name = "th1"
simulator = "acme-th1"
options = { temperature = 36.6 }

[[things]]
class = "acme-th1"
name = "thermo"
kwargs = { port = "simulator:th1" }
"""


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the acme-th1 package, pip-installed from its source."""
    root = tmp_path_factory.mktemp("third-party")
    package = root / "src" / "acme_th1"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(DRIVER)
    (package / "simulator.py").write_text(SIMULATOR)
    (root / "src" / "pyproject.toml").write_text(PYPROJECT)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # Our environment (wot-labthing, its dependencies, pip) as a site dir, so its own
    # .pth files (the editable install's) work too: no second copy of the project.
    ours = sysconfig.get_paths()["purelib"]
    (Path(purelib) / "wot_labthing_env.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", str(root / "src")],
        check=True,
        capture_output=True,
        cwd=root,
    )
    assert (Path(purelib) / "acme_th1" / "__init__.py").exists()  # installed, not linked
    return venv


def _cli(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / "python"), "-m", "wot_labthing", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_list_shows_the_installed_driver_and_simulator(venv: Path, tmp_path: Path) -> None:
    result = _cli(venv, "list", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    drivers = {row["name"]: row for row in listing["drivers"]}
    simulators = {row["name"]: row for row in listing["simulators"]}
    assert drivers["acme-th1"]["class"] == "acme_th1:Thermometer"
    assert drivers["acme-th1"]["distribution"] == "acme-th1 1.2.0"
    assert drivers["acme-th1"]["summary"] == "An Acme TH-1 thermometer."
    assert simulators["acme-th1"]["class"] == "acme_th1.simulator:ThermometerSimulator"
    assert {"sangaboard", "keysight-34401a"} <= set(drivers)  # the shipped ones, registered alike
    text = _cli(venv, "list", cwd=tmp_path).stdout
    assert re.search(r"^  acme-th1 +acme_th1:Thermometer  \[acme-th1 1.2.0\]$", text, re.M), text


def test_td_by_registered_name(venv: Path, tmp_path: Path) -> None:
    result = _cli(venv, "td", "acme-th1", "--arg", "port=loop://", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout)["properties"]) == {"temperature"}


@pytest.fixture
def served(venv: Path, tmp_path: Path) -> Iterator[str]:
    (tmp_path / "lab.toml").write_text(CONFIG)
    command = [str(venv / "bin" / "python"), "-m", "wot_labthing", "serve", "lab.toml"]
    with subprocess.Popen(
        [*command, "--port", "0", "--no-mdns"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        urls = []
        for line in process.stdout:
            if line.startswith("TD: "):
                urls.append(line[4:].strip())
            elif line.startswith("ready"):
                break
        try:
            assert urls, process.stderr.read() if process.poll() is not None else "no TD"
            yield urls[0]
        finally:
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=20) == 0


def test_serve_the_installed_driver_with_its_simulator(served: str) -> None:
    td = httpx.get(served, timeout=10).json()
    assert td["title"] == "Thermometer"
    answer = httpx.get(served + "/properties/temperature", timeout=10)
    assert answer.status_code == 200
    assert answer.json() == 36.6


def test_simulate_by_registered_name(venv: Path, tmp_path: Path) -> None:
    command = [str(venv / "bin" / "python"), "-m", "wot_labthing", "simulate", "acme-th1"]
    with subprocess.Popen(
        [*command, "--socket", "0", "--option", "temperature=4"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        port = ""
        for line in process.stdout:
            if line.startswith("port: "):
                port = line.removeprefix("port: ").strip()
            elif line.startswith("ready"):
                break
        transport = wl.SerialTransport(port, timeout=5)
        try:
            assert transport.query("T?") == "4.00"
        finally:
            transport.close()
            process.terminate()
            assert process.wait(timeout=10) == 0
