"""The servient without any binding: its protocol-neutral API and its lifecycle as root."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import wot_labthing as wl
from wot_labthing._lifecycle import Endpoint


async def running(servient: wl.Servient, run: Any) -> None:
    """Wait (with a deadline) until ``run`` has started, through its updates."""
    _, updates = servient.subscribe_invocation(run.id)
    assert updates is not None
    with updates:
        while run.status == "pending":
            assert await updates.next(5) is not None, "the run never started"


class Bench(wl.Thing):
    """A Thing with one of each kind of affordance."""

    value: int = wl.property(default=1, observable=True, description="Observed.")
    quiet: int = wl.property(default=2, observable=False, description="Not observable.")
    alarm = wl.event(data=str, description="An alarm.")

    @wl.property
    def secret(self) -> int:
        """Read-only here."""
        return 3

    @wl.action
    def double(self, x: int) -> int:
        """Twice x."""
        return 2 * x

    @wl.action
    async def wait(self, seconds: float = 30) -> None:
        """Sleep until cancelled."""
        await asyncio.sleep(seconds)


async def test_properties_one_all_and_several() -> None:
    async with wl.Servient([Bench(name="b")]) as servient:
        assert await servient.read_property("b", "value") == 1
        assert await servient.read_multiple_properties("b", ["quiet", "value"]) == {
            "quiet": 2,
            "value": 1,
        }
        await servient.write_properties("b", {"value": 5, "quiet": 6})
        assert await servient.read_all_properties("b") == {"value": 5, "quiet": 6, "secret": 3}
        with pytest.raises(wl.NotFoundError):
            await servient.read_multiple_properties("b", ["value", "nope"])


async def test_invoke_query_list_and_cancel_without_any_url() -> None:
    async with wl.Servient([Bench(name="b")]) as servient:
        run = servient.invoke_action("b", "double", {"x": 4})
        assert await servient.wait_for_invocation(run, 5)
        record = servient.query_action(run.id).as_record()
        assert record["output"] == 8 and record["id"] == run.id
        assert "href" not in record and "links" not in record, "the core owns no URL"
        waiting = servient.invoke_action("b", "wait")  # no input: the defaults
        assert servient.list_invocations(thing="b") == [waiting, run]
        assert servient.list_invocations(status="completed") == [run]
        await running(servient, waiting)
        await servient.cancel_action(waiting.id)
        assert servient.query_action(waiting.id).status == "failed"
        await servient.cancel_action(run.id)  # finished: forgotten
        with pytest.raises(wl.NotFoundError):
            servient.query_action(run.id)
        with pytest.raises(wl.InputError):
            servient.list_invocations(status="sleeping")


async def test_observe_subscribe_and_follow_a_run() -> None:
    bench = Bench(name="b")
    async with wl.Servient([bench]) as servient:
        changes = servient.observe_properties("b")
        alarms = servient.subscribe_events("b", ["alarm"])
        with pytest.raises(wl.NotFoundError):
            servient.observe_properties("b", ["quiet"])
        bench.value = 9
        bench.alarm.emit("hot")
        change = await changes.next(5)
        alarm = await alarms.next(5)
        assert change is not None and (change.message.name, change.message.data) == ("value", 9)
        assert alarm is not None and alarm.message.data == "hot"
        run = servient.invoke_action("b", "wait", {"seconds": 30})
        same, updates = servient.subscribe_invocation(run.id)
        assert same is run and updates is not None
        await running(servient, run)
        await servient.cancel_action(run.id)
        statuses = []
        while (update := await updates.next(5)) is not None:
            statuses.append(update.message.data["status"])
            if statuses[-1] == "failed":
                break
        assert statuses[-1] == "failed"
        _, none = servient.subscribe_invocation(run.id)
        assert none is None, "a finished run has nothing more to say"
        for subscription in (changes, alarms, updates):
            subscription.close()


class Bare(wl.Thing):
    """A Thing with no events and no actions."""

    level: int = wl.property(default=0, description="Something to have.")


@pytest.mark.parametrize("kind", ["events", "actions"])
async def test_subscribe_to_all_or_named_events_and_actions(kind: str) -> None:
    async with wl.Servient([Bench(name="b"), Bare(name="bare")]) as servient:
        subscribe = getattr(servient, f"subscribe_{kind}")
        name = {"events": "alarm", "actions": "double"}[kind]
        with pytest.raises(wl.NotFoundError, match="nope"):
            subscribe("b", [name, "nope"])
        with pytest.raises(wl.NotFoundError, match=f"has no {kind}"):
            subscribe("bare")
        with pytest.raises(wl.NotFoundError):
            subscribe("missing")
        every, named = subscribe("b"), subscribe("b", [name])
        with every, named:
            if kind == "events":
                servient.thing("b").alarm.emit("hot")  # type: ignore[attr-defined]
            else:
                assert await servient.wait_for_invocation(
                    servient.invoke_action("b", "double", {"x": 1}), 5
                )
            for subscription in (every, named):
                delivery = await subscription.next(5)
                assert delivery is not None and delivery.message.name == name


class Part:
    """A binding, advertiser and registrar at once, logging what happens to it."""

    def __init__(self, name: str, log: list[str], fail_on: str | None = None) -> None:
        self.name, self.log, self.fail_on = name, log, fail_on
        self.seen: list[Endpoint] = []

    def _step(self, what: str) -> None:
        self.log.append(f"{what} {self.name}")
        if what == self.fail_on:
            raise RuntimeError(f"{self.name} cannot {what}")

    async def open(self, servient: wl.Servient, endpoints: Any = None) -> None:
        self.seen = list(endpoints or [])
        self._step("open")

    async def close(self) -> None:
        self._step("close")

    async def register(self, servient: wl.Servient, endpoints: list[Endpoint]) -> None:
        self.seen = list(endpoints)
        self._step("register")

    async def deregister(self) -> None:
        self._step("deregister")

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint("test", "127.0.0.1", 1, lambda name: f"/{name}")


class Logged(wl.Thing):
    """Logs its open and close."""

    def __init__(self, log: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.log = log

    def open(self) -> None:
        self.log.append(f"open {self.thing_name}")

    def close(self) -> None:
        self.log.append(f"close {self.thing_name}")


def composed(log: list[str], fail: tuple[str, str] | None = None) -> wl.Servient:
    servient = wl.Servient([Logged(log, name="t")])
    parts = {
        name: Part(name, log, fail[1] if fail and fail[0] == name else None)
        for name in ("http", "mdns", "tdd")
    }
    servient.add_binding(parts["http"])
    servient.add_advertiser(parts["mdns"])
    servient.add_registrar(parts["tdd"])
    return servient


async def test_things_bindings_advertisers_registrars_start_in_order_and_stop_in_reverse() -> None:
    log: list[str] = []
    servient = composed(log)
    async with servient:
        assert log == ["open t", "open http", "open mdns", "register tdd"]
        assert [e.scheme for e in servient.endpoints] == ["test"]
    assert log[4:] == ["deregister tdd", "close mdns", "close http", "close t"]
    await servient.stop()  # idempotent
    assert len(log) == 8


async def test_a_failed_start_undoes_what_was_started_by_the_same_path() -> None:
    log: list[str] = []
    servient = composed(log, fail=("mdns", "open"))
    with pytest.raises(RuntimeError, match="mdns cannot open"):
        await servient.start()
    assert log == ["open t", "open http", "open mdns", "close http", "close t"]
    assert not servient.started


async def test_a_failing_shutdown_step_does_not_stop_the_others() -> None:
    log: list[str] = []
    servient = composed(log, fail=("mdns", "close"))
    async with servient:
        pass
    assert log[4:] == ["deregister tdd", "close mdns", "close http", "close t"]


class StuckOnClose(wl.Thing):
    """A Thing whose close never returns until released (its port is wedged)."""

    def __init__(self) -> None:
        super().__init__(name="wedged")
        self.release = threading.Event()

    def close(self) -> None:
        self.release.wait()


async def test_a_thing_whose_close_hangs_is_abandoned_after_the_grace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    thing = StuckOnClose()
    servient = wl.Servient([thing], settings=wl.ServientSettings(shutdown_grace=0.2))
    try:
        await servient.start()
        await asyncio.wait_for(servient.stop(), 10)  # returns: the close is not awaited forever
    finally:
        thing.release.set()
    assert "closing Thing 'wedged' took over 0.2 s; its thread is abandoned" in caplog.text
