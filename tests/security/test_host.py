"""The Host allow-list: spoofed Hosts get no links, links come from allowed names only."""

from __future__ import annotations

import json
import socket

from wot_labthing._security import parse_security

from .conftest import OPERATOR_BASIC, assert_problem, raw_exchange, secured, serving_secured

NOSEC = parse_security(None)


async def test_spoofed_host_is_refused_before_routing() -> None:
    async with serving_secured(security=NOSEC) as (server, client):
        for host in ("evil.example", f"evil.example:{server.port}", "127.0.0.2", "[::2]:80"):
            for path in ("things/lamp", "things", ".well-known/wot", "nowhere", "actions"):
                response = await client.get(path, headers={"Host": host})
                body = assert_problem(response, 421)
                assert "evil" not in response.text and "http" not in json.dumps(body["detail"])
        response = await client.post("things/lamp/actions/toggle", headers={"Host": "evil.example"})
        assert_problem(response, 421)
        assert "location" not in response.headers


async def test_allowed_names_build_the_links() -> None:
    async with serving_secured(security=NOSEC) as (server, client):
        port = server.port
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"LOCALHOST.:{port}"):
            td = (await client.get("things/lamp", headers={"Host": host})).json()
            assert td["base"].startswith("http://") and f":{port}/things/lamp/" in td["base"]
        name = socket.gethostname().split(".")[0]
        td = (await client.get("things/lamp", headers={"Host": f"{name}.local:{port}"})).json()
        assert (
            td["base"] == f"http://{name}.local:{port}/things/lamp/".lower()
            or td["base"].lower() == f"http://{name}.local:{port}/things/lamp/".lower()
        )


async def test_request_without_host_gets_the_bound_address() -> None:
    async with serving_secured(security=NOSEC) as (server, _):
        data, _ = await raw_exchange(server.port, b"GET /things/lamp HTTP/1.0\r\n\r\n")
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.0 200") or head.startswith(b"HTTP/1.1 200"), head
        td = json.loads(body)
        assert td["base"] == f"http://127.0.0.1:{server.port}/things/lamp/"


async def test_configured_hosts_and_public_url() -> None:
    security = secured(allowed_hosts=["lab-pc.example.org"])
    async with serving_secured(security=security) as (server, client):
        headers = {"Host": f"lab-pc.example.org:{server.port}"}
        td = (await client.get("things/lamp", headers=headers, auth=OPERATOR_BASIC)).json()
        assert td["base"] == f"http://lab-pc.example.org:{server.port}/things/lamp/"
    security = secured(public_url="https://lab.example.org:8443/")
    async with serving_secured(security=security) as (server, client):
        td = (await client.get("things/lamp", auth=OPERATOR_BASIC)).json()
        assert td["base"] == "https://lab.example.org:8443/things/lamp/"
        run = await client.post("things/lamp/actions/warm_up", json={}, auth=OPERATOR_BASIC)
        assert run.headers["location"].startswith("https://lab.example.org:8443/actions/")
        assert_problem(await client.get("things/lamp", headers={"Host": "evil.example"}), 421)


def test_host_names_are_normalised() -> None:
    from wot_labthing._http.guard import split_host

    assert split_host("[FE80::1%25eth0]:8083") == ("fe80::1", "8083")
    assert split_host("fe80::1%eth0") == ("fe80::1", None)
    assert split_host("Lab-PC.Local.:80") == ("lab-pc.local", "80")
    assert split_host("[::1]") == ("::1", None)
