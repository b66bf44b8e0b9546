"""CORS in a real browser: Chromium's own preflights against servients with and without origins.

A page is served from one origin (a small HTTP server on a free loopback port); its
scripts call servients on other ports. Chromium decides from the servients' answers
whether the page may see them, exactly as a lab dashboard's browser would.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

import wot_labthing as wl
from wot_labthing._security import SecurityConfig

from ..panel.conftest import CHROMIUM_ARGS, require_chromium
from .conftest import OPERATOR_BASIC, Lamp, secured, serving_secured

OPERATOR = "Basic " + base64.b64encode(":".join(OPERATOR_BASIC).encode()).decode()
PAGE = b"<!doctype html><title>lab dashboard</title><p>dashboard</p>"
#: fetch() from the page: the status and body, or the error a blocked request raises.
CALL = """async ([url, method, auth, body]) => {
    const init = {method, headers: {Authorization: auth}};
    if (body !== null) {
        init.body = body;
        init.headers["Content-Type"] = "application/json";
    }
    try {
        const response = await fetch(url, init);
        return {status: response.status, body: await response.text()};
    } catch (error) {
        return {error: String(error)};
    }
}"""


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        """The dashboard page, whatever the path."""
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args: Any) -> None:
        """Quiet."""


@contextmanager
def page_origin() -> Iterator[str]:
    """An origin (``http://127.0.0.1:PORT``) serving a dashboard page."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def servient_thread(security: SecurityConfig) -> Iterator[wl.HttpServer]:
    """A secured servient with a Lamp, served by its own event loop in a thread."""
    started = threading.Event()
    box: dict[str, Any] = {}

    async def serve() -> None:
        box["stop"] = asyncio.Event()
        box["loop"] = asyncio.get_running_loop()
        async with serving_secured([Lamp(name="lamp")], security=security) as (server, _):
            box["server"] = server
            started.set()
            await box["stop"].wait()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(60), "the servient did not start"
    try:
        yield box["server"]
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(30)


def _brightness(server: wl.HttpServer) -> int:
    url = server.url + "things/lamp/properties/brightness"
    value: int = httpx.get(url, auth=OPERATOR_BASIC).json()
    return value


def test_browser_preflights_pass_only_for_configured_origins() -> None:
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    with (
        page_origin() as origin,
        servient_thread(secured(cors_origins=[origin])) as open_to_page,
        servient_thread(secured()) as closed,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page()
            page.goto(origin + "/")
            allowed = open_to_page.url + "things/lamp/properties/brightness"
            blocked = closed.url + "things/lamp/properties/brightness"
            # an Authorization header makes even a GET preflighted
            read = page.evaluate(CALL, [allowed, "GET", OPERATOR, None])
            assert read == {"status": 200, "body": "1"}, read
            write = page.evaluate(CALL, [allowed, "PUT", OPERATOR, "7"])
            assert write.get("status") == 204, write
            assert _brightness(open_to_page) == 7
            # no cors_origins: the preflight is refused, the page sees nothing, nothing changes
            read = page.evaluate(CALL, [blocked, "GET", OPERATOR, None])
            assert "error" in read and "Failed to fetch" in read["error"], read
            write = page.evaluate(CALL, [blocked, "PUT", OPERATOR, "7"])
            assert "error" in write, write
            assert _brightness(closed) == 1
        finally:
            browser.close()
