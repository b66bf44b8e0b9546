"""The read-only TD Directory (WoT Discovery §7.3.2), Thing Models and conditional GET."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote, urljoin

import httpx
from werkzeug.http import http_date, parse_date

import wot_labthing as wl
from wot_labthing._consumed.forms import expand_href
from wot_labthing._http.forms import model_path
from wot_labthing._tm import TM_JSON


class Lamp(wl.Thing):
    """A lamp on the bench."""

    on: bool = wl.property(default=False, description="Whether it is lit.")


def lamps(count: int) -> list[wl.Thing]:
    return [Lamp(name=f"lamp{index}", title=f"Lamp {index}") for index in range(count)]


def _links(response: httpx.Response) -> dict[str, str]:
    """``rel -> URL`` of the Link header."""
    found = {}
    for part in response.headers.get("link", "").split(", <"):
        target, _, params = part.lstrip("<").partition(">")
        rel = params.split('rel="', 1)[1].split('"', 1)[0]
        found[rel] = target
    return found


async def test_a_td_is_found_by_id_raw_or_percent_encoded_and_by_name(serve: Any) -> None:
    async with serve(lamps(2)) as (_, client):
        td = (await client.get("things/lamp1")).json()
        assert td["id"].startswith("urn:uuid:")
        for reference in (td["id"], quote(td["id"], safe=""), "lamp1"):
            response = await client.get(f"things/{reference}")
            assert response.status_code == 200, reference
            assert response.headers["content-type"] == "application/td+json"
            assert response.json() == td
        missing = await client.get("things/urn:uuid:00000000-0000-4000-8000-000000000000")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        assert missing.json()["status"] == 404


async def test_the_listing_is_ld_json_sorted_by_id_with_or_without_a_slash(serve: Any) -> None:
    async with serve(lamps(5)) as (_, client):
        listing = await client.get("things")
        assert listing.status_code == 200
        assert listing.headers["content-type"] == "application/ld+json"
        ids = [td["id"] for td in listing.json()]
        assert ids == sorted(ids) and len(ids) == 5
        slashed = await client.get("things/")
        assert slashed.status_code == 200 and slashed.json() == listing.json()
        assert "next" not in _links(listing)
        assert _links(listing)["canonical"] == "/things"


async def test_pages_follow_next_links_to_the_whole_collection(serve: Any) -> None:
    async with serve(lamps(5)) as (server, client):
        everything = (await client.get("things")).json()
        pages, url = [], f"{server.url}things?limit=2"
        while url:
            response = await client.get(url)
            assert response.status_code == 200
            pages.append(response.json())
            links = _links(response)
            url = urljoin(server.url, links["next"]) if "next" in links else ""
            if url:
                assert "limit=2" in links["next"] and "offset=" in links["next"]
        assert [len(page) for page in pages] == [2, 2, 1]
        assert [td for page in pages for td in page] == everything
        tags = {_links(await client.get(f"things?limit=2&offset={o}"))["canonical"] for o in (0, 2)}
        assert len(tags) == 1  # the canonical link's etag: the collection did not change


async def test_format_collection_gives_a_thing_collection(serve: Any) -> None:
    async with serve(lamps(3)) as (_, client):
        page = (await client.get("things?format=collection&limit=2")).json()
        assert page["@context"] == "https://www.w3.org/2022/wot/discovery"
        assert page["@type"] == "ThingCollection"
        assert page["total"] == 3 and len(page["members"]) == 2
        assert page["@id"] == "/things?offset=0&limit=2&format=collection"
        assert page["next"] == "/things?offset=2&limit=2&format=collection"
        last = (await client.get(page["next"])).json()
        assert len(last["members"]) == 1 and "next" not in last


async def test_bad_listing_arguments_are_problems(serve: Any) -> None:
    async with serve(lamps(1)) as (_, client):
        for query in ("limit=0", "limit=x", "offset=-1", "format=xml"):
            response = await client.get(f"things?{query}")
            assert response.status_code == 400, query
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["pointer"] == "/" + query.split("=")[0]


async def test_conditional_get_answers_304_on_tds_listing_models_and_well_known(
    serve: Any,
) -> None:
    async with serve(lamps(2)) as (_, client):
        for path in (
            "things",
            "things/lamp0",
            ".well-known/wot",
            model_path(Lamp).lstrip("/"),
        ):
            first = await client.get(path)
            etag, modified = first.headers["etag"], first.headers["last-modified"]
            assert etag.startswith('"') and parse_date(modified) is not None
            again = await client.get(path, headers={"If-None-Match": etag})
            assert again.status_code == 304, path
            assert again.content == b"" and "content-type" not in again.headers
            assert again.headers["etag"] == etag
            weak = await client.get(path, headers={"If-None-Match": f"W/{etag}"})
            assert weak.status_code == 304  # weak comparison (RFC 9110 §13.1.2)
            dated = await client.get(path, headers={"If-Modified-Since": modified})
            assert dated.status_code == 304
            stale = await client.get(path, headers={"If-None-Match": '"other"'})
            assert stale.status_code == 200 and stale.content == first.content
            head = await client.head(path, headers={"If-None-Match": etag})
            assert head.status_code == 304


def _date(value: str) -> datetime:
    """An HTTP date header as a datetime (werkzeug answers None for a malformed one)."""
    parsed = parse_date(value)
    assert parsed is not None, value
    return parsed


async def test_adding_a_thing_changes_the_listing_validators(serve: Any) -> None:
    async with serve(lamps(1)) as (server, client):
        before = await client.get("things")
        server.servient.add(Lamp(name="late"))
        after = await client.get("things", headers={"If-None-Match": before.headers["etag"]})
        assert after.status_code == 200 and len(after.json()) == 2
        assert after.headers["etag"] != before.headers["etag"]
        assert _date(after.headers["last-modified"]) >= _date(before.headers["last-modified"])
        old = http_date(_date(before.headers["last-modified"]).timestamp() - 60)
        assert (
            await client.get("things/late", headers={"If-Modified-Since": old})
        ).status_code == 200


async def test_writes_to_the_directory_answer_405_with_the_real_allow(serve: Any) -> None:
    async with serve(lamps(1)) as (_, client):
        td_id = (await client.get("things/lamp0")).json()["id"]
        for method, path in (
            ("POST", "things"),
            ("PUT", "things/"),
            ("PUT", f"things/{td_id}"),
            ("DELETE", f"things/{td_id}"),
            ("PATCH", "things/lamp0"),
            ("POST", ".well-known/wot"),
        ):
            response = await client.request(method, path, json={})
            assert response.status_code == 405, (method, path)
            allowed = {item.strip() for item in response.headers["allow"].split(",")}
            assert {"GET", "HEAD"} <= allowed and method not in allowed
            assert response.headers["content-type"] == "application/problem+json"


async def test_the_well_known_td_describes_what_is_offered(
    serve: Any, assert_valid_td: Callable[[dict[str, Any]], None]
) -> None:
    async with serve(lamps(3)) as (server, client):
        directory = (await client.get(".well-known/wot")).json()
        assert_valid_td(directory)
        assert directory["@type"] == "ThingDirectory"
        assert set(directory["properties"]) == {"things"}
        assert set(directory["actions"]) == {"retrieveThing"}
        assert "events" not in directory
        listing_form = directory["properties"]["things"]["forms"][0]
        url = urljoin(directory["base"], expand_href(listing_form["href"], {"limit": 2}))
        page = await client.get(url)
        assert page.headers["content-type"] == listing_form["response"]["contentType"]
        assert len(page.json()) == 2
        retrieve = directory["actions"]["retrieveThing"]
        assert retrieve["safe"] is True and retrieve["idempotent"] is True
        form = retrieve["forms"][0]
        for td in page.json():
            href = expand_href(form["href"], {"id": td["id"]})
            response = await client.request(form["htv:methodName"], urljoin(server.url, href))
            assert response.headers["content-type"] == form["response"]["contentType"]
            assert response.json() == td


async def test_every_td_links_a_served_model(serve: Any) -> None:
    async with serve(lamps(1)) as (_, client):
        td = (await client.get("things/lamp0")).json()
        (link,) = [link for link in td["links"] if link["rel"] == "type"]
        model = await client.get(link["href"])
        assert model.status_code == 200
        assert model.headers["content-type"] == link["type"] == TM_JSON
        assert model.json()["@type"] == "tm:ThingModel"
        assert set(model.json()["properties"]) == set(td["properties"])
        unknown = await client.get("models/builtins:object")
        assert unknown.status_code == 404
        assert unknown.headers["content-type"] == "application/problem+json"
