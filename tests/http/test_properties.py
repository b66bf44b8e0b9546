from __future__ import annotations

import asyncio
import threading
import types
from typing import Any
from urllib.parse import urljoin

import wot_labthing as wl
from wot_labthing._consumed.forms import expand_href
from wot_labthing._resources import schema_validator

from ..conftest import AssertValidTd, Serve
from ..waiting import eventually

PROBLEM = "application/problem+json"


#: The ``slow`` getter says it has started, then blocks its worker until released.
SLOW_STARTED = threading.Event()
SLOW_RELEASED = threading.Event()
SLOW_RELEASED.set()  # other tests read it too, and should not wait


class Probe(wl.Thing):
    """A Thing with every kind of property, including misbehaving ones."""

    gain: int = wl.property(default=1, minimum=0, maximum=10, description="Gain.")
    label: str = wl.property(default="x", description="Label.")
    secret: str = wl.property(default="", write_only=True, description="Write only.")
    limits: dict[str, float] = wl.property(default={}, description="Named limits.")

    @wl.property
    def slow(self) -> int:
        """Blocks its worker until the test releases it."""
        SLOW_STARTED.set()
        SLOW_RELEASED.wait(30)
        return 1

    @wl.property
    def fast(self) -> int:
        """Answers at once."""
        return 2

    @wl.property
    def unplugged(self) -> float:
        """The instrument is gone."""
        raise wl.DisconnectedError("port /dev/ttyUSB0 vanished", port="/dev/ttyUSB0")

    @wl.property
    def buggy(self) -> float:
        """A driver bug."""
        raise ZeroDivisionError("oops")

    @wl.property
    def nan(self) -> float:
        """A reading that is not a number."""
        return float("nan")


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    schema_validator("problem.schema.json").validate(body)
    assert body["status"] == status
    assert "Traceback" not in response.text and "<html" not in response.text.lower()
    return body


async def test_read_and_write(serve: Serve) -> None:
    async with serve([Probe(name="p")]) as (_, client):
        read = await client.get("things/p/properties/gain")
        assert read.status_code == 200 and read.headers["content-type"] == "application/json"
        assert read.json() == 1
        write = await client.put("things/p/properties/gain", json=7)
        assert write.status_code == 204 and write.content == b""
        assert (await client.get("things/p/properties/gain")).json() == 7


async def test_read_all_and_write_multiple(serve: Serve) -> None:
    probe = Probe(name="p")
    async with serve([probe]) as (_, client):
        bad = await client.put("things/p/properties", json={"gain": 3, "label": 5})
        assert assert_problem(bad, 400)["pointer"] == ""
        assert probe.gain == 1, "nothing is written when one value is invalid"
        assert (
            await client.put("things/p/properties", json={"gain": 3, "label": "y"})
        ).status_code == 204
        assert (probe.gain, probe.label) == (3, "y")
        assert_problem(await client.put("things/p/properties", json=[1]), 400)


async def test_errors_are_problem_json(serve: Serve) -> None:
    async with serve([Probe(name="p")], wl.ServientSettings(max_body_bytes=64)) as (_, client):
        assert_problem(
            await client.put(
                "things/p/properties/gain",
                content=b"{",
                headers={"Content-Type": "application/json"},
            ),
            400,
        )
        too_big = assert_problem(await client.put("things/p/properties/gain", json=11), 400)
        assert too_big["pointer"] == "" and "maximum" in too_big["detail"]
        nested = assert_problem(
            await client.put("things/p/properties/limits", json={"lo": "x"}), 400
        )
        assert nested["pointer"] == "/lo"
        assert_problem(await client.get("things/nope"), 404)
        assert_problem(await client.get("things/p/properties/nope"), 404)
        assert_problem(await client.get("no/such/route"), 404)
        assert_problem(await client.put("things/p/properties/fast", json=1), 405)
        wrong = assert_problem(await client.delete("things/p/properties/gain"), 405)
        assert wrong["type"].endswith("not-allowed")
        assert_problem(await client.get("things/p/properties/secret"), 405)
        assert_problem(await client.put("things/p/properties/label", json="x" * 100), 413)
        assert_problem(
            await client.put(
                "things/p/properties/gain", content=b"1", headers={"Content-Type": "text/plain"}
            ),
            415,
        )
        unplugged = assert_problem(await client.get("things/p/properties/unplugged"), 503)
        # no device paths or exception names for clients (#14); the log has them by instance id
        assert unplugged["type"].endswith(":disconnected") and "port" not in unplugged
        assert "/dev/" not in unplugged["detail"]
        buggy = assert_problem(await client.get("things/p/properties/buggy"), 500)
        assert "exception" not in buggy and buggy["instance"].startswith("urn:uuid:")
        nan = assert_problem(await client.get("things/p/properties/nan"), 500)
        assert nan["type"].endswith(":not-finite")
        assert (await client.get("things/p/properties/fast")).json() == 2, "still serving"


async def test_a_blocking_getter_does_not_delay_other_reads(serve: Serve) -> None:
    SLOW_STARTED.clear()
    SLOW_RELEASED.clear()
    async with serve([Probe(name="p")]) as (_, client):
        slow = asyncio.create_task(client.get("things/p/properties/slow"))
        try:
            await eventually(SLOW_STARTED.is_set, "the slow getter to start")
            # answered while the slow getter still holds its worker: nothing waits on it
            assert (await client.get("things/p/properties/fast")).json() == 2
            assert not slow.done()
        finally:
            SLOW_RELEASED.set()
        assert (await slow).json() == 1


async def test_things_listing_head_and_well_known(
    serve: Serve, assert_valid_td: AssertValidTd
) -> None:
    async with serve([Probe(name="p"), Probe(name="q")]) as (server, client):
        listing = await client.get("things")
        assert [td["title"] for td in listing.json()] == ["Probe", "Probe"]
        for path in ("things", "things/p", ".well-known/wot"):
            head = await client.head(path)
            assert head.status_code == 200 and head.content == b""
        directory = (await client.get(".well-known/wot")).json()
        assert_valid_td(directory)
        form = directory["properties"]["things"]["forms"][0]
        things = await client.get(urljoin(directory["base"], expand_href(form["href"], {})))
        assert things.json() == listing.json()
        assert [link["href"] for link in directory["links"]] == [
            f"{server.url}things/p",
            f"{server.url}things/q",
        ]


async def test_every_plain_form_answers_its_documented_method(
    serve: Serve, assert_valid_td: AssertValidTd
) -> None:
    async with serve([Probe(name="p")]) as (_, client):
        td = (await client.get("things/p")).json()
        assert_valid_td(td)
        assert td["properties"]["gain"]["type"] == "integer"
        assert all(f["op"] == "readproperty" for f in td["properties"]["fast"]["forms"])
        assert all(f["op"] == "writeproperty" for f in td["properties"]["secret"]["forms"])
        forms = [form for prop in td["properties"].values() for form in prop["forms"]]
        for form in forms + td["forms"]:
            url = urljoin(td["base"], form["href"])
            if form["op"] in ("readproperty", "readallproperties") and "slow" not in url:
                response = await client.request(form["htv:methodName"], url)
                assert response.status_code in (200, 500, 503), url
            elif form["op"] == "writeproperty":
                response = await client.request("OPTIONS", url)
                assert form["htv:methodName"] in response.headers["Allow"]


def test_exported_members_are_sorted_and_complete() -> None:
    assert wl.__all__ == sorted(wl.__all__)
    # Public submodules (wot_labthing.testing) are attributes once imported, not re-exports.
    public = {
        name
        for name in dir(wl)
        if not name.startswith("_") and not isinstance(getattr(wl, name), types.ModuleType)
    }
    assert set(wl.__all__) <= public
    assert public - set(wl.__all__) == set()
