"""Discovering without a network: service records to URLs, directories, merging."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from zeroconf import ServiceInfo

from wot_labthing._discovery import DIRECTORY_TYPE, WOT_TYPE, DiscoveredThing, discover_sync
from wot_labthing._discovery.browser import _Discovery, _merge, _Service, _service_urls

HOST = "http://10.0.0.5:8080"


def td(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"urn:uuid:{name}",
        "title": name.title(),
        "description": f"The {name}.",
        "base": f"{HOST}/things/{name}/",
        **extra,
    }


DIRECTORY_TD = {
    "@type": "ThingDirectory",
    "title": "wot-labthing servient",
    "base": f"{HOST}/",
    "properties": {"things": {"forms": [{"href": "things", "op": "readproperty"}]}},
    "links": [{"rel": "item", "href": "things/stage"}, {"rel": "item", "href": "things/meter"}],
}


def service(type_: str, addresses: list[str], txt: dict[str, str]) -> ServiceInfo:
    return ServiceInfo(
        type_,
        f"Stage.{WOT_TYPE}",
        port=8080,
        properties=txt,
        server="lab-wot-8080.local.",
        parsed_addresses=addresses,
    )


def test_a_thing_service_becomes_td_urls_ipv4_first() -> None:
    info = service(WOT_TYPE, ["fe80::1", "10.0.0.5"], {"td": "/things/stage", "type": "Thing"})
    found = _service_urls(info, subtype=False)
    assert found == _Service(
        "Thing", ["http://10.0.0.5:8080/things/stage", "http://[fe80::1]:8080/things/stage"]
    )


def test_txt_defaults_scheme_http_and_type_from_the_subtype() -> None:
    info = service(DIRECTORY_TYPE, ["10.0.0.5"], {"td": "/.well-known/wot", "scheme": "https"})
    assert _service_urls(info, subtype=True) == _Service(
        "Directory", ["https://10.0.0.5:8080/.well-known/wot"]
    )
    bare = service(WOT_TYPE, ["10.0.0.5"], {"td": "things/x"})
    assert _service_urls(bare, subtype=False) == _Service(
        "Thing", ["http://10.0.0.5:8080/things/x"]
    )


@asynccontextmanager
async def make_discovery(routes: dict[str, Any], calls: list[str]) -> AsyncIterator[_Discovery]:
    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        if str(request.url) not in routes:
            return httpx.Response(404)
        return httpx.Response(200, json=routes[str(request.url)])

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        yield _Discovery(client)


async def test_a_directory_lists_its_things_each_with_its_own_td_url() -> None:
    calls: list[str] = []
    routes = {
        f"{HOST}/.well-known/wot": DIRECTORY_TD,
        f"{HOST}/things": [td("stage"), td("meter"), td("other", base="http://elsewhere/")],
    }
    async with make_discovery(routes, calls) as discovery:
        await discovery.service(_Service("Directory", [f"{HOST}/.well-known/wot"]))
    found = {thing.title: (thing.td_url, exact) for thing, exact in discovery.found}
    assert found == {
        "Stage": (f"{HOST}/things/stage", True),
        "Meter": (f"{HOST}/things/meter", True),
        # not among the directory's item links: known only through the directory
        "Other": (f"{HOST}/.well-known/wot", False),
    }
    assert all(thing.via == f"{HOST}/.well-known/wot" for thing, _ in discovery.found)
    assert calls == [f"{HOST}/.well-known/wot", f"{HOST}/things"]


async def test_the_next_address_is_tried_when_one_does_not_answer() -> None:
    calls: list[str] = []
    urls = ["http://172.17.0.1:8080/things/stage", f"{HOST}/things/stage"]
    async with make_discovery({f"{HOST}/things/stage": td("stage")}, calls) as discovery:
        await discovery.service(_Service("Thing", urls))
        [(thing, exact)] = discovery.found
        assert (thing.td_url, thing.via, exact) == (f"{HOST}/things/stage", None, True)
        assert thing.description == "The stage."
        # the same TD URL again (another service record for it) is not fetched twice
        await discovery.service(_Service("Thing", [f"{HOST}/things/stage"]))
    assert calls == urls and len(discovery.found) == 1


def entry(url: str, via: str | None = None, **fields: Any) -> DiscoveredThing:
    return DiscoveredThing(title=fields.get("title", "T"), td_url=url, td=fields, via=via)


def test_merging_keeps_one_entry_per_id_or_url_and_prefers_the_direct_one() -> None:
    direct = entry(f"{HOST}/things/stage", id="urn:1", title="Stage")
    listed = entry(f"{HOST}/things/stage", via="D", id="urn:1", title="Stage")
    by_id_only = entry("http://[fe80::1%2]:8080/things/stage", id="urn:1", title="Stage")
    no_id = entry(f"{HOST}/things/meter", title="Meter")
    no_id_again = entry(f"{HOST}/things/meter", via="D", title="Meter")
    inexact = entry(f"{HOST}/things", via="D", title="Listed only")  # no id, no own URL
    pairs = [(listed, True), (by_id_only, True), (direct, True), (no_id_again, True)]
    merged = _merge([*pairs, (no_id, True), (inexact, False)])
    assert merged == [inexact, no_id, direct]


def test_discover_sync_refuses_to_run_inside_an_event_loop() -> None:
    async def inside() -> None:
        discover_sync(0.1)

    with pytest.raises(RuntimeError, match="await discover"):
        asyncio.run(inside())


def test_found_things_serialise_to_json() -> None:
    thing = entry(f"{HOST}/things/stage", id="urn:1")
    assert thing.id == "urn:1"
    json.dumps(thing.td)
