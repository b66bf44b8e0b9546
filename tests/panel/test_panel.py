"""The panel in a real browser against the demo servient (examples/demo.toml).

Each test drives Chromium as a user would: it clicks, types and waits for what the page shows.
Waits are conditions with deadlines (Playwright's expect), never fixed sleeps.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from .conftest import screenshot

DEADLINE_MS = 15_000
_ANY = re.compile(".+")


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in its own browser context; uncaught script errors fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(DEADLINE_MS)
    yield page
    context.close()
    assert errors == [], errors


def open_thing(page: Page, base: str, name: str) -> None:
    page.goto(f"{base}/?td=/things/{name}")
    # not wait_for_function: its polling evaluates strings, which the panel's CSP forbids
    expect(page.locator("html")).to_have_attribute("data-ready", "true")


def wait_value(page: Page, prop: str) -> Any:
    output = page.locator(f"[data-property={prop}] output.value")
    expect(output).to_have_attribute("data-value", _ANY)
    return json.loads(output.get_attribute("data-value") or "null")


def test_list_shows_both_things(page: Page, demo_url: str) -> None:
    page.goto(demo_url + "/")
    cards = page.locator(".thing-card")
    expect(cards).to_have_count(2)
    expect(cards.nth(0)).to_contain_text("OpenFlexure stage (simulated Sangaboard)")
    expect(cards.nth(1)).to_contain_text("Keysight 34401A multimeter (simulated)")
    screenshot(page, "list")
    cards.nth(1).get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Keysight 34401A multimeter (simulated)"
    )
    # enum -> select, boolean -> switch, number with unit; values read from the meter
    expect(page.locator("[data-property=function] select")).to_have_value('"VOLT:DC"')
    expect(page.locator("[data-property=autorange] input[role=switch]")).to_have_count(1)
    expect(page.locator("[data-property=nplc] .unit")).to_have_text(" PLC")
    screenshot(page, "meter")
    # "open any TD" with a servient's root URL lists its directory
    page.get_by_label("Open any TD").fill(demo_url + "/")
    page.get_by_role("button", name="Open").click()
    expect(page).to_have_url(re.compile(r"\?td=http"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Things")
    expect(page.locator(".thing-card")).to_have_count(2)


def test_step_delay_out_of_range_shows_the_servient_error(page: Page, demo_url: str) -> None:
    open_thing(page, demo_url, "stage")
    card = page.locator("[data-property=step_delay]")
    wait_value(page, "step_delay")
    field = card.get_by_label("New step_delay")
    expect(field).to_have_attribute("min", "1")
    field.fill("0")
    field.press("Enter")  # keyboard: Enter submits the write
    error = card.locator(".field-error")
    expect(error).to_contain_text("Invalid input")
    expect(error).to_contain_text("less than the minimum of 1")
    expect(field).to_have_attribute("aria-invalid", "true")
    screenshot(page, "step-delay-error")
    field.fill("1000")
    card.get_by_role("button", name="Write").click()
    expect(card.locator(".write-status")).to_have_text("written")
    expect(error).to_be_empty()


def test_move_relative_progress_reaches_100_and_the_plot_moves(page: Page, demo_url: str) -> None:
    open_thing(page, demo_url, "stage")
    start = wait_value(page, "position")
    plot = page.locator("[data-plot=position]")
    expect(plot).to_have_attribute("data-last", _ANY)
    action = page.locator("[data-action=move_relative]")
    action.get_by_label("x").fill("1500")
    action.get_by_role("button", name="move_relative").click()
    run = action.locator(".run").first
    expect(run).to_have_attribute("data-status", "completed")
    expect(run.locator("progress")).to_have_js_property("value", 100)
    expect(run.locator(".percent")).to_have_text("100 %")
    expect(run.locator(".output")).to_have_text(
        json.dumps([start[0] + 1500, *start[1:]], separators=(",", ":"))
    )
    expect(plot).to_have_attribute(
        "data-last", json.dumps([start[0] + 1500, *start[1:]], separators=(",", ":"))
    )
    assert int(plot.get_attribute("data-points") or 0) > 2  # the move was plotted on the way
    screenshot(page, "move-relative")
    page.set_viewport_size({"width": 1500, "height": 1560})
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "readme", full_page=False)
    with page.expect_download() as download:
        plot.get_by_role("button", name="Export CSV").click()
    lines = download.value.path().read_text().splitlines()
    assert lines[0] == "time,position[0],position[1],position[2]"
    assert lines[-1].endswith(f",{start[0] + 1500},{start[1]},{start[2]}")
    assert lines[-1][:4].isdigit() and "T" in lines[-1].split(",")[0]


def test_cancel_stops_a_long_move(page: Page, demo_url: str) -> None:
    open_thing(page, demo_url, "stage")
    action = page.locator("[data-action=move_relative]")
    action.get_by_label("y").fill("1000000")  # 1000 s at the default step delay
    action.get_by_role("button", name="move_relative").click()
    run = action.locator(".run").first
    expect(run).to_have_attribute("data-status", "running")
    run.get_by_role("button", name="Cancel").click()
    expect(run).to_have_attribute("data-status", "cancelled")
    expect(run.locator(".status")).to_have_text("cancelled")
    expect(run.locator(".problem")).to_contain_text("cancelled")
    expect(run.get_by_role("button", name="Cancel")).to_be_hidden()
    screenshot(page, "cancelled")
    expect(page.locator("[data-property=moving] output")).to_have_text("false")
    position = httpx.get(f"{demo_url}/things/stage/properties/position").json()
    assert 0 < position[1] % 1_000_000 < 1_000_000  # stopped part-way


def test_observed_value_arrives_without_reload(page: Page, demo_url: str) -> None:
    open_thing(page, demo_url, "stage")
    start = wait_value(page, "position")
    expect(page.locator("#streams")).to_have_attribute("data-state", "up")
    reply = httpx.post(
        f"{demo_url}/things/stage/actions/move_relative", json={"z": 700}, timeout=30
    )
    assert reply.status_code in (200, 201), reply.text
    expected = json.dumps([start[0], start[1], start[2] + 700], separators=(",", ":"))
    expect(page.locator("[data-property=position] output")).to_have_attribute(
        "data-value", expected
    )


def test_a_second_browser_sees_a_write_by_the_first(browser: Browser, demo_url: str) -> None:
    pages = []
    for _ in range(2):
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(DEADLINE_MS)
        open_thing(page, demo_url, "stage")
        wait_value(page, "led_brightness")
        pages.append(page)
    first, second = pages
    target = 0.25 if wait_value(first, "led_brightness") != 0.25 else 0.75
    field = first.locator("[data-property=led_brightness]").get_by_label("New led_brightness")
    field.fill(str(target))
    field.press("Enter")
    expect(first.locator("[data-property=led_brightness] .write-status")).to_have_text("written")
    # not observable: the second page re-reads it (every 2 s by default)
    expect(second.locator("[data-property=led_brightness] output")).to_have_attribute(
        "data-value", json.dumps(target)
    )
    for page in pages:
        page.context.close()


def test_phone_sized_layout_and_keyboard_use(browser: Browser, demo_url: str) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    open_thing(page, demo_url, "stage")
    wait_value(page, "ramp_time")
    expect(page.locator("[data-plot=position]")).to_have_attribute("data-points", _ANY)
    # nothing wider than the screen: no sideways scrolling
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    screenshot(page, "phone")
    # every input has a label, and Tab from a field reaches its Write button
    unlabelled = page.evaluate(
        """[...document.querySelectorAll('main input, main select, main textarea')]
           .filter((e) => !e.labels || e.labels.length === 0).map((e) => e.outerHTML)"""
    )
    assert unlabelled == []
    page.locator("[data-property=ramp_time]").get_by_label("New ramp_time").focus()
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.closest('[data-property]').dataset.property")
    assert focused == "ramp_time"
    assert page.evaluate("document.activeElement.textContent") == "Write"
    context.close()


def test_action_input_errors_show_at_the_field_or_as_the_problem(page: Page, demo_url: str) -> None:
    open_thing(page, demo_url, "stage")
    action = page.locator("[data-action=move_absolute]")
    action.get_by_label("x").fill("1.5")
    action.get_by_label("y").fill("0")
    action.get_by_label("z").fill("0")
    action.get_by_role("button", name="move_absolute").click()
    # the problem's pointer (/x) puts the servient's detail next to the x field
    x_error = action.locator(".field").filter(has=page.get_by_label("x")).locator(".field-error")
    expect(x_error).to_contain_text("1.5 is not of type 'integer'")
    expect(action.get_by_label("x")).to_have_attribute("aria-invalid", "true")
    action.get_by_label("y").fill("")
    action.get_by_label("x").fill("1")
    action.get_by_role("button", name="move_absolute").click()
    expect(x_error).to_be_empty()
    problem = action.locator(".problem")
    expect(problem.locator("strong")).to_have_text("Invalid input")
    expect(problem).to_contain_text("'y' is a required property")
    expect(action.locator(".run")).to_have_count(0)


def test_runs_started_by_another_client_show_and_can_be_cancelled(
    page: Page, demo_url: str
) -> None:
    open_thing(page, demo_url, "stage")
    wait_value(page, "position")
    reply = httpx.post(f"{demo_url}/things/stage/actions/move_relative", json={"x": -1_000_000})
    assert reply.status_code == 201, reply.text
    run_id = reply.json()["id"]
    run = page.locator(f"[data-action=move_relative] .run[data-run='{run_id}']")
    expect(run).to_have_attribute("data-status", "running")  # found by queryallactions
    expect(run.locator(".percent")).to_have_text(re.compile(r"^\d+ %$"))
    run.get_by_role("button", name="Cancel").click()
    expect(run).to_have_attribute("data-status", "cancelled")
    record = httpx.get(f"{demo_url}/actions/{run_id}").json()
    assert record["status"] in ("cancelled", "failed") and "cancel" in json.dumps(record["error"])
