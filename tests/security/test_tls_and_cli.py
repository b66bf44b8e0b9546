"""TLS (a self-signed certificate made by the test) and client/CLI credentials."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import wot_labthing as wl
from wot_labthing._discovery import Advertiser, ThingRecord

from ..conftest import IN_CI, ROOT, demo_servient
from ..processes import cli
from .conftest import PASSWORDS, TOKENS, secured, served_lamp, serving_secured


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[str, str]:
    """A self-signed certificate for localhost and 127.0.0.1 (openssl CLI) and its key."""
    openssl = shutil.which("openssl")
    if openssl is None:
        if IN_CI:
            pytest.fail("openssl is needed to make a test certificate (CI=true: not skipping)")
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return str(cert), str(key)


async def test_https_serving_and_certificate_checks(certificate: tuple[str, str]) -> None:
    cert, key = certificate
    security = secured(certfile=cert, keyfile=key)
    async with serving_secured(security=security) as (server, _):
        assert server.url.startswith("https://")
        context = ssl.create_default_context(cafile=cert)
        async with httpx.AsyncClient(verify=context) as client:
            td = (
                await client.get(f"{server.url}things/lamp", auth=("olga", PASSWORDS["olga"]))
            ).json()
            assert td["base"].startswith("https://127.0.0.1:")
            lamp = await wl.consume(
                f"{server.url}things/lamp",
                client=client,
                credentials=wl.Credentials(token=TOKENS["driver"]),
            )
            await lamp.write_property("brightness", 5)
            assert await lamp.read_property("brightness") == 5
        async with httpx.AsyncClient() as unverified:  # the system CAs do not know the cert
            with pytest.raises(httpx.ConnectError):
                await unverified.get(f"{server.url}things/lamp")
        url = f"{server.url}things/lamp"
        code, out, err = await cli(
            "read", url, "brightness", "--cafile", cert, "--user", "olga:observer-pass"
        )
        assert (code, out.strip()) == (0, "5"), err
        code, out, err = await cli("read", url, "brightness", "--user", "olga:observer-pass")
        assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_serve_command_takes_certificate_options(certificate: tuple[str, str]) -> None:
    cert, key = certificate
    with demo_servient("--certfile", cert, "--keyfile", key) as (_, urls):
        assert urls and all(url.startswith("https://127.0.0.1:") for url in urls)
        result = subprocess.run(
            [sys.executable, "-m", "wot_labthing", "read", urls[0], "position", "--cafile", cert],
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr


def test_dns_sd_says_https() -> None:
    record = ThingRecord(name="lamp", title="Lamp", td_path="/things/lamp")
    for scheme in ("http", "https"):
        advertiser = Advertiser(port=8443, scheme=scheme)
        for info in [*advertiser.service_infos(record), *advertiser.service_infos(None)]:
            assert info.properties[b"scheme"] == scheme.encode()


async def test_cli_credentials_from_options_environment_and_netrc(tmp_path: Path) -> None:
    async with serving_secured() as (server, _):
        url = f"{server.url}things/lamp"
        code, _, err = await cli("write", url, "brightness", "6", "--token", TOKENS["driver"])
        assert code == 0, err
        code, out, err = await cli("read", url, "brightness")
        assert code == 2 and ("401" in err or "authentication" in err.lower()), err
        code, out, err = await cli(
            "read", url, "brightness", env={"WOT_LABTHING_USER": "olga:observer-pass"}
        )
        assert (code, out.strip()) == (0, "6"), err
        code, out, err = await cli(
            "read", url, "brightness", env={"WOT_LABTHING_TOKEN": TOKENS["watcher"]}
        )
        assert (code, out.strip()) == (0, "6"), err
        netrc = tmp_path / "netrc"
        netrc.write_text(f"machine 127.0.0.1 login otto password {PASSWORDS['otto']}\n")
        netrc.chmod(0o600)
        code, _, err = await cli("write", url, "brightness", "8", "--netrc", str(netrc))
        assert code == 0, err
        netrc.write_text(f"machine 127.0.0.1 login x account bearer password {TOKENS['watcher']}\n")
        code, out, err = await cli(
            "read", url, "brightness", env={"WOT_LABTHING_NETRC": str(netrc)}
        )
        assert (code, out.strip()) == (0, "8"), err
        code, _, err = await cli(
            "write", url, "brightness", "1", env={"WOT_LABTHING_NETRC": str(netrc)}
        )
        assert code == 2 and ("403" in err or "forbidden" in err.lower()), err
        assert served_lamp(server).brightness == 8
