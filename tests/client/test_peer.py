"""Bearer security, URI templates, default methods and LabThings-style runs, on a real peer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import wot_labthing as wl
from wot_labthing._consumed import ConsumedThing, Credentials, consume

from . import peer


@pytest.fixture
async def peer_url() -> AsyncIterator[str]:
    async with peer.running_peer() as url:
        yield url


@pytest.fixture
async def thing(peer_url: str) -> AsyncIterator[ConsumedThing]:
    async with await consume(peer_url, credentials=Credentials(token=peer.TOKEN)) as consumed:
        yield consumed


async def test_bearer_token_is_sent_and_required(peer_url: str, thing: ConsumedThing) -> None:
    await thing.write_property("brightness", 7)  # no htv:methodName: PUT by default
    assert await thing.read_property("brightness") == 7  # and GET
    with pytest.raises(wl.RemoteError, match="401 Unauthorized") as refused:
        await consume(peer_url)  # the TD itself needs the token (fetched after a 401)
    assert refused.value.status == 401
    # the TD was checked when consumed: constructing again on the loop need not repeat it
    unauthenticated = ConsumedThing(thing.td, url=peer_url, problems=thing.problems)
    try:
        with pytest.raises(wl.ConsumerError, match="bearer token"):
            await unauthenticated.read_property("brightness")
    finally:
        await unauthenticated.aclose()
    wrong = ConsumedThing(
        thing.td, url=peer_url, credentials=Credentials(token="wrong"), problems=thing.problems
    )
    try:
        with pytest.raises(wl.RemoteError) as caught:
            await wrong.read_property("brightness")
        assert caught.value.status == 401
    finally:
        await wrong.aclose()


async def test_uri_variables_are_checked_and_expanded(thing: ConsumedThing) -> None:
    assert await thing.read_property("channel", uri_variables={"index": 2}) == "channel 2"
    with pytest.raises(wl.InputError, match="maximum"):
        await thing.read_property("channel", uri_variables={"index": 9})


async def test_labthings_style_run_without_location(thing: ConsumedThing) -> None:
    handle = await thing.start_action("scan", {"points": 3})
    assert not handle.done and handle.status == "pending"
    assert handle.href is not None and handle.href.endswith("/actions/1")
    seen = [record["progress"] async for record in handle.updates()]
    assert seen == [25, 50, 75, 100]
    assert await handle.wait() == [0.5, 0.5, 0.5]


async def test_labthings_style_cancel(thing: ConsumedThing) -> None:
    handle = await thing.start_action("scan", {"points": 1})
    await handle.cancel()
    assert handle.raw_status == "cancelled" and handle.status == "failed" and handle.cancelled
    with pytest.raises(wl.RemoteError, match="cancelled") as caught:
        await handle.wait()
    assert caught.value.status == 409
