"""Record shape (WoT Profile: no null members), bounded logs and history, O(1) deltas, caps."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

import quart
from httpx_sse import aconnect_sse

import wot_labthing as wl

from ..conftest import Serve
from .conftest import Lab, assert_record, wait_status

_log = logging.getLogger("tests.records")
ASYNC = {"Prefer": "respond-async"}


class Chatty(wl.Thing):
    """Actions that log, publish data and hold until released."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.release = threading.Event()

    @wl.action
    def chatter(self, lines: int = 10) -> int:
        """Log ``lines`` lines and report progress for each."""
        for index in range(lines):
            _log.info("line %d", index)
            wl.update_task_progress(100 * index / lines)
        return lines

    @wl.action
    def readings(self, count: int = 5) -> int:
        """Append ``count`` readings one by one, then wait for release."""
        for index in range(count):
            wl.append_task_data({"reading": index})
        self.release.wait(30)
        return count

    @wl.action
    def hold(self) -> None:
        """Wait (cancellably) until released."""
        while not self.release.is_set():
            wl.cancellable_sleep(0.01)

    @wl.action
    def request_seen(self) -> str:
        """Which HTTP contexts the run's thread sees ("none" is right)."""
        return _contexts_seen()

    @wl.action
    async def request_seen_async(self) -> str:
        """Which HTTP contexts the run's task sees ("none" is right)."""
        await asyncio.sleep(0.01)
        return _contexts_seen()

    @wl.action
    def maybe(self) -> int | None:
        """Declares an output, returns none this time."""
        return None

    @wl.action(exclusive=True)
    def exclusive_hold(self) -> None:
        """An exclusive run that waits until released."""
        while not self.release.is_set():
            wl.cancellable_sleep(0.01)


def _contexts_seen() -> str:
    seen = [
        name
        for name, present in (
            ("request", quart.has_request_context()),
            ("app", quart.has_app_context()),
        )
        if present
    ]
    return ",".join(seen) or "none"


def no_nulls(record: dict[str, Any]) -> dict[str, Any]:
    assert all(value is not None for value in record.values()), record
    return assert_record(record)


async def test_records_have_no_null_members_in_any_state(serve: Serve, lab: Lab) -> None:
    chatty = Chatty(name="c")
    settings = wl.ServientSettings(action_threads=1)
    async with serve([lab, chatty], settings) as (_, client):
        running = await client.post("things/c/actions/hold", headers=ASYNC)
        pending = await client.post("things/c/actions/hold", headers=ASYNC)
        record = no_nulls(await wait_status(client, running.headers["Location"], {"running"}))
        assert "timeStarted" in record and "timeEnded" not in record
        assert "output" not in record and "error" not in record and "input" not in record
        record = no_nulls((await client.get(pending.headers["Location"])).json())
        assert record["status"] == "pending"
        assert not {"timeStarted", "timeEnded", "output", "error", "progress"} & set(record)
        chatty.release.set()
        for response in (running, pending):
            done = no_nulls(await wait_status(client, response.headers["Location"], {"completed"}))
            assert "output" not in done and "error" not in done  # returned nothing
            assert "timeStarted" in done and "timeEnded" in done
        completed = no_nulls((await client.post("things/lab/actions/double", json={"x": 2})).json())
        assert completed["output"] == 4 and "error" not in completed
        failed = no_nulls(
            await wait_status(
                client,
                (await client.post("things/lab/actions/fail")).headers["Location"],
                {"failed"},
            )
        )
        assert failed["error"]["detail"] == "kaput" and "output" not in failed
        listing = (await client.get("actions")).json()
        for each in listing:
            no_nulls(each)


async def test_a_declared_output_that_is_none_is_left_out_of_the_record(serve: Serve) -> None:
    async with serve([Chatty(name="c")]) as (_, client):
        response = await client.post("things/c/actions/maybe")
        record = no_nulls(await wait_status(client, response.headers["Location"], {"completed"}))
        assert "output" not in record
        output = await client.get(record["href"] + "/output")
        assert output.status_code == 200 and output.json() is None


async def test_the_log_kept_per_run_is_bounded_with_a_marker(serve: Serve) -> None:
    settings = wl.ServientSettings(action_log_lines=5)
    async with serve([Chatty(name="c")], settings) as (_, client):
        response = await client.post("things/c/actions/chatter", json={"lines": 20})
        record = await wait_status(client, response.headers["Location"], {"completed"})
        messages = [entry["message"] for entry in record["log"]]
        assert len(messages) == 6
        assert "15 earlier log entries dropped" in messages[0]
        assert record["log"][0]["level"] == "WARNING"
        assert messages[1:] == [f"line {index}" for index in range(15, 20)]


async def test_updates_are_published_as_small_deltas_and_the_history_stays_bounded(
    serve: Serve,
) -> None:
    """Thousands of log and progress updates: each hub message stays small (O(1))."""
    async with serve([Chatty(name="c")]) as (server, client):
        response = await client.post("things/c/actions/chatter", json={"lines": 3000})
        record = await wait_status(client, response.headers["Location"], {"completed"}, 30)
        assert len(record["log"]) == 1001  # action_log_lines (default 1000) and the marker
        hub = server.servient.hub
        hub.flush()
        history = hub._history[("c", "action", "chatter")]
        assert len(history) <= 100
        deltas = [message for message in history if "timeRequested" not in message.data]
        assert deltas, "updates are deltas"
        assert max(len(message.text) for message in deltas) < 400
        assert all(set(m.data) <= {"id", "href", "status", "progress", "logAppend"} for m in deltas)


async def test_appended_data_streams_the_new_items_and_the_record_shows_the_list(
    serve: Serve,
) -> None:
    chatty = Chatty(name="c")
    async with serve([chatty]) as (_, client):
        created = await client.post("things/c/actions/readings", json={"count": 0}, headers=ASYNC)
        url = created.headers["Location"]
        chatty.release.set()
        await wait_status(client, url, {"completed"})
        chatty.release.clear()
        created = await client.post("things/c/actions/readings", json={"count": 5}, headers=ASYNC)
        url = created.headers["Location"]
        record = await wait_status(client, url, {"running"})
        for _ in range(200):
            if len(record.get("data", [])) == 5:
                break
            await asyncio.sleep(0.02)
            record = (await client.get(url)).json()
        assert record["data"] == [{"reading": index} for index in range(5)]
        # a client following the run's stream gets the full record, then deltas to the end
        received: list[dict[str, Any]] = []

        async def follow() -> None:
            async with aconnect_sse(client, "GET", url + "/events") as source:
                async for event in source.aiter_sse():
                    received.append(json.loads(event.data))

        follower = asyncio.create_task(follow())
        for _ in range(200):
            if received:
                break
            await asyncio.sleep(0.02)
        chatty.release.set()
        await asyncio.wait_for(follower, 10)
        assert received[0]["data"] == record["data"] and received[-1]["status"] == "completed"


async def test_client_merges_appended_data_from_the_stream(serve: Serve) -> None:
    chatty = Chatty(name="c")
    async with serve([chatty]) as (server, _):
        async with await wl.consume(server.url + "things/c") as thing:
            handle = await thing.start_action("readings", {"count": 3})
            seen: list[dict[str, Any]] = []
            async for record in handle.updates():
                seen.append(record)
                if len(record.get("data") or []) == 3:
                    chatty.release.set()
            assert seen[-1]["data"] == [{"reading": 0}, {"reading": 1}, {"reading": 2}]
            assert handle.status == "completed"


async def test_pending_caps_refuse_with_503_and_record_nothing(serve: Serve) -> None:
    chatty = Chatty(name="c")
    settings = wl.ServientSettings(
        action_threads=1, action_max_pending=2, action_max_pending_per_thing=1
    )
    async with serve([chatty, Chatty(name="d")], settings) as (_, client):
        first = await client.post("things/c/actions/hold", headers=ASYNC)
        await wait_status(client, first.headers["Location"], {"running"})
        queued = await client.post("things/c/actions/hold", headers=ASYNC)
        assert queued.status_code == 201
        refused = await client.post("things/c/actions/hold", headers=ASYNC)
        assert refused.status_code == 503 and refused.headers["Retry-After"]
        assert refused.json()["type"].endswith(":busy")
        other = await client.post("things/d/actions/hold", headers=ASYNC)
        assert other.status_code == 201  # another Thing has its own per-Thing budget
        servient_wide = await client.post("things/d/actions/hold", headers=ASYNC)
        assert servient_wide.status_code == 503
        assert len((await client.get("actions")).json()) == 3, "nothing recorded for a 503"
        chatty.release.set()


async def test_exclusive_runs_count_as_pending_per_thing(serve: Serve) -> None:
    chatty = Chatty(name="c")
    settings = wl.ServientSettings(action_max_pending_per_thing=2)
    async with serve([chatty], settings) as (_, client):
        codes = [
            (await client.post("things/c/actions/exclusive_hold", headers=ASYNC)).status_code
            for _ in range(4)
        ]
        assert codes == [201, 201, 201, 503]  # one runs, two wait, the fourth is refused
        chatty.release.set()


async def test_a_runs_task_and_thread_carry_no_http_request_context(serve: Serve) -> None:
    """The run's task starts from an empty context: no request, no app context inside."""
    async with serve([Chatty(name="c")]) as (_, client):
        for action in ("request_seen", "request_seen_async"):
            for headers in (ASYNC, {}):
                response = await client.post(f"things/c/actions/{action}", headers=headers)
                record = await wait_status(client, response.headers["Location"], {"completed"})
                assert record["output"] == "none", (action, headers)


async def test_empty_answers_carry_no_content_type(serve: Serve, lab: Lab) -> None:
    async with serve([lab]) as (_, client):
        nothing = await client.post("things/lab/actions/nothing")
        assert nothing.status_code == 204 and "content-type" not in nothing.headers
        run = await client.post("things/lab/actions/steps", json={"n": 100}, headers=ASYNC)
        cancelled = await client.delete(run.headers["Location"])
        assert cancelled.status_code == 204 and "content-type" not in cancelled.headers
        removed = await client.delete(run.headers["Location"])
        assert removed.status_code == 204 and "content-type" not in removed.headers
        ok = await client.post("things/lab/actions/hello", json={"name": "x"})
        assert ok.headers["content-type"].startswith("application/json")
