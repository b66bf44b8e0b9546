"""Fixtures of the panel's browser tests: Debian's Chromium driven by Playwright, servients.

Chromium comes from Debian (scripts/bootstrap installs it as root); Playwright's own browser
download is never used. Without Chromium the tests skip, except under CI=true where they fail.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import IN_CI, ROOT, demo_servient

CHROMIUM = os.environ.get("WOT_LABTHING_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "artifacts" / "panel"
# Chromium as root in a container: no sandbox, no GPU, nothing fetched in the background.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_chromium() -> str:
    """Path of Debian's chromium; a skip locally, a failure under CI=true."""
    path = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    message = ""
    if path is None:
        message = "chromium is needed for the panel tests (scripts/bootstrap installs it as root)"
    else:
        try:
            import playwright  # noqa: F401
        except ImportError:
            message = (
                "the playwright package is needed for the panel tests (pip install -e .[test])"
            )
    if message:
        if IN_CI:
            pytest.fail(message + " (CI=true: not skipping)")
        pytest.skip(message)
    assert path is not None
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """A headless Chromium (a fresh temporary profile per launch)."""
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    """``wot-labthing serve examples/demo.toml`` on a free port; its root URL (no slash)."""
    with demo_servient() as (_, urls):
        assert urls, "the demo servient printed no TD URLs"
        yield urls[0].split("/things/")[0]


def screenshot(page: object, name: str, *, full_page: bool = True) -> None:
    """Save a screenshot under artifacts/panel/ (gitignored; CI keeps it).

    docs/panel.png, shown in the README, is a copy of ``readme.png``.
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)  # type: ignore[attr-defined]


def _expect_deadline() -> None:
    """Give every expect() 15 s: the machine may be loaded; waits end as soon as true."""
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)


try:
    _expect_deadline()
except ImportError:  # no playwright: require_chromium() reports it
    pass
