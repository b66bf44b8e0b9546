"""The async client against our own servient: properties, actions, observation, errors."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import wot_labthing as wl
from wot_labthing._consumed import ActionHandle, ConsumedThing, consume

Served = tuple[wl.HttpServer, dict[str, Any]]


async def test_reads_and_writes_one_all_and_several_properties(
    servient: Served, stage: ConsumedThing
) -> None:
    server, things = servient
    assert stage.title == "Simulated stage"
    assert await stage.read_property("position") == [0, 0, 0]
    await stage.write_property("speed", 5000)
    assert things["stage"].speed == 5000
    assert await stage.read_all_properties() == {"speed": 5000.0, "position": [0, 0, 0]}
    assert await stage.read_multiple_properties(["speed"]) == {"speed": 5000.0}
    async with await consume(f"{server.url}things/meter") as meter:
        await meter.write_multiple_properties({"function": "RES", "nplc": 0.5})
        assert await meter.read_multiple_properties(["function", "nplc"]) == {
            "function": "RES",
            "nplc": 0.5,
        }


async def test_bad_values_fail_before_any_request(servient: Served, stage: ConsumedThing) -> None:
    server, things = servient
    with pytest.raises(wl.InputError, match="minimum") as caught:
        await stage.write_property("speed", 0)
    assert caught.value.affordance == "speed"
    with pytest.raises(wl.InputError) as bad_input:
        await stage.start_action("move_to", {"x": "far", "y": 1})
    assert bad_input.value.pointer == "/x"
    with pytest.raises(wl.InputError, match="requires an input"):
        await stage.start_action("move_to")
    with pytest.raises(wl.NotAllowedError, match="read-only"):
        await stage.write_property("position", [1, 2, 3])
    with pytest.raises(wl.NotFoundError, match="speedy"):
        await stage.read_property("speedy")
    async with await consume(f"{server.url}things/meter") as meter:
        with pytest.raises(wl.InputError):
            await meter.write_multiple_properties({"function": "RES", "nplc": 1000})
        assert things["meter"].function == "VOLT:DC"  # nothing was written
    assert things["stage"].speed == 1000.0
    assert server.servient.invocations.list() == []


async def test_synchronous_action_returns_its_output(servient: Served) -> None:
    server, _ = servient
    async with await consume(f"{server.url}things/meter") as meter:
        assert await meter.invoke_action("identify") == "wot-labthing,SimulatedMeter,0,1.0"
        handle = await meter.start_action("identify")
        assert handle.done and handle.status == "completed" and handle.progress == 100
        assert handle.output.startswith("wot-labthing")
    async with await consume(f"{server.url}things/gadget") as gadget:
        assert await gadget.invoke_action("nothing") is None


async def test_asynchronous_action_handle_follows_the_run(stage: ConsumedThing) -> None:
    await stage.write_property("speed", 2000)  # 2 s: longer than the servient's 1 s answer wait
    handle = await stage.start_action("move_to", {"x": 4000, "y": 500})
    assert isinstance(handle, ActionHandle)
    assert handle.href is not None and handle.href.endswith(f"/actions/{handle.id}")
    assert handle.status in {"pending", "running"}
    assert handle._events_link() == f"{handle.href}/events"  # from the record's links
    progress = []
    async for record in handle.updates():
        progress.append(record.get("progress"))  # absent until the run reports one
    assert handle.status == "completed"
    known = [value for value in progress if value is not None]  # None: before the run reports
    assert known == sorted(known) and known[-1] == 100
    assert len(progress) > 2, progress  # live updates, not just the end
    assert await handle.wait() == [4000, 500, 0]
    assert await stage.read_property("position") == [4000, 500, 0]


async def test_invoke_action_waits_for_an_asynchronous_run(stage: ConsumedThing) -> None:
    await stage.write_property("speed", 100000)
    assert await stage.invoke_action("move_to", {"x": 3, "y": 4, "z": 5}) == [3, 4, 5]


async def test_cancel_an_asynchronous_run(servient: Served, stage: ConsumedThing) -> None:
    await stage.write_property("speed", 200)
    handle = await stage.start_action("move_to", {"x": 5000, "y": 0})
    await handle.cancel()
    assert handle.status == "failed" and handle.cancelled
    with pytest.raises(wl.RemoteError, match="cancelled") as caught:
        await handle.wait()
    assert caught.value.status == 409
    position = await stage.read_property("position")
    assert position[0] < 5000


async def test_wait_timeout_leaves_the_run_going(stage: ConsumedThing) -> None:
    await stage.write_property("speed", 500)
    handle = await stage.start_action("move_to", {"x": 2000, "y": 0})
    with pytest.raises(wl.ActionTimeoutError, match="still running"):
        await handle.wait(0.3)
    assert await handle.refresh() == "running"
    await handle.cancel()


async def test_failed_run_raises_its_problem(servient: Served) -> None:
    server, _ = servient
    async with await consume(f"{server.url}things/gadget") as gadget:
        with pytest.raises(wl.RemoteError, match="the gadget broke") as caught:
            await gadget.invoke_action("fail")
        assert "exception" not in caught.value.problem  # no internals for clients (#14)


async def test_polling_fallback_when_no_event_stream(
    servient: Served, stage: ConsumedThing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A servient without the /events stream: the handle polls the record with back-off."""

    async def no_live(self: ActionHandle) -> Any:
        return
        yield

    monkeypatch.setattr(ActionHandle, "_live", no_live)
    await stage.write_property("speed", 2000)
    handle = await stage.start_action("move_to", {"x": 3000, "y": 0})
    seen = [record["status"] async for record in handle.updates()]
    assert seen[-1] == "completed"
    assert await handle.wait() == [3000, 0, 0]


@pytest.mark.parametrize("subprotocol", ["sse", "longpoll"])
async def test_observe_property_and_subscribe_event(stage: ConsumedThing, subprotocol: str) -> None:
    await stage.write_property("speed", 20000)
    async with await stage.observe_property("position", subprotocol=subprotocol) as positions:
        assert positions.subprotocol == subprotocol
        async with await stage.subscribe_event("moved", subprotocol=subprotocol) as moved:
            await stage.invoke_action("move_to", {"x": 200, "y": 100})
            assert await moved.next(5) == [200, 100, 0]
            values: list[Any] = []
            while not values or values[-1] != [200, 100, 0]:
                values.append(await positions.next(5))
    assert positions.closed
    with pytest.raises(StopAsyncIteration):
        await positions.__anext__()


async def test_closing_the_thing_closes_its_subscriptions(stage: ConsumedThing) -> None:
    subscription = await stage.observe_property("position")
    assert subscription.subprotocol == "sse"  # preferred when offered
    await stage.aclose()
    assert subscription.closed
    await stage.aclose()  # idempotent


async def test_remote_errors_carry_status_and_problem(servient: Served) -> None:
    server, _ = servient
    with pytest.raises(wl.RemoteError) as caught:
        await consume(f"{server.url}things/nothing-here")
    assert caught.value.status == 404
    assert "404" in str(caught.value)
    async with await consume(f"{server.url}things/stage", strict=True) as stage:
        stage.td["properties"]["speed"].pop("minimum")  # the client no longer knows the limit
        stage._validators.clear()
        with pytest.raises(wl.RemoteError) as invalid:
            await stage.write_property("speed", 0)
        assert invalid.value.status == 400
        assert invalid.value.problem["pointer"] == ""


async def test_unreachable_host_is_a_clear_error() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(wl.TDError, match="cannot connect"):
        await consume(f"http://127.0.0.1:{port}/things/x")


async def test_invalid_td_is_refused_unless_lenient(servient: Served) -> None:
    server, things = servient
    from wot_labthing._http.forms import thing_description

    td = thing_description(things["meter"], server.url)
    del td["security"]
    with pytest.raises(wl.TDError, match="security"):
        await consume(td)
    async with await consume(td, strict=False) as meter:
        assert meter.problems
        assert await meter.read_property("function") == "VOLT:DC"


async def test_request_timeout_is_a_clear_error(servient: Served) -> None:
    server, things = servient
    things["meter"].nplc = 100  # a reading takes 2 s
    async with await consume(f"{server.url}things/meter", timeout=0.3) as meter:
        with pytest.raises(wl.ConsumerError, match="no answer in time"):
            await meter.read_property("reading")


async def test_consume_does_not_block_the_loop(servient: Served) -> None:
    """A ticker keeps running while TDs are fetched and properties read."""
    server, _ = servient
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    ticker = asyncio.create_task(tick())
    async with await consume(f"{server.url}things/meter") as meter:
        await meter.read_property("reading")
    ticker.cancel()
    assert ticks > 0


async def test_a_large_td_is_validated_off_the_loop(servient: Served) -> None:
    """The schema check is ms of CPU per TD: conftest's EXTRA_BLOCKING fails it on the loop."""
    server, things = servient
    from wot_labthing._http.forms import thing_description

    td = thing_description(things["meter"], server.url)
    template = td["properties"]["function"]
    td["properties"] |= {f"copy{i}": template for i in range(300)}  # a big instrument's TD
    async with await consume(td) as meter:
        assert meter.problems == []
        assert await meter.read_property("copy299") == "VOLT:DC"
    async with await consume(f"{server.url}things/meter") as meter:  # fetched, then checked
        assert meter.problems == []


class Gate(wl.Thing):
    """An action that runs until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__(name="gate")
        self.opened = threading.Event()

    @wl.action
    def wait_for_gate(self) -> str:
        """Wait until the gate opens."""
        self.opened.wait(30)
        return "through"


async def test_start_action_does_not_wait_for_the_servient(serve: Any) -> None:
    """start_action asks for an answer at once; invoke_action takes the servient's wait."""
    gate = Gate()
    settings = wl.ServientSettings(action_wait=60)  # a client waiting for this would time out
    async with serve([gate], settings) as (server, _):
        async with await consume(f"{server.url}things/gate") as thing:
            handle = await asyncio.wait_for(thing.start_action("wait_for_gate"), 20)
            assert not handle.done
            gate.opened.set()
            assert await handle.wait(20) == "through"
            assert await thing.invoke_action("wait_for_gate") == "through"
