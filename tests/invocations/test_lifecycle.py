from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest

import wot_labthing as wl
from wot_labthing._invocations import retention as _retention

from ..conftest import AssertValidTd, Serve
from ..waiting import eventually
from .conftest import Lab, assert_record, wait_status

JSON = {"Content-Type": "application/json"}


async def test_quick_async_action_answers_201_completed_with_location(
    serve: Serve, lab: Lab
) -> None:
    async with serve([lab]) as (server, client):
        response = await client.post("things/lab/actions/double", json={"x": 21})
        assert response.status_code == 201
        record = assert_record(response.json())
        assert response.headers["Location"] == record["href"]
        assert record["href"] == f"{server.url}actions/{record['id']}"
        assert record["status"] == "completed"
        assert record["output"] == 42
        assert record["input"] == {"x": 21}
        assert record["timeRequested"] <= record["timeStarted"] <= record["timeEnded"]
        assert [entry["message"] for entry in record["log"]] == ["doubling 21"]
        output = await client.get(record["href"] + "/output")
        assert output.status_code == 200 and output.json() == 42
        assert {link["rel"] for link in record["links"]} == {"self", "output"}


async def test_slow_action_answers_within_the_window_then_completes(serve: Serve, lab: Lab) -> None:
    settings = wl.ServientSettings(action_wait=0.2)
    async with serve([lab], settings) as (_, client):
        response = await client.post("things/lab/actions/steps", json={"n": 20, "delay": 0.05})
        assert response.status_code == 201
        record = assert_record(response.json())
        assert record["status"] == "running"
        assert 0 <= record["progress"] < 100
        final = await wait_status(client, response.headers["Location"], {"completed"})
        assert final["output"] == 20 and final["progress"] == 100


async def test_status_code_never_depends_on_timing(serve: Serve, lab: Lab) -> None:
    async with serve([lab]) as (_, client):
        immediate = await client.post(
            "things/lab/actions/double", json={"x": 1}, headers={"Prefer": "respond-async"}
        )
        waited = await client.post(
            "things/lab/actions/double", json={"x": 1}, headers={"Prefer": "wait=5"}
        )
        assert immediate.status_code == waited.status_code == 201
        assert waited.json()["status"] == "completed"


async def test_prefer_respond_async_answers_at_once(serve: Serve, lab: Lab) -> None:
    async with serve([lab]) as (_, client):
        response = await client.post(
            "things/lab/actions/steps",
            json={"n": 10, "delay": 0.1},
            headers={"Prefer": "respond-async"},
        )
        assert response.json()["status"] in {"pending", "running"}  # answered before the end
        await client.delete(response.headers["Location"])


async def test_synchronous_actions_answer_with_their_output(serve: Serve, lab: Lab) -> None:
    async with serve([lab]) as (_, client):
        response = await client.post("things/lab/actions/hello", json={"name": "lab"})
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.json() == "hello lab"
        empty = await client.post("things/lab/actions/nothing")
        assert empty.status_code == 204 and empty.content == b""
        runs = (await client.get("actions", params={"action": "hello"})).json()
        assert [run["status"] for run in runs] == ["completed"]


async def test_invalid_input_is_400_with_pointer_and_leaves_no_record(
    serve: Serve, lab: Lab
) -> None:
    async with serve([lab]) as (_, client):
        for body in ({"x": "seven"}, {}, {"x": 1, "extra": 2}):
            response = await client.post("things/lab/actions/double", json=body)
            assert response.status_code == 400
            assert response.headers["content-type"] == "application/problem+json"
        wrong_type = await client.post("things/lab/actions/double", json={"x": "seven"})
        assert wrong_type.json()["pointer"] == "/x"
        malformed = await client.post("things/lab/actions/double", content=b"{", headers=JSON)
        assert malformed.status_code == 400
        assert (await client.get("actions")).json() == []
        assert (await client.get("things/lab/actions/double")).json() == []


async def test_failure_records_a_problem_and_the_traceback(serve: Serve, lab: Lab) -> None:
    # the record keeps the problem; the traceback goes to the server log (#14: no leaks)
    async with serve([lab]) as (_, client):
        record = assert_record((await client.post("things/lab/actions/fail")).json())
        assert record["status"] == "failed"
        assert record["error"]["type"] == "urn:wot-labthing:problem:internal-error"
        assert "exception" not in record["error"]
        assert record["error"]["detail"] == "kaput"
        assert "traceback" not in record["log"][-1]
        missing = await client.get(record["href"] + "/output")
        assert missing.status_code == 404


async def test_failure_traceback_in_the_record_with_debug(serve: Serve, lab: Lab) -> None:
    async with serve([lab], wl.ServientSettings(debug=True)) as (_, client):
        record = assert_record((await client.post("things/lab/actions/fail")).json())
        assert record["error"]["exception"] == "RuntimeError"
        assert record["error"]["detail"] == "kaput"
        assert "Traceback" in record["log"][-1]["traceback"]
        assert "kaput" in record["log"][-1]["traceback"]


async def test_cancel_a_running_sync_action_runs_the_abort_hook(serve: Serve, lab: Lab) -> None:
    async with serve([lab]) as (_, client):
        response = await client.post(
            "things/lab/actions/guarded", headers={"Prefer": "respond-async"}
        )
        href = response.headers["Location"]
        await wait_status(client, href, {"running"})
        cancel = await client.delete(href)
        assert cancel.status_code == 204
        # The 204 comes once the run has stopped: the next GET already tells how it ended.
        record = assert_record((await client.get(href)).json())
        assert record["status"] == "failed"
        assert record["error"]["type"] == "urn:wot-labthing:problem:cancelled"
        assert "client request" in record["error"]["detail"]
        assert lab.aborted.is_set()
        assert "traceback" not in record["log"][-1]
        # The record stays after a cancel; a second DELETE removes the finished record.
        assert (await client.delete(href)).status_code == 204
        assert (await client.get(href)).status_code == 404


async def test_cancel_an_async_action_uses_task_cancellation(serve: Serve, lab: Lab) -> None:
    async with serve([lab]) as (_, client):
        response = await client.post(
            "things/lab/actions/sleeper", json={"seconds": 30}, headers={"Prefer": "respond-async"}
        )
        href = response.headers["Location"]
        running = await wait_status(client, href, {"running"})
        assert running["progress"] == 10
        await client.delete(href)
        record = await wait_status(client, href, {"failed"}, timeout=2)
        assert record["error"]["type"].endswith(":cancelled")
        assert next(entry["message"] for entry in record["log"]) == "async sleeping"


async def test_finished_record_is_removed_by_delete(serve: Serve, lab: Lab) -> None:
    async with serve([lab]) as (_, client):
        href = (await client.post("things/lab/actions/double", json={"x": 2})).headers["Location"]
        assert (await client.delete(href)).status_code == 204
        gone = await client.get(href)
        assert gone.status_code == 404
        assert gone.headers["content-type"] == "application/problem+json"
        assert (await client.delete(href)).status_code == 404


async def test_timeout_fails_the_run_with_a_timeout_problem(serve: Serve, lab: Lab) -> None:
    async with serve([lab]) as (_, client):
        response = await client.post("things/lab/actions/overdue", headers={"Prefer": "wait=3"})
        record = assert_record(response.json())
        assert record["status"] == "failed"
        assert record["error"]["type"] == "urn:wot-labthing:problem:action-timeout"


async def test_retention_expires_finished_records_by_timer(
    serve: Serve, lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_retention, "SWEEP_INTERVAL", 0.05)
    settings = wl.ServientSettings(action_retention=0.2)
    async with serve([lab], settings) as (server, client):
        running = await client.post(
            "things/lab/actions/steps",
            json={"n": 40, "delay": 0.02},
            headers={"Prefer": "respond-async"},
        )
        done = await client.post("things/lab/actions/double", json={"x": 1})
        assert (await client.get(done.headers["Location"])).status_code == 200

        async def expired() -> bool:  # a GET looks the record up; only the timer expires it
            return (await client.get(done.headers["Location"])).status_code == 404

        await eventually(expired, "the finished record to expire")
        # The finished one expired by the timer; the running one never expires.
        still = (await client.get(running.headers["Location"])).json()
        assert still["status"] in {"running", "completed"}
        assert "seconds=0.2" in (await client.get("actions")).headers["X-Retention"]


async def test_max_records_evicts_oldest_finished_never_running(serve: Serve, lab: Lab) -> None:
    settings = wl.ServientSettings(action_max_records=3)
    async with serve([lab], settings) as (_, client):
        slow = await client.post(
            "things/lab/actions/steps",
            json={"n": 50, "delay": 0.02},
            headers={"Prefer": "respond-async"},
        )
        for x in range(5):
            await client.post("things/lab/actions/double", json={"x": x})
        records = (await client.get("actions")).json()
        assert len(records) == 3
        assert slow.json()["id"] in {record["id"] for record in records}
        assert [record["input"]["x"] for record in records if record["action"] == "double"] == [
            4,
            3,
        ]


async def test_exclusive_actions_queue_and_never_overlap(serve: Serve, lab: Lab) -> None:
    async with serve([lab]) as (_, client):
        responses = await asyncio.gather(
            *(
                client.post(
                    "things/lab/actions/move",
                    json={"seconds": 0.1},
                    headers={"Prefer": "respond-async"},
                )
                for _ in range(3)
            )
        )
        statuses = sorted(response.json()["status"] for response in responses)
        assert "pending" in statuses
        for response in responses:
            await wait_status(client, response.headers["Location"], {"completed"})
        assert lab.max_concurrent == 1


async def test_cancelled_run_ends_only_after_its_cleanup(serve: Serve, lab: Lab) -> None:
    """A cancelled sync run stays running until its thread is done; the queue waits too."""
    async with serve([lab]) as (_, client):
        first = await client.post(
            "things/lab/actions/slow_stop", headers={"Prefer": "respond-async"}
        )
        await wait_status(client, first.headers["Location"], {"running"})
        queued = await client.post(
            "things/lab/actions/move", json={"seconds": 0.1}, headers={"Prefer": "respond-async"}
        )
        assert queued.json()["status"] == "pending"
        assert (await client.delete(first.headers["Location"])).status_code == 204
        record = await wait_status(client, first.headers["Location"], {"failed"})
        await wait_status(client, queued.headers["Location"], {"completed"})
        ended = datetime.fromisoformat(record["timeEnded"].replace("Z", "+00:00")).timestamp()
        assert ended >= lab.cleanup_done - 0.01
        assert lab.max_concurrent == 1


async def test_exclusive_reject_mode_answers_503_with_retry_after(serve: Serve, lab: Lab) -> None:
    async with serve([lab]) as (_, client):
        first = await client.post(
            "things/lab/actions/strict_move", headers={"Prefer": "respond-async"}
        )
        assert first.status_code == 201
        second = await client.post("things/lab/actions/strict_move")
        assert second.status_code == 503
        assert second.headers["Retry-After"] == "3"
        assert second.json()["type"].endswith(":busy")
        assert len((await client.get("things/lab/actions/strict_move")).json()) == 1


async def test_server_stays_responsive_while_every_worker_blocks(serve: Serve, lab: Lab) -> None:
    settings = wl.ServientSettings(action_threads=2)
    async with serve([lab], settings) as (_, client):
        runs = [
            await client.post(
                "things/lab/actions/blocking",
                json={"seconds": 30},
                headers={"Prefer": "respond-async"},
            )
            for _ in range(3)
        ]
        try:
            await wait_status(client, runs[0].headers["Location"], {"running"})
            # Answered while both workers are still blocked (only the test unblocks them).
            assert (await client.get("things/lab/properties/ping")).json() == "pong"
            listing = await client.get("actions", params={"action": "blocking"})
            # Two threads at most: two runs are running, the third waits as pending.
            statuses = sorted(run["status"] for run in listing.json())
            assert statuses == ["pending", "running", "running"]
        finally:
            lab.unblocked.set()


async def test_shutdown_cancels_running_actions(lab: Lab) -> None:
    servient = wl.Servient([lab], settings=wl.ServientSettings(shutdown_grace=2))
    await servient.start()
    guarded = servient.invoke_action("lab", "guarded", None)
    sleeper = servient.invoke_action("lab", "sleeper", {"seconds": 60})
    await eventually(
        lambda: {guarded.as_record()["status"], sleeper.as_record()["status"]} == {"running"},
        "both runs to start",
    )
    await servient.stop()
    for invocation in (guarded, sleeper):
        record = invocation.as_record()
        assert record["status"] == "failed"
        assert record["error"]["type"].endswith(":cancelled")
        assert "shut down" in record["error"]["detail"]
        # ended by its cancellation, not marked failed when the grace ran out
        assert "ignored it" not in record["error"]["detail"]
    assert lab.aborted.is_set()


async def test_profile_shapes_and_filters(serve: Serve, lab: Lab) -> None:
    async with serve([lab]) as (_, client):
        await client.post("things/lab/actions/double", json={"x": 1})
        await client.post("things/lab/actions/double", json={"x": 2})
        await client.post("things/lab/actions/fail")
        everything = await client.get("things/lab/actions")
        assert everything.status_code == 200
        keyed: dict[str, Any] = everything.json()
        # queryallactions lists the actions whose runs are ActionStatus resources
        assert set(keyed) == {name for name, a in Lab.actions.items() if not a.synchronous}
        assert [run["input"]["x"] for run in keyed["double"]] == [2, 1]
        for runs in keyed.values():
            for run in runs:
                assert_record(run)
        failed = (await client.get("actions", params={"status": "failed"})).json()
        assert [run["action"] for run in failed] == ["fail"]
        assert (await client.get("actions", params={"thing": "other"})).json() == []
        assert (await client.get("actions", params={"status": "bogus"})).status_code == 400
        assert (await client.get("things/lab/actions/nope")).status_code == 404
        assert (await client.post("things/lab/actions/nope")).status_code == 404


async def test_td_offers_action_forms_that_work(
    serve: Serve, lab: Lab, assert_valid_td: AssertValidTd
) -> None:
    async with serve([lab]) as (server, client):
        td = (await client.get("things/lab")).json()
        assert_valid_td(td)
        double = td["actions"]["double"]
        assert double["synchronous"] is False
        ops = [form["op"] for form in double["forms"]]
        assert ops == ["invokeaction", "queryaction", "cancelaction"]
        assert "actionID" in double["uriVariables"]
        assert [form["op"] for form in td["actions"]["hello"]["forms"]] == ["invokeaction"]
        assert td["actions"]["hello"]["synchronous"] is True
        assert any(form["op"] == "queryallactions" for form in td["forms"])
        from urllib.parse import urljoin

        invoke = double["forms"][0]
        response = await client.request(
            invoke["htv:methodName"], urljoin(td["base"], invoke["href"]), json={"x": 3}
        )
        query = double["forms"][1]
        url = urljoin(td["base"], query["href"].replace("{actionID}", response.json()["id"]))
        assert url == response.headers["Location"]
        assert (await client.request(query["htv:methodName"], url)).json()["output"] == 6


@pytest.mark.allow_blocking  # calls the blocking helpers directly, as a script would
async def test_context_helpers_are_noops_outside_an_invocation(lab: Lab) -> None:
    assert wl.current_task() is None
    wl.update_task_progress(50)
    wl.update_task_data({"partial": 1})
    wl.raise_if_cancelled()
    wl.cancellable_sleep(0.001)
    with wl.abort_hook(lambda: None):
        pass
    assert lab.steps(n=2, delay=0) == 2
    assert lab.context_probe() is False


async def test_current_task_inside_a_run(serve: Serve, lab: Lab) -> None:
    async with serve([lab]) as (_, client):
        record = (await client.post("things/lab/actions/context_probe")).json()
        assert record["output"] is True
