"""Every form of every TD x (no credentials, wrong, observer, operator) x (basic, bearer).

The forms come from the served TDs themselves, so a new route or form is
covered without editing this test: reads, observations and queries need the
observer role, writes, invocations and cancels the operator role.
"""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import urljoin

import httpx

from .conftest import OPERATOR_BASIC, PASSWORDS, TOKENS, assert_problem, serving_secured

WRITE_OPS = {"writeproperty", "writemultipleproperties", "invokeaction", "cancelaction"}
DEFAULT_METHOD = {
    "readproperty": "GET",
    "writeproperty": "PUT",
    "invokeaction": "POST",
    "readallproperties": "GET",
    "writemultipleproperties": "PUT",
}


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


CREDENTIALS: dict[str, dict[str, str]] = {
    "none": {},
    "wrong basic": basic("otto", "not-the-password"),
    "unknown user": basic("mallory", "x"),
    "wrong bearer": {"Authorization": "Bearer not-a-token"},
    "observer basic": basic("olga", PASSWORDS["olga"]),
    "observer bearer": {"Authorization": f"bearer {TOKENS['watcher']}"},
    "operator basic": basic("otto", PASSWORDS["otto"]),
    "operator bearer": {"Authorization": f"Bearer {TOKENS['driver']}"},  # node-wot's spelling
}


def expected(who: str, op: str) -> str:
    if not who.startswith(("observer", "operator")):
        return "401"
    if who.startswith("observer") and op in WRITE_OPS:
        return "403"
    return "2xx"


def _ops(form: dict[str, Any]) -> list[str]:
    op = form["op"]
    return [op] if isinstance(op, str) else list(op)


async def _start_run(client: httpx.AsyncClient, base: str) -> str:
    response = await client.post(
        urljoin(base, "actions/warm_up"), json={"seconds": 30}, auth=OPERATOR_BASIC
    )
    assert response.status_code == 201, response.text
    run_id: str = response.json()["id"]
    return run_id


async def _request(
    client: httpx.AsyncClient, base: str, form: dict[str, Any], name: str, headers: dict[str, str]
) -> tuple[str, int, httpx.Response | None]:
    """Send one request through ``form``; returns (method, status, response or None for streams)."""
    op = _ops(form)[0]
    href: str = form["href"]
    if "{actionID}" in href:
        href = href.replace("{actionID}", await _start_run(client, base))
    url = urljoin(base, re.sub(r"\{\?[^}]*\}", "", href))  # optional query variables: none
    subprotocol = form.get("subprotocol")
    if subprotocol == "longpoll":  # node-wot probes long polls with HEAD
        response = await client.head(url, headers=headers)
        return "HEAD", response.status_code, response
    method = form.get("htv:methodName") or DEFAULT_METHOD.get(op, "GET")
    if subprotocol == "sse":
        async with client.stream(method, url, headers=headers) as response:
            status = response.status_code
            if status >= 300:
                await response.aread()
                return method, status, response
        return method, status, None
    body: Any = None
    if op == "writeproperty":
        body = 3
    elif op == "writemultipleproperties":
        body = {"brightness": 2}
    elif op == "invokeaction":
        body = {"seconds": 30} if name == "warm_up" else None
    kwargs: dict[str, Any] = {"headers": headers}
    if body is not None:
        kwargs["json"] = body
    response = await client.request(method, url, **kwargs)
    return method, response.status_code, response


def _every_form(td: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    forms = [("", form) for form in td.get("forms", [])]
    for table in ("properties", "actions", "events"):
        for name, affordance in td.get(table, {}).items():
            forms.extend((name, form) for form in affordance["forms"])
    return forms


async def test_every_form_obeys_authentication_and_roles() -> None:
    async with serving_secured() as (server, client):
        directory = (await client.get(".well-known/wot", auth=OPERATOR_BASIC)).json()
        tds = [
            (await client.get(f"things/{name}", auth=OPERATOR_BASIC)).json() for name in ("lamp",)
        ]
        thing_id = tds[0]["id"]
        checked: list[tuple[str, str, str, str]] = []
        failures = []
        for td in [directory, *tds]:
            base = td["base"]
            for name, form in _every_form(td):
                for who, headers in CREDENTIALS.items():
                    op = _ops(form)[0]
                    if (form.get("htv:methodName") or DEFAULT_METHOD.get(op, "GET")) == "GET":
                        op = "readproperty"  # a GET only reads (e.g. the retrieveThing action)
                    want = expected(who, op)
                    form = {**form, "href": form["href"].replace("{id}", thing_id)}
                    method, status, response = await _request(client, base, form, name, headers)
                    got = "2xx" if 200 <= status < 300 else str(status)
                    checked.append((form["href"], method, who, got))
                    if got != want:
                        failures.append((form["href"], method, who, want, got))
                        continue
                    if response is not None and status >= 400:
                        if method == "HEAD":  # headers only
                            assert response.headers["content-type"] == "application/problem+json"
                            assert response.content == b""
                        else:
                            assert "detail" in assert_problem(response, status)
                        if status == 401:
                            challenges = response.headers.get_list("www-authenticate")
                            assert any(c.startswith("Basic ") for c in challenges)
                            assert any(c.startswith("Bearer ") for c in challenges)
        assert failures == []
        ops = {(href, method) for href, method, _, _ in checked}
        # the matrix really covered reads, writes, invocations, cancels and both stream kinds
        methods = {method for _, method in ops}
        assert {"GET", "PUT", "POST", "DELETE", "HEAD"} <= methods
        hrefs = {href for href, _ in ops}
        for part in ("/sse", "streams/properties", "streams/events", "{actionID}", "things"):
            assert any(part in href for href in hrefs), part


async def test_record_routes_and_descriptions_need_credentials() -> None:
    async with serving_secured() as (_, client):
        run_id = await _start_run(client, str(client.base_url) + "things/lamp/")
        for path in (
            "things",
            "things/lamp",
            ".well-known/wot",
            "actions",
            f"actions/{run_id}",
            "things/lamp/actions",
            "things/lamp/actions/warm_up",
        ):
            for who, headers in CREDENTIALS.items():
                response = await client.get(path, headers=headers)
                want = expected(who, "readproperty")
                got = "2xx" if response.is_success else str(response.status_code)
                assert got == want, (path, who, response.text)
        async with client.stream(
            "GET", f"actions/{run_id}/events", headers=CREDENTIALS["observer bearer"]
        ) as stream:
            assert stream.status_code == 200
        response = await client.get(f"actions/{run_id}/events", headers=CREDENTIALS["none"])
        assert_problem(response, 401)
        response = await client.delete(f"actions/{run_id}", headers=CREDENTIALS["observer basic"])
        assert_problem(response, 403)
        response = await client.delete(f"actions/{run_id}", headers=CREDENTIALS["operator bearer"])
        assert response.is_success, response.text


async def test_health_probes_need_no_credentials() -> None:
    async with serving_secured() as (_, client):
        for path in ("healthz", "readyz"):
            assert (await client.get(path)).status_code == 200, path
        assert_problem(await client.put("healthz"), 401)
