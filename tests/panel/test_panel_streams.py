"""Streams in the panel: events feed, the stream-down indicator and reconnection.

Runs examples/simulated.toml (pure Python Things, one with an event), stops the servient
under the open page and starts it again on the same port.
"""

from __future__ import annotations

import json

import httpx
from playwright.sync_api import Browser, expect

from ..conftest import demo_servient
from .conftest import screenshot

SIMULATED = "examples/simulated.toml"


def test_stream_down_shows_and_the_page_reconnects(browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    with demo_servient(config=SIMULATED) as (_, urls):
        base = urls[0].split("/things/")[0]
        port = base.rsplit(":", 1)[1]
        page.goto(f"{base}/?td=/things/stage&poll=0")
        badge = page.locator("#streams")
        expect(badge).to_have_attribute("data-state", "up")
        expect(badge).to_have_text("Live (2 streams)")  # properties and events
        reply = httpx.post(f"{base}/things/stage/actions/move_to", json={"x": 120, "y": 0})
        assert reply.status_code in (200, 201), reply.text
        expect(page.locator(".feed li").first).to_contain_text("moved")
        expect(page.locator(".feed li").first).to_contain_text("[120,0,0]")
        screenshot(page, "events")
    expect(badge).to_have_attribute("data-state", "down")
    expect(badge).to_contain_text("Stream down, reconnecting")
    screenshot(page, "stream-down")
    with demo_servient("--port", port, config=SIMULATED) as (_, urls):
        expect(badge).to_have_attribute("data-state", "up", timeout=30_000)
        reply = httpx.post(f"{base}/things/stage/actions/move_to", json={"x": 7, "y": 8})
        assert reply.status_code in (200, 201), reply.text
        expect(page.locator("[data-property=position] output")).to_have_attribute(
            "data-value", json.dumps([7, 8, 0], separators=(",", ":"))
        )
        expect(page.locator(".feed li").first).to_contain_text("[7,8,0]")
    context.close()
    assert errors == [], errors
