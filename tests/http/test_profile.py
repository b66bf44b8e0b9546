"""Every rule of the WoT Profiles our TDs claim (HTTP Basic and HTTP SSE), checked over HTTP.

Each test names the Profile section it checks (W3C WoT Profile, WD 2025-09-30 /
editor's draft).
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin

import httpx

import wot_labthing as wl
from wot_labthing._http.forms import PROFILES

from ..events.conftest import eventually, sse_events, subscribers

HTTP_BASIC = "https://www.w3.org/2022/wot/profile/http-basic/v1"
HTTP_SSE = "https://www.w3.org/2022/wot/profile/http-sse/v1"
RECOMMENDED_ERRORS = {400, 401, 403, 404, 500, 503}


class Lamp(wl.Thing):
    """A lamp with a dimmer, a fade and an overheating alarm."""

    on: bool = wl.property(default=False, observable=True, description="Lit or not.")
    level: int = wl.property(
        default=50, minimum=0, maximum=100, observable=True, description="Brightness in %."
    )
    overheated = wl.event(data=float, description="The lamp is too hot (°C).")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.release = threading.Event()

    @wl.property
    def model(self) -> str:
        """The lamp's model name (read-only)."""
        return "L-1"

    @wl.action(synchronous=True, safe=True, idempotent=True)
    def identify(self) -> str:
        """Name the lamp (synchronous, with an output)."""
        return "lamp"

    @wl.action(synchronous=True, idempotent=True)
    def stop(self) -> None:
        """Stop fading (synchronous, no output)."""
        self.release.set()

    @wl.action
    def fade(self, level: int) -> int:
        """Fade to a level (asynchronous): waits until released."""
        while not self.release.is_set():
            wl.cancellable_sleep(0.01)
        self.level = level
        return level

    @wl.action
    def fail(self) -> None:
        """Always fails (asynchronous)."""
        raise wl.InstrumentError("the bulb is broken")


async def _td(client: httpx.AsyncClient) -> dict[str, Any]:
    td: dict[str, Any] = (await client.get("things/lamp")).json()
    return td


def _form(affordance: dict[str, Any], op: str, subprotocol: str | None = None) -> dict[str, Any]:
    """The first form for ``op`` (and ``subprotocol``), as a Profile consumer picks it."""
    for form in affordance["forms"]:
        ops = form["op"] if isinstance(form["op"], list) else [form["op"]]
        if op in ops and form.get("subprotocol") == subprotocol:
            return dict(form)
    raise AssertionError(f"no {op} form")


def _url(td: dict[str, Any], form: dict[str, Any]) -> str:
    url: str = urljoin(td["base"], form["href"])
    assert url.startswith(("http://", "https://"))
    assert form.get("contentType", "application/json") == "application/json"
    return url


def _without_content_type(response: httpx.Response) -> None:
    assert "content-type" not in response.headers, response.headers
    assert response.content == b""


async def test_identifier_and_action_synchronous_on_every_td(serve: Any) -> None:
    """§5.1, §6.1 (identifier) and §5.2.5 (synchronous MUST be true or false)."""
    async with serve([Lamp(name="lamp")]) as (_, client):
        td = await _td(client)
        assert td["profile"] == PROFILES == [HTTP_BASIC, HTTP_SSE]
        assert td["@context"][0] == "https://www.w3.org/2022/wot/td/v1.1"
        assert all(isinstance(a["synchronous"], bool) for a in td["actions"].values())
        directory = (await client.get(".well-known/wot")).json()
        assert directory["profile"] == PROFILES


async def test_readproperty_and_readallproperties(serve: Any) -> None:
    """§5.2.4 readproperty: 200 + application/json; readallproperties: an object by name."""
    async with serve([Lamp(name="lamp")]) as (_, client):
        td = await _td(client)
        form = _form(td["properties"]["level"], "readproperty")
        response = await client.get(_url(td, form), headers={"Accept": "application/json"})
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json() == 50
        form = _form({"forms": td["forms"]}, "readallproperties")
        response = await client.get(_url(td, form), headers={"Accept": "application/json"})
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {"on": False, "level": 50, "model": "L-1"}


async def test_writes_answer_204_without_a_content_type(serve: Any) -> None:
    """§5.2.4 writeproperty and writemultipleproperties: 204 (no body, so no Content-Type)."""
    async with serve([Lamp(name="lamp")]) as (_, client):
        td = await _td(client)
        form = _form(td["properties"]["level"], "writeproperty")
        response = await client.put(_url(td, form), json=70)
        assert response.status_code == 204
        _without_content_type(response)
        form = _form({"forms": td["forms"]}, "writemultipleproperties")
        response = await client.put(_url(td, form), json={"on": True, "level": 20})
        assert response.status_code == 204
        _without_content_type(response)


async def test_writes_take_effect_and_bad_writes_are_problems(serve: Any) -> None:
    """§5.2.4 writes; §5.1 errors: a recommended code and a Problem Details body."""
    async with serve([Lamp(name="lamp")]) as (_, client):
        td = await _td(client)
        assert (await client.put("things/lamp/properties/level", json=70)).status_code == 204
        multiple = await client.put("things/lamp/properties", json={"on": True, "level": 20})
        assert multiple.status_code == 204
        assert (await client.get("things/lamp/properties")).json()["level"] == 20
        for path, value in (("properties/level", 101), ("properties", {"level": "x"})):
            bad = await client.put(urljoin(td["base"], path), json=value)
            assert bad.status_code == 400
            assert bad.headers["content-type"] == "application/problem+json"
            assert {"type", "title", "status"} <= set(bad.json())
        unknown = await client.get("things/lamp/properties/nope")
        assert unknown.status_code in RECOMMENDED_ERRORS and unknown.status_code == 404


async def test_a_read_only_property_in_a_multiple_write_is_bad_input_not_405(serve: Any) -> None:
    """The properties resource accepts PUT, so a 405 (whose Allow lacked PUT) was wrong."""
    async with serve([Lamp(name="lamp")]) as (_, client):
        response = await client.put("things/lamp/properties", json={"model": "x", "level": 1})
        assert response.status_code == 400
        assert response.json()["pointer"] == "/model"
        assert "allow" not in response.headers
        assert (await client.get("things/lamp/properties/level")).json() == 50  # none written
        single = await client.put("things/lamp/properties/model", json="x")
        assert single.status_code == 405  # this resource really is read-only
        assert {m.strip() for m in single.headers["allow"].split(",")} == {"GET", "HEAD"}


async def test_synchronous_invokeaction_with_an_output(serve: Any) -> None:
    """§5.2.5 Synchronous Action Response with an output: 200 + application/json."""
    async with serve([Lamp(name="lamp")]) as (_, client):
        td = await _td(client)
        form = _form(td["actions"]["identify"], "invokeaction")
        assert form["htv:methodName"] == "POST"
        response = await client.post(_url(td, form), headers={"Accept": "application/json"})
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json() == "lamp"


async def test_synchronous_invokeaction_without_an_output(serve: Any) -> None:
    """§5.2.5 Synchronous Action Response without an output: 204, Content-Type not set."""
    async with serve([Lamp(name="lamp")]) as (_, client):
        td = await _td(client)
        response = await client.post(_url(td, _form(td["actions"]["stop"], "invokeaction")))
        assert response.status_code == 204
        _without_content_type(response)


async def test_synchronous_actions_offer_no_query_or_cancel(serve: Any) -> None:
    """§5.2.5: a Thing that only answers synchronously SHOULD NOT support query/cancel."""
    lamp = Lamp(name="lamp")
    async with serve([lamp]) as (server, client):
        td = await _td(client)
        for name in ("identify", "stop"):
            ops = {op for form in td["actions"][name]["forms"] for op in [form["op"]]}
            assert ops == {"invokeaction"}
            assert "uriVariables" not in td["actions"][name]
        assert (await client.post("things/lamp/actions/identify")).status_code == 200
        (run,) = server.servient.invocations.list(thing="lamp", action="identify")
        for method in ("GET", "DELETE"):
            response = await client.request(method, f"actions/{run.id}")
            assert response.status_code == 404
        assert (await client.get(f"actions/{run.id}/output")).status_code == 404
        assert (await client.get(f"actions/{run.id}/events")).status_code == 404
        everything = await client.get("things/lamp/actions")
        assert set(everything.json()) == {"fade", "fail"}  # only queryable actions
        logged = [r for r in (await client.get("actions")).json() if r["id"] == run.id]
        assert logged and "href" not in logged[0] and "links" not in logged[0]
        assert logged[0]["status"] == "completed"


async def test_asynchronous_invokeaction_queryaction_and_queryallactions(serve: Any) -> None:
    """§5.2.5 Asynchronous Action Response, queryaction and queryallactions."""
    lamp = Lamp(name="lamp")
    async with serve([lamp]) as (_, client):
        td = await _td(client)
        form = _form(td["actions"]["fade"], "invokeaction")
        response = await client.post(
            _url(td, form), json={"level": 80}, headers={"Prefer": "respond-async"}
        )
        assert response.status_code == 201
        assert response.headers["content-type"] == "application/json"
        status = response.json()
        location = response.headers["location"]
        assert location.startswith(("http://", "https://"))
        assert status["href"] == location
        assert status["status"] in ("pending", "running")
        assert datetime.fromisoformat(status["timeRequested"]).tzinfo is not None
        query = _form(td["actions"]["fade"], "queryaction")
        assert query["htv:methodName"] == "GET" and "{actionID}" in query["href"]
        queried = await client.get(location, headers={"Accept": "application/json"})
        assert queried.status_code == 200
        assert queried.headers["content-type"] == "application/json"
        assert queried.json()["status"] in ("pending", "running")
        lamp.release.set()
        deadline = asyncio.get_running_loop().time() + 10
        while (record := (await client.get(location)).json())["status"] != "completed":
            assert asyncio.get_running_loop().time() < deadline, record
            await asyncio.sleep(0.02)
        assert record["output"] == 80 and datetime.fromisoformat(record["timeEnded"])
        failing = await client.post("things/lamp/actions/fail")
        failed_href = failing.headers["location"]
        while (failed := (await client.get(failed_href)).json())["status"] != "failed":
            assert asyncio.get_running_loop().time() < deadline, failed
            await asyncio.sleep(0.02)
        assert {"type", "title"} <= set(failed["error"])  # Problem Details
        form = _form({"forms": td["forms"]}, "queryallactions")
        listing = await client.get(_url(td, form), headers={"Accept": "application/json"})
        assert listing.status_code == 200
        assert listing.headers["content-type"] == "application/json"
        assert [r["href"] for r in listing.json()["fade"]] == [location]
        assert [r["status"] for r in listing.json()["fail"]] == ["failed"]


async def test_action_status_objects_have_no_null_members(serve: Any) -> None:
    """§5.2.5 ActionStatus: optional members are left out, never null."""
    async with serve([Lamp(name="lamp")]) as (_, client):
        response = await client.post(
            "things/lamp/actions/fade", json={"level": 1}, headers={"Prefer": "respond-async"}
        )
        status = response.json()
        assert all(value is not None for value in status.values()), status
        assert {"status", "href", "timeRequested"} <= set(status)


async def test_cancelaction_answers_204(serve: Any) -> None:
    """§5.2.5 cancelaction: DELETE on the ActionStatus resource, 204."""
    async with serve([Lamp(name="lamp")]) as (_, client):
        td = await _td(client)
        response = await client.post(
            "things/lamp/actions/fade", json={"level": 1}, headers={"Prefer": "respond-async"}
        )
        cancel = _form(td["actions"]["fade"], "cancelaction")
        assert cancel["htv:methodName"] == "DELETE"
        deleted = await client.delete(response.headers["location"])
        assert deleted.status_code == 204


def _timestamp(event_id: str) -> datetime:
    moment = datetime.fromisoformat(event_id)
    assert event_id.endswith("Z") and moment.tzinfo is not None
    assert abs(moment - datetime.now(UTC)) < timedelta(minutes=5)
    return moment


async def test_sse_observeproperty_frames(serve: Any) -> None:
    """§6.2 observeproperty: 200 text/event-stream; event = name, data = JSON, id = time."""
    lamp = Lamp(name="lamp")
    async with serve([lamp]) as (server, client):
        td = await _td(client)
        form = _form(td["properties"]["level"], "observeproperty", "sse")
        assert form["htv:methodName"] == "GET"
        listener = asyncio.create_task(sse_events(client, _url(td, form), 2))
        await eventually(*subscribers(server, 1))
        lamp.level = 10
        lamp.level = 11
        events = await asyncio.wait_for(listener, 10)
        assert [(name, data) for _, name, data in events] == [("level", 10), ("level", 11)]
        stamps = [_timestamp(event_id) for event_id, _, _ in events]
        assert stamps == sorted(set(stamps))
        replay = await sse_events(
            client, _url(td, form), 1, headers={"Last-Event-ID": events[0][0]}
        )
        assert [data for _, _, data in replay] == [11]  # the missed change, by timestamp


async def test_sse_observeallproperties_and_subscribeevent(serve: Any) -> None:
    """§6.2 observeallproperties (event = each property's name) and §6.3 subscribeevent."""
    lamp = Lamp(name="lamp")
    async with serve([lamp]) as (server, client):
        td = await _td(client)
        form = _form({"forms": td["forms"]}, "observeallproperties", "sse")
        everything = asyncio.create_task(sse_events(client, _url(td, form), 2))
        await eventually(*subscribers(server, 1))
        lamp.on = True
        lamp.level = 5
        events = await asyncio.wait_for(everything, 10)
        assert [(name, data) for _, name, data in events] == [("on", True), ("level", 5)]
        for event_id, _, _ in events:
            _timestamp(event_id)
        await eventually(*subscribers(server, 0))  # the first stream has closed
        form = _form(td["events"]["overheated"], "subscribeevent", "sse")
        alarm = asyncio.create_task(sse_events(client, _url(td, form), 1))
        await eventually(*subscribers(server, 1))
        lamp.emit_event("overheated", 81.5)
        ((event_id, name, data),) = await asyncio.wait_for(alarm, 10)
        assert (name, data) == ("overheated", 81.5)
        _timestamp(event_id)
