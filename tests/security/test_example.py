"""examples/secured.toml as a user runs it, with the demo credentials from its comments."""

from __future__ import annotations

import re

import httpx

from ..conftest import ROOT, demo_servient

CONFIG = "examples/secured.toml"


def test_comments_match_the_hashes() -> None:
    from wot_labthing._config import load_config
    from wot_labthing._security import Authenticator

    text = (ROOT / CONFIG).read_text()
    assert "NEVER reuse" in text
    auth = Authenticator(load_config(ROOT / CONFIG).security)
    for user, password in re.findall(r'user "(\w+)"\s+password "([\w-]+)"', text):
        assert auth.verify_basic(user, password) is not None, user
    for token in re.findall(r'bearer token "([\w-]+)"', text):
        assert auth.verify_bearer(token) is not None, token


def test_secured_example_serves_with_roles() -> None:
    with demo_servient("--host", "127.0.0.1", config=CONFIG) as (_, urls):
        stage = next(url for url in urls if url.endswith("/stage"))
        meter = next(url for url in urls if url.endswith("/meter"))
        assert httpx.get(stage).status_code == 401
        viewer = ("viewer", "look-but-dont-touch")
        td = httpx.get(stage, auth=viewer).json()
        assert td["security"] == "combo_sc"
        assert httpx.get(f"{stage}/properties/speed", auth=viewer).status_code == 200
        assert httpx.put(f"{stage}/properties/speed", json=500, auth=viewer).status_code == 403
        tech = ("tech", "lab-operator-demo")
        assert httpx.put(f"{stage}/properties/speed", json=500, auth=tech).status_code == 204
        automation = {"Authorization": "Bearer demo-operator-token-change-me"}
        assert (
            httpx.put(f"{stage}/properties/speed", json=600, headers=automation).status_code == 204
        )
        answer = httpx.put(f"{meter}/properties/nplc", json=1, headers=automation)
        assert answer.status_code == 403
        dashboard = {"Authorization": "bearer demo-observer-token-change-me"}
        assert httpx.get(f"{meter}/properties/nplc", headers=dashboard).status_code == 200
