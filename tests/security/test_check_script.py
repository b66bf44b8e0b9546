"""scripts/security-check against real servients: all green when secured, red when open."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from ..conftest import ROOT, demo_servient
from ..mqtt.broker import free_port

SCRIPT = ROOT / "scripts" / "security-check"


def _run(url: str, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), url, *options],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _rows(output: str) -> dict[str, str]:
    """check name -> pass/FAIL from the printed table."""
    rows = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] in ("pass", "FAIL"):
            rows[parts[0]] = parts[1]
    return rows


def _base(urls: list[str]) -> str:
    parts = urlsplit(urls[0])
    return f"{parts.scheme}://{parts.netloc}/"


def test_secured_example_passes_every_check() -> None:
    with demo_servient("--host", "127.0.0.1", config="examples/secured.toml") as (_, urls):
        result = _run(_base(urls), "--user", "viewer:look-but-dont-touch")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = _rows(result.stdout)
    assert len(rows) == 8 and set(rows.values()) == {"pass"}, result.stdout
    assert "Traceback" not in result.stderr


def test_open_servient_on_the_network_fails_the_auth_checks() -> None:
    # every interface, as on a lab network; probed through loopback
    with demo_servient("--host", "0.0.0.0", config="examples/simulated.toml") as (_, urls):
        base = _base(urls)
        result = _run(base)
    assert result.returncode == 1, result.stdout + result.stderr
    rows = _rows(result.stdout)
    assert rows["declares-security"] == "FAIL"
    assert rows["auth"] == "FAIL"
    assert "without credentials: 200" in result.stdout
    # the protections that do not depend on credentials hold even there
    for name in ("host", "cors", "cross-site", "leaks", "head", "bodies"):
        assert rows[name] == "pass", result.stdout


def test_unreachable_servient_is_an_error_not_a_pass() -> None:
    result = _run("http://127.0.0.1:9/")
    assert result.returncode == 2
    assert "cannot reach" in result.stderr


def test_an_open_servient_with_a_login_broker_still_fails_declares_security(
    tmp_path: Path,
) -> None:
    """The broker's ``mqtt_basic_sc`` says nothing about HTTP; MQTT forms are not probed."""
    config = tmp_path / "open-with-broker.toml"
    port = free_port()  # no broker there: the binding keeps retrying, the TDs have the forms
    config.write_text(
        (ROOT / "examples" / "simulated.toml").read_text()
        + f'\n[mqtt]\nbroker = "mqtt://pub:secret@127.0.0.1:{port}"\n'
    )
    shutil.copy(ROOT / "examples" / "simulated.py", tmp_path / "simulated.py")
    with demo_servient("--host", "127.0.0.1", config=str(config)) as (_, urls):
        result = _run(_base(urls))
    assert result.returncode == 1, result.stdout + result.stderr
    rows = _rows(result.stdout)
    assert rows["declares-security"] == "FAIL", result.stdout
    assert rows["auth"] == "FAIL"
    assert "mqtt://" not in result.stdout and "Traceback" not in result.stderr
