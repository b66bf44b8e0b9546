"""The SSE stream of one invocation's updates at ``/actions/{id}/events``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from httpx_sse import aconnect_sse

from ..conftest import Serve
from ..waiting import eventually
from .conftest import Sensor

ASYNC = {"Prefer": "respond-async"}


async def updates(client: httpx.AsyncClient, url: str, **headers: str) -> list[dict[str, Any]]:
    records = []
    async with aconnect_sse(client, "GET", url + "/events", headers=headers) as source:
        assert source.response.status_code == 200
        async for event in source.aiter_sse():  # ends when the server closes the stream
            assert event.event == "ramp"
            records.append(json.loads(event.data))
    return records


async def test_progress_of_a_run_streams_until_it_ends(serve: Serve) -> None:
    sensor = Sensor(name="s")
    async with serve([sensor]) as (_, client):
        created = await client.post("things/s/actions/ramp", json={"steps": 5}, headers=ASYNC)
        other = await client.post("things/s/actions/ramp", json={"steps": 3}, headers=ASYNC)
        records = await asyncio.wait_for(updates(client, created.headers["Location"]), 10)
        assert {record["id"] for record in records} == {created.json()["id"]}, "only this run"
        location = created.headers["Location"]
        assert location.startswith("http://")
        assert {record["href"] for record in records} == {location}, "absolute, like the record"
        assert all(
            link["href"].startswith(location) for r in records for link in r.get("links", [])
        )
        # A full record on connect and at the end; small deltas in between (O(1) each).
        assert "timeRequested" in records[0] and "timeRequested" in records[-1]
        deltas = records[1:-1]
        assert deltas and all("timeRequested" not in r and "log" not in r for r in deltas)
        allowed = {"id", "href", "links", "status", "progress", "timeStarted"}
        assert all(set(r) <= allowed for r in deltas)
        assert records[-1]["status"] == "completed" and records[-1]["output"] == 5
        assert [r["status"] for r in records].count("completed") == 1
        progress = [record["progress"] for record in records if "progress" in record]
        assert progress == sorted(progress) and progress[-1] == 100
        steps = {0, 20, 40, 60, 80, 100}
        missed = {step for step in steps if step >= progress[0]} - set(progress)
        assert not missed, "every progress update after the snapshot arrives"
        assert other.json()["id"] != created.json()["id"]
        # A running record links its stream; a finished one no longer does.
        events = [link for link in created.json()["links"] if link["rel"] == "events"]
        assert events == [
            {
                "rel": "events",
                "href": location + "/events",
                "type": "text/event-stream",
                "methods": ["GET"],
            }
        ]
        assert all(link["rel"] != "events" for link in records[-1]["links"])


async def test_a_finished_run_streams_its_final_record_once(serve: Serve) -> None:
    sensor = Sensor(name="s")
    async with serve([sensor]) as (_, client):
        created = await client.post("things/s/actions/ramp", json={"steps": 1}, headers=ASYNC)
        url = created.headers["Location"]

        async def completed() -> bool:
            return bool((await client.get(url)).json()["status"] == "completed")

        await eventually(completed, "the run to complete")
        records = await asyncio.wait_for(updates(client, url), 5)
        assert [record["status"] for record in records] == ["completed"]


async def test_last_event_id_replays_missed_updates_of_the_run(serve: Serve) -> None:
    sensor = Sensor(name="s")
    async with serve([sensor]) as (_, client):
        created = await client.post("things/s/actions/ramp", json={"steps": 20}, headers=ASYNC)
        url = created.headers["Location"]
        first_id = None
        async with aconnect_sse(client, "GET", url + "/events") as source:
            async for event in source.aiter_sse():
                if event.id:  # the snapshot has no id; the first update does
                    first_id = event.id
                    seen = json.loads(event.data).get("progress")
                    break
        assert first_id is not None
        records = await asyncio.wait_for(updates(client, url, **{"Last-Event-ID": first_id}), 10)
        progress = [r["progress"] for r in records if "progress" in r]
        assert progress[0] > (seen or -1) and progress == sorted(progress)
        assert records[-1]["status"] == "completed"


async def test_unknown_invocation_is_404(serve: Serve) -> None:
    async with serve([Sensor(name="s")]) as (_, client):
        response = await client.get("actions/nope/events")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
