"""The panel against a bearer-token peer on another origin (LabThings-style records)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect

from .bearer_peer import TOKEN, bearer_peer
from .conftest import screenshot


@pytest.fixture(scope="module")
def peer_td() -> Iterator[str]:
    with bearer_peer() as url:
        yield url


def test_bearer_token_asked_on_401_and_sent_everywhere(
    browser: Browser, demo_url: str, peer_td: str
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{demo_url}/?td={peer_td}&poll=0")
    # even the TD needs the token: the challenge (exposed by CORS) names the scheme
    dialog = page.get_by_role("dialog", name="Credentials needed")
    expect(dialog.get_by_label("Scheme")).to_have_value("bearer")
    expect(dialog.get_by_label("User")).to_be_hidden()
    dialog.get_by_label("Token").fill(TOKEN)
    dialog.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("LabThings-style peer")
    expect(page.locator("main")).not_to_contain_text("null")
    expect(page.locator("[data-property=brightness] output")).to_have_attribute("data-value", "3")
    # a URI template without values ({?index}) expands to nothing
    expect(page.locator("[data-property=channel] output")).to_have_text("channel none")
    brightness = page.locator("[data-property=brightness]")
    brightness.get_by_label("New brightness").fill("7")
    brightness.get_by_role("button", name="Write").click()
    expect(brightness.locator("output")).to_have_attribute("data-value", "7")
    # a change made elsewhere arrives through the SSE stream, which carries the token too
    expect(page.locator("#streams")).to_have_attribute("data-state", "up")
    changed = httpx.put(
        peer_td.removesuffix("td") + "brightness",
        json=4,
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert changed.status_code == 204
    expect(brightness.locator("output")).to_have_attribute("data-value", "4")
    # a 201 record without an event stream: the panel polls it to its end
    action = page.locator("[data-action=scan]")
    action.get_by_label("points").fill("2")
    action.get_by_role("button", name="scan").click()
    run = action.locator(".run").first
    expect(run).to_have_attribute("data-status", "completed")
    expect(run.locator(".percent")).to_have_text("100 %")
    expect(run.locator(".output")).to_have_text("[0.5,0.5]")
    screenshot(page, "bearer")
    context.close()
    assert errors == [], errors
