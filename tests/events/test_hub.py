"""The protocol-neutral event hub: ordering, ids, slow subscribers, cap, history, shutdown."""

from __future__ import annotations

import asyncio
import math
import threading
import time

import pytest

import wot_labthing as wl
from wot_labthing._events import Delivery, EventHub, Topic

VALUE = Topic.of("t", "property", ["v"])


@pytest.fixture
async def hub() -> EventHub:
    hub = EventHub(queue_size=4, history=5, max_subscribers=3)
    hub.bind_loop(asyncio.get_running_loop())
    return hub


async def test_publish_from_many_threads_keeps_each_threads_order_and_unique_ids() -> None:
    hub = EventHub(queue_size=10_000)
    hub.bind_loop(asyncio.get_running_loop())
    subscription = hub.subscribe(Topic.of("t"))

    def publish(worker: int) -> None:
        for index in range(500):
            hub.publish("t", "property", "v", [worker, index])

    threads = [threading.Thread(target=publish, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    deliveries: list[Delivery] = []
    while len(deliveries) < 2000:
        delivery = await subscription.next(2)
        assert delivery is not None, f"only {len(deliveries)} of 2000 arrived"
        deliveries.append(delivery)
    ids = [delivery.message.id for delivery in deliveries]
    assert ids == sorted(set(ids)), "ids are unique and increase in delivery order"
    for worker in range(4):
        mine = [d.message.data[1] for d in deliveries if d.message.data[0] == worker]
        assert mine == list(range(500))
    assert subscription.dropped == 0


async def test_publish_on_the_loop_comes_after_what_threads_published_before(hub: EventHub) -> None:
    subscription = hub.subscribe(Topic.of("t"))
    thread = threading.Thread(target=hub.publish, args=("t", "property", "v", "from thread"))
    thread.start()
    thread.join()
    hub.publish("t", "property", "v", "from loop")
    assert [d.message.data for d in subscription.drain()] == ["from thread", "from loop"]


async def test_topics_filter_by_thing_kind_and_name(hub: EventHub) -> None:
    exact = hub.subscribe(VALUE)
    events = hub.subscribe(Topic.of("t", "event"))
    hub.publish("t", "property", "v", 1)
    hub.publish("t", "property", "w", 2)
    hub.publish("other", "property", "v", 3)
    hub.publish("t", "event", "e", 4)
    assert [d.message.data for d in exact.drain()] == [1]
    assert [d.message.data for d in events.drain()] == [4]


async def test_slow_subscriber_loses_oldest_never_blocks_and_the_gap_is_marked(
    hub: EventHub,
) -> None:
    slow = hub.subscribe(VALUE)
    fast = hub.subscribe(VALUE)
    received = []
    for value in range(10):  # publish() never waits for a subscriber (a wait would hang here)
        hub.publish("t", "property", "v", value)
        delivery = fast.ready()
        assert delivery is not None and delivery.dropped == 0
        received.append(delivery.message.data)
    assert received == list(range(10)), "the fast subscriber sees everything"
    assert slow.dropped == 6
    drained = slow.drain()
    assert [d.message.data for d in drained] == [6, 7, 8, 9], "the newest values survive"
    assert [d.dropped for d in drained] == [6, 0, 0, 0], "the first after the gap carries it"


async def test_gap_is_carried_to_the_next_message_when_the_queue_size_is_one() -> None:
    hub = EventHub(queue_size=1)
    hub.bind_loop(asyncio.get_running_loop())
    subscription = hub.subscribe(VALUE)
    for value in range(5):
        hub.publish("t", "property", "v", value)
    (delivery,) = subscription.drain()
    assert (delivery.message.data, delivery.dropped) == (4, 4)


async def test_subscriber_cap_and_counting(hub: EventHub) -> None:
    subscriptions = [hub.subscribe(VALUE) for _ in range(3)]
    assert hub.subscriber_count == 3
    with pytest.raises(wl.BusyError) as refused:
        hub.subscribe(VALUE)
    assert refused.value.retry_after
    subscriptions[0].close()
    subscriptions[0].close()  # idempotent
    assert hub.subscriber_count == 2
    with hub.subscribe(VALUE):
        assert hub.subscriber_count == 3
    assert hub.subscriber_count == 2
    hub.publish("t", "property", "v", 1)
    assert [len(s.drain()) for s in subscriptions] == [0, 1, 1]


async def test_close_delivers_what_is_queued_then_ends_every_reader(hub: EventHub) -> None:
    subscription = hub.subscribe(VALUE)
    waiting = hub.subscribe(VALUE)
    reader = asyncio.create_task(waiting.next())
    await asyncio.sleep(0)
    hub.publish("t", "property", "v", 1)
    await hub.close()
    assert hub.subscriber_count == 0
    delivery = await asyncio.wait_for(reader, 1)
    assert delivery is not None and delivery.message.data == 1
    assert await asyncio.wait_for(waiting.next(), 1) is None
    assert [d.message.data async for d in subscription] == [1]
    late = hub.subscribe(VALUE)
    assert late.exhausted and hub.subscriber_count == 0
    hub.publish("t", "property", "v", 2)  # a no-op after close, no error


async def test_replay_after_an_id_and_history_kept_per_topic(hub: EventHub) -> None:
    hub.publish("t", "event", "rare", "once")
    for value in range(20):  # floods its own history only (5 kept per topic)
        hub.publish("t", "property", "v", value)
    everything = hub.subscribe(Topic.of("t"), after=0)
    replayed = [d.message.data for d in everything.drain()]
    assert replayed == ["once", 15, 16, 17, 18, 19], "oldest first, the rare event kept"
    everything.close()
    values = hub.subscribe(VALUE, after=0)
    kept = values.drain()
    assert [d.message.data for d in kept] == [15, 16, 17, 18, 19]
    assert values.replay_incomplete
    values.close()
    last_seen = kept[2].message.id  # ids increase but are change times, not a counter
    recent = hub.subscribe(VALUE, after=last_seen)
    assert [d.message.data for d in recent.drain()] == [18, 19]
    assert not recent.replay_incomplete


async def test_where_predicate_filters_live_and_replayed_messages(hub: EventHub) -> None:
    hub.publish("t", "action", "run", {"id": "a", "n": 1})
    hub.publish("t", "action", "run", {"id": "b", "n": 1})
    mine = hub.subscribe(
        Topic.of("t", "action", ["run"], where=lambda m: m.data["id"] == "a"), after=0
    )
    hub.publish("t", "action", "run", {"id": "b", "n": 2})
    hub.publish("t", "action", "run", {"id": "a", "n": 2})
    assert [d.message.data["n"] for d in mine.drain()] == [1, 2]


async def test_nan_fails_at_the_emitter_but_never_breaks_an_invocation(hub: EventHub) -> None:
    subscription = hub.subscribe(Topic.of("t"))
    with pytest.raises(wl.NotFiniteError):
        hub.publish("t", "property", "v", math.nan)
    hub.publish("t", "action", "run", {"id": "x", "output": math.inf})  # logged, skipped
    assert subscription.drain() == []


async def test_publish_before_the_hub_is_bound_is_a_no_op() -> None:
    hub = EventHub()
    hub.publish("t", "property", "v", 1)
    assert hub.last_id == 0


async def test_ids_are_seeded_from_the_clock_so_they_survive_restarts(hub: EventHub) -> None:
    hub.publish("t", "property", "v", 1)
    assert hub.last_id > time.time_ns() // 1000 - 60_000_000
    assert hub.last_id < 2**53, "ids stay exact in JavaScript numbers"


async def test_wait_times_out_without_a_message(hub: EventHub) -> None:
    subscription = hub.subscribe(VALUE)
    assert await subscription.wait(0.01) is False
    assert not subscription.exhausted


async def test_drain_messages_hands_over_the_gaps(hub: EventHub) -> None:
    subscription = hub.subscribe(VALUE)
    for value in range(6):
        hub.publish("t", "property", "v", value)
    messages, gaps = subscription.drain_messages()
    assert [message.data for message in messages] == [2, 3, 4, 5]
    assert gaps == {messages[0].id: 2}
    hub.publish("t", "property", "v", 6)
    assert subscription.drain_messages()[1] == {}


async def test_a_failing_filter_does_not_starve_other_subscribers(
    hub: EventHub, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(message: object) -> bool:
        raise KeyError("id")

    hub.subscribe(Topic.of("t", "property", ["v"], where=broken))
    hub.subscribe(Topic.of("t", where=broken))
    healthy = hub.subscribe(VALUE)
    hub.publish("t", "property", "v", 1)
    assert [d.message.data for d in healthy.drain()] == [1]
    assert caplog.text.count("delivering message") == 2
