"""Liveness (/healthz) and readiness (/readyz) probes for supervisors."""

from __future__ import annotations

import threading

import httpx

import wot_labthing as wl

from ..conftest import Serve


class Meter(wl.Thing):
    """A meter whose serial port can vanish and come back."""

    def __init__(self, *, unplugged: bool, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.unplugged = threading.Event()
        if unplugged:
            self.unplugged.set()

    def open(self) -> None:
        self._check()

    def _check(self) -> None:
        if self.unplugged.is_set():
            raise wl.DisconnectedError("no serial port matches 0403:6001", port="0403:6001")

    @wl.property
    def reading(self) -> float:
        """The last reading."""
        self._check()
        return 1.5


async def test_liveness_answers_while_the_servient_runs(serve: Serve) -> None:
    async with serve([Meter(name="m", unplugged=False)]) as (_, client):
        response = await client.get("healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "alive"}
        assert response.headers["cache-control"] == "no-store"


async def test_ready_once_every_thing_is_open(serve: Serve) -> None:
    async with serve([Meter(name="m", unplugged=False)]) as (_, client):
        response = await client.get("readyz")
        assert response.status_code == 200
        assert response.json() == {"ready": True, "things": ["m"], "unreachable": []}


async def test_an_unreachable_instrument_is_served_but_not_ready_until_it_answers() -> None:
    meter = Meter(name="m", unplugged=True)
    other = Meter(name="ok", unplugged=False)
    server = wl.HttpServer(wl.Servient([meter, other]), port=0)
    async with server, httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        response = await client.get("readyz")
        assert response.status_code == 503
        body = response.json()
        assert body["ready"] is False and body["things"] == ["m", "ok"]
        [entry] = body["unreachable"]
        assert entry["thing"] == "m" and "0403:6001" in entry["detail"]
        assert (await client.get("things/ok/properties/reading")).json() == 1.5
        assert (await client.get("healthz")).status_code == 200, "alive all the same"
        meter.unplugged.clear()  # plugged back in: the next read reaches it
        assert (await client.get("things/m/properties/reading")).json() == 1.5
        assert (await client.get("readyz")).json()["ready"] is True
        meter.unplugged.set()  # and gone again: a failed read marks it
        assert (await client.get("things/m/properties/reading")).status_code >= 500
        assert (await client.get("readyz")).status_code == 503


async def test_not_ready_before_start() -> None:
    servient = wl.Servient([Meter(name="m", unplugged=False)])
    assert servient.readiness() == {"ready": False, "things": ["m"], "unreachable": []}
    async with servient:
        assert servient.readiness()["ready"] is True
    assert servient.readiness()["ready"] is False
