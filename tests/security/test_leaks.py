"""No tracebacks, source paths or device paths reach clients; the log keeps them by id."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

import wot_labthing as wl
from wot_labthing._security import parse_security

from .conftest import assert_no_leak, assert_problem, eventually, serving_secured

NOSEC = parse_security(None)


class Faulty(wl.Thing):
    """Every way a driver can fail."""

    @wl.property
    def buggy(self) -> float:
        """A driver bug."""
        raise ZeroDivisionError("division by zero in /home/lab/drivers/faulty.py")

    @wl.property
    def unplugged(self) -> float:
        """The instrument is gone."""
        raise wl.DisconnectedError("port /dev/ttyUSB3 vanished", port="/dev/ttyUSB3")

    @wl.property
    def mute(self) -> float:
        """The instrument does not answer."""
        raise wl.InstrumentTimeoutError("no answer on /dev/serial/by-id/usb-lab-if00")

    @wl.action
    def crash(self) -> None:
        """A failing run."""
        raise RuntimeError("failed opening /opt/lab/calibration.dat")


async def _failed_record(client: Any) -> dict[str, Any]:
    response = await client.post("things/faulty/actions/crash", json={})
    record: dict[str, Any] = response.json()
    while record["status"] not in ("failed", "completed", "cancelled"):
        await asyncio.sleep(0.02)
        record = (await client.get(f"actions/{record['id']}")).json()
    return record


async def test_errors_keep_details_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    async with serving_secured([Faulty(name="faulty")], security=NOSEC) as (_, client):
        response = await client.get("things/faulty/properties/buggy")
        body = assert_problem(response, 500)
        assert body["instance"].startswith("urn:uuid:")
        assert "exception" not in body and "ZeroDivision" not in response.text
        await eventually(lambda: body["instance"] in caplog.text, "incident id logged")
        assert "ZeroDivisionError" in caplog.text  # the log has the traceback
        for name, status in (("unplugged", 503), ("mute", 504)):
            response = await client.get(f"things/faulty/properties/{name}")
            body = assert_problem(response, status)
            assert "port" not in body and "<path>" in body["detail"]
            assert body["instance"].startswith("urn:uuid:")
        record = await _failed_record(client)
        assert record["status"] == "failed"
        assert_no_leak(str(record))
        assert all("traceback" not in entry for entry in record["log"])
        assert "calibration.dat" in caplog.text


async def test_debug_setting_shows_details() -> None:
    settings = wl.ServientSettings(debug=True)
    async with serving_secured([Faulty(name="faulty")], security=NOSEC, settings=settings) as (
        _,
        client,
    ):
        response = await client.get("things/faulty/properties/unplugged")
        assert response.json()["port"] == "/dev/ttyUSB3"
        record = await _failed_record(client)
        assert any("Traceback" in entry.get("traceback", "") for entry in record["log"])
