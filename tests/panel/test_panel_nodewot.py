"""The panel drives Eclipse node-wot 0.9.2's Thing through its TD, behind basic auth.

The panel is served by the demo servient; node-wot runs on another port (another origin),
so this also covers "open any TD" across origins (node-wot answers CORS) and the
credentials flow: a 401 opens the credentials dialog (the scheme taken from the TD, as a
cross-origin WWW-Authenticate header is not readable), refused credentials ask again, and
accepted ones go along on every request, including the long-polling streams.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from ..interop.test_consume_nodewot import start_nodewot, stop
from .conftest import screenshot

USER, PASSWORD = "alice", "s3cret"


@pytest.fixture(scope="module")
def nodewot_basic() -> Iterator[str]:
    """node-wot exposing "Node counter" with basic auth; its TD URL."""
    process, url = start_nodewot("basic", USER, PASSWORD)
    try:
        yield url
    finally:
        stop(process)


def sign_in(page: Page, password: str, *, refused: bool) -> None:
    dialog = page.get_by_role("dialog", name="Credentials needed")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Scheme")).to_have_value("basic")
    expect(dialog.get_by_text("Those credentials were refused")).to_be_visible(visible=refused)
    dialog.get_by_label("User").fill(USER)
    dialog.get_by_label("Password").fill(password)
    dialog.get_by_label("Password").press("Enter")


def test_panel_drives_a_nodewot_thing_with_basic_auth(
    browser: Browser, demo_url: str, nodewot_basic: str
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(demo_url + "/")
    page.get_by_label("Open any TD").fill(nodewot_basic)
    page.get_by_label("Open any TD").press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Node counter")
    expect(page.get_by_text("security: basic")).to_be_visible()

    sign_in(page, "wrong", refused=False)
    sign_in(page, PASSWORD, refused=True)
    expect(page.get_by_role("dialog")).to_be_hidden()

    count = page.locator("[data-property=count] output")
    expect(count).to_have_attribute("data-value", re.compile(r"^\d+$"))
    expect(page.locator("[data-property=label] output")).not_to_have_text("…")

    label = page.locator("[data-property=label]")
    label.get_by_label("New label").fill("from the panel")
    label.get_by_role("button", name="Write").click()
    expect(label.locator(".write-status")).to_have_text("written")
    expect(label.locator("output")).to_have_text("from the panel")

    before = int(count.get_attribute("data-value") or "0")
    action = page.locator("[data-action=increment]")
    action.get_by_label("by").fill("2")
    action.get_by_role("button", name="increment").click()
    expect(action.locator(".output")).to_have_text(str(before + 2))
    # the new count arrives through the authorised long-poll stream, and as an event
    expect(count).to_have_attribute("data-value", str(before + 2))
    expect(page.locator(".feed li").first).to_contain_text("changed")
    expect(page.locator(".feed li").first).to_contain_text(str(before + 2))
    expect(page.locator("#streams")).to_have_attribute("data-state", "up")

    screenshot(page, "nodewot")

    # the credentials are kept for the session: a reload asks no more
    page.reload()
    expect(count).to_have_attribute("data-value", str(before + 2))
    expect(page.get_by_role("dialog")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 1
    context.close()
    assert errors == [], errors
