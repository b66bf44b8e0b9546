"""CORS: preflights, exposed headers, credentials per the Fetch spec, and no cross-site writes."""

from __future__ import annotations

from wot_labthing._security import parse_security

from .conftest import OPERATOR_BASIC, assert_problem, secured, served_lamp, serving_secured

PANEL = "https://panel.example"
PREFLIGHT = {
    "Origin": PANEL,
    "Access-Control-Request-Method": "PUT",
    "Access-Control-Request-Headers": "authorization, content-type",
}


async def test_no_origins_by_default() -> None:
    async with serving_secured() as (_, client):
        response = await client.options("things/lamp/properties/brightness", headers=PREFLIGHT)
        assert_problem(response, 403)
        assert "access-control-allow-origin" not in response.headers
        response = await client.get(
            "things/lamp/properties/brightness", headers={"Origin": PANEL}, auth=OPERATOR_BASIC
        )
        assert response.status_code == 200  # a safe read, but the browser may not show it
        assert "access-control-allow-origin" not in response.headers


async def test_preflight_and_responses_for_an_allowed_origin() -> None:
    async with serving_secured(security=secured(cors_origins=[PANEL + "/"])) as (_, client):
        # preflights carry no credentials (Fetch spec) and must still succeed
        response = await client.options("things/lamp/properties/brightness", headers=PREFLIGHT)
        assert response.status_code == 204, response.text
        assert response.headers["access-control-allow-origin"] == PANEL
        assert response.headers["access-control-allow-credentials"] == "true"
        assert "PUT" in response.headers["access-control-allow-methods"]
        allowed = response.headers["access-control-allow-headers"].lower()
        assert "authorization" in allowed and "content-type" in allowed
        assert "origin" in response.headers["vary"].lower()
        response = await client.put(
            "things/lamp/properties/brightness",
            json=4,
            headers={"Origin": PANEL},
            auth=OPERATOR_BASIC,
        )
        assert response.status_code == 204
        assert response.headers["access-control-allow-origin"] == PANEL
        response = await client.post(
            "things/lamp/actions/warm_up", json={}, headers={"Origin": PANEL}, auth=OPERATOR_BASIC
        )
        assert response.status_code == 201
        exposed = response.headers["access-control-expose-headers"].lower()
        for header in ("location", "link", "etag"):
            assert header in exposed
        # a 401 is readable too, so the page can ask for credentials
        response = await client.get("things/lamp/properties/brightness", headers={"Origin": PANEL})
        assert_problem(response, 401)
        assert response.headers["access-control-allow-origin"] == PANEL
        other = await client.options(
            "things/lamp", headers={**PREFLIGHT, "Origin": "https://other.example"}
        )
        assert_problem(other, 403)


async def test_wildcard_origin_never_allows_credentials() -> None:
    nosec_any = parse_security({"cors_origins": ["*"]})
    async with serving_secured(security=nosec_any) as (_, client):
        response = await client.options("things/lamp/properties/brightness", headers=PREFLIGHT)
        assert response.status_code == 204
        assert response.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in response.headers
        response = await client.get("things/lamp/properties/brightness", headers={"Origin": PANEL})
        assert response.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in response.headers


async def test_no_cross_site_form_can_invoke_or_write() -> None:
    nosec = parse_security(None)
    async with serving_secured(security=nosec) as (server, client):
        lamp = served_lamp(server)
        form_types = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
        for content_type in form_types:
            for body in (b"", b"a=1"):
                response = await client.post(
                    "things/lamp/actions/toggle",
                    content=body,
                    headers={"Content-Type": content_type, "Origin": "https://evil.example"},
                )
                assert response.status_code in (403, 415), response.text
                assert_problem(response, response.status_code)
                response = await client.post(
                    "things/lamp/actions/toggle",
                    content=body,
                    headers={"Content-Type": content_type},
                )
                assert_problem(response, 415)
        for headers in (
            {"Origin": "https://evil.example"},
            {"Origin": "null"},
            {"Sec-Fetch-Site": "cross-site"},
        ):
            response = await client.post("things/lamp/actions/toggle", headers=headers)
            problem = assert_problem(response, 403)
            assert problem["type"].endswith(":cross-origin")
            response = await client.put(
                "things/lamp/properties/brightness", json=9, headers=headers
            )
            assert_problem(response, 403)
        assert lamp.brightness == 1
        # the same origin, and non-browser clients (no Origin), may
        own = f"http://127.0.0.1:{server.port}"
        response = await client.post("things/lamp/actions/toggle", headers={"Origin": own})
        assert response.status_code == 200, response.text
        response = await client.post("things/lamp/actions/toggle")
        assert response.status_code == 200, response.text
