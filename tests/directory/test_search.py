"""Searching by title and ``@type``: a real Domus TDD (SPARQL search) and our own ``/things``.

The TDD is asked with SPARQL for the TDs whose title could match, and only those are
fetched; a directory without search, or whose search fails, is listed and filtered
on the client with the same meaning (``ThingQuery.matches``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

import wot_labthing as wl
from wot_labthing._consumed.directory import ThingQuery, sparql_title_query

from ..processes import cli
from .tdd import Tdd

CONTEXT = ["https://www.w3.org/2022/wot/td/v1.1", {"saref": "https://w3id.org/saref#"}]
WEIRD = "Odd \"quoted\" [lamp] {x} \\ \\u0022 'single' $..*"
TITLES = {
    "urn:test:bench": ("Bench lamp", "saref:LightSwitch"),
    "urn:test:lab": ("Lab LAMP 2", ["saref:LightSwitch", "saref:Sensor"]),
    "urn:test:meter": ("Multimeter", "saref:Sensor"),
    "urn:test:weird": (WEIRD, None),
}


def td(td_id: str, title: str, types: Any) -> dict[str, Any]:
    thing: dict[str, Any] = {
        "@context": CONTEXT,
        "id": td_id,
        "title": title,
        "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
        "security": "nosec_sc",
        "properties": {
            "level": {"type": "integer", "forms": [{"href": f"http://10.0.0.1/{td_id}/level"}]}
        },
    }
    if types is not None:
        thing["@type"] = types
    return thing


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tdd]:
    """A TDD holding four TDs, one of them with a title full of query syntax (read-only)."""
    tdd = Tdd(tmp_path_factory.mktemp("tdd"))
    tdd.start()
    try:
        for td_id, (title, types) in TITLES.items():
            response = httpx.put(
                f"{tdd.url}/things/{td_id}",
                json=td(td_id, title, types),
                headers={"Content-Type": "application/td+json"},
                timeout=30,
            )
            assert response.status_code == 201, response.text
        yield tdd
    finally:
        tdd.stop()


@asynccontextmanager
async def recording(
    fail_search: bool = False,
) -> AsyncIterator[tuple[httpx.AsyncClient, list[tuple[str, str, int]]]]:
    """A client that records (method, path, status); ``fail_search``: the search answers 500."""
    seen: list[tuple[str, str, int]] = []
    real = httpx.AsyncHTTPTransport()

    class Transport(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if fail_search and request.url.path.startswith("/search/"):
                response = httpx.Response(500, json={"title": "search is down"})
            else:
                response = await real.handle_async_request(request)
            seen.append((request.method, request.url.path, response.status_code))
            return response

        async def aclose(self) -> None:
            await real.aclose()

    async with httpx.AsyncClient(transport=Transport(), timeout=30) as client:
        yield client, seen


def titles(found: list[wl.FoundThing]) -> list[str]:
    return sorted(thing.title for thing in found)


async def test_a_title_search_asks_the_tdd_and_fetches_only_the_matches(filled: Tdd) -> None:
    async with recording() as (client, seen):
        found = await wl.search_things(filled.url, title="lamp", client=client)
    assert titles(found) == sorted(["Bench lamp", "Lab LAMP 2", WEIRD])
    assert ("POST", "/search/sparql", 200) in seen
    assert ("GET", "/things", 200) not in seen  # no full listing
    fetched = {path for method, path, _ in seen if method == "GET" and path.startswith("/things/")}
    assert fetched == {"/things/urn:test:bench", "/things/urn:test:lab", "/things/urn:test:weird"}
    # what the TDD handed back is usable: each found TD keeps the directory's URL
    assert all(thing.td_url.startswith(filled.url) for thing in found)


async def test_type_and_title_together(filled: Tdd) -> None:
    switches = await wl.search_things(filled.url, type="saref:LightSwitch")
    assert titles(switches) == ["Bench lamp", "Lab LAMP 2"]
    sensors = await wl.search_things(filled.url, type="saref:Sensor", title="LAMP")
    assert titles(sensors) == ["Lab LAMP 2"]
    assert await wl.search_things(filled.url, type="saref:Nothing") == []
    # the TDD adds @type "Thing" to every TD it stores
    assert len(await wl.search_things(filled.url, type="Thing")) == len(TITLES)


@pytest.mark.parametrize(
    "title",
    [
        WEIRD,
        '"quoted"',
        "[lamp] {x}",
        "\\ \\u0022",  # a backslash and a literal \u0022 (SPARQL unescapes \u before parsing)
        "'single'",
        "$..*",
    ],
)
async def test_query_syntax_in_a_title_is_searched_for_not_run(filled: Tdd, title: str) -> None:
    async with recording() as (client, seen):
        found = await wl.search_things(filled.url, title=title, client=client)
    assert titles(found) == [WEIRD]
    assert ("POST", "/search/sparql", 200) in seen  # the search itself answered, no fallback
    # and it answered only the one TD: the title was compared, not run as query syntax
    assert [path for method, path, _ in seen if method == "GET"] == ["/", "/things/urn:test:weird"]


@pytest.mark.parametrize(
    "title",
    [
        '") } UNION { ?id ?p ?o } #',
        '" ) ) } } SELECT * WHERE { ?s ?p ?o } #',
        "\\u0022) } UNION { GRAPH ?g { ?id ?p ?o } } #",
        "lamp\n",
    ],
)
async def test_an_injection_attempt_matches_nothing(filled: Tdd, title: str) -> None:
    async with recording() as (client, seen):
        assert await wl.search_things(filled.url, title=title, client=client) == []
    assert ("POST", "/search/sparql", 200) in seen
    assert [path for method, path, _ in seen if method == "GET"] == ["/"]  # no candidates


def test_the_sparql_literal_holds_only_unreserved_characters_and_escapes() -> None:
    query = sparql_title_query(WEIRD + "\U0001f52c ß")
    literal = query.rsplit('"', 2)[1]
    assert set(literal) <= set("abcdefghijklmnopqrstuvwxyz0123456789-._~%ABCDEF")


async def test_a_failing_search_falls_back_to_filtering_the_listing(filled: Tdd) -> None:
    async with recording(fail_search=True) as (client, seen):
        found = await wl.search_things(filled.url, title="lamp", type="saref:Sensor", client=client)
    assert titles(found) == ["Lab LAMP 2"]
    assert ("POST", "/search/sparql", 500) in seen
    assert ("GET", "/things", 200) in seen


class Lamp(wl.Thing):
    """A lamp on the bench."""

    level: int = wl.property(default=0)


async def test_our_servient_has_no_search_and_is_filtered_the_same_way() -> None:
    things = [
        Lamp(name="left", title="Left lamp"),
        Lamp(name="right", title="Right LAMP"),
        Lamp(name="meter", title="Meter"),
    ]
    async with wl.HttpServer(wl.Servient(things), host="127.0.0.1", port=0) as server:
        async with recording() as (client, seen):
            found = await wl.search_things(server.url, title="lamp", client=client)
        assert titles(found) == ["Left lamp", "Right LAMP"]
        assert [t.td_url for t in sorted(found, key=lambda t: t.title)] == [
            server.url + "things/left",
            server.url + "things/right",
        ]
        assert not any(path.startswith("/search") for _, path, _ in seen)
        # our TDs carry no @type: a type search finds nothing, as on any TD without it
        assert await wl.search_things(server.url, type="Thing") == []
        assert titles(await wl.search_things(server.url)) == ["Left lamp", "Meter", "Right LAMP"]


def test_the_query_matches_on_the_client_as_documented() -> None:
    query = ThingQuery(title="LaMp", type="saref:Sensor")
    assert query.matches({"title": "Lab lamp", "@type": ["Thing", "saref:Sensor"]})
    assert not query.matches({"title": "Lab lamp", "@type": "saref:SensorX"})
    assert not query.matches({"title": "Meter", "@type": "saref:Sensor"})
    assert not query.matches({"@type": "saref:Sensor"})  # no title
    assert ThingQuery().matches({}) and not ThingQuery()


async def test_the_things_command_searches_by_title_and_type(filled: Tdd) -> None:
    code, out, err = await cli(
        *("things", filled.url, "--title", "lamp", "--type", "saref:LightSwitch", "--json")
    )
    assert code == 0, err
    assert sorted(thing["title"] for thing in json.loads(out)) == ["Bench lamp", "Lab LAMP 2"]
    code, out, err = await cli("things", filled.url, "--title", '"] nothing')
    assert code == 1
    assert "offers no Things matching the search" in err
