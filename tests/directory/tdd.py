"""A real Domus TDD (Eclipse Thingweb, PyPI ``domus-tdd-api`` 1.0.2) over oxigraph 0.5.

``scripts/bootstrap`` installs both into their own venv (``.venv-tdd``): the TDD pins
Flask and rdflib versions of its own. The TDD speaks the SPARQL 1.1 protocol to one
URL for queries and updates (Fuseki's dataset URL); oxigraph serves them at
``/query`` and ``/update``, so a small dispatcher in the test process forwards each
request to the right one. The TDD needs ``TDD__OVERWRITE_DISCOVERY=true`` offline
(else it fetches the discovery context and silently stores nothing) and runs
``node`` to turn JSON-LD into triples.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from ..conftest import IN_CI, ROOT

__all__ = ["Tdd", "require_tdd"]

TDD_VENV = ROOT / ".venv-tdd"


def require_tdd() -> Path:
    """The TDD venv's bin folder; a skip locally, a failure under CI=true."""
    bin_dir = TDD_VENV / "bin"
    missing = [name for name in ("domus-tdd-api", "oxigraph") if not (bin_dir / name).exists()]
    if missing or shutil.which("node") is None:
        message = f"the TDD tests need {', '.join(missing) or 'node'} (run scripts/bootstrap)"
        if IN_CI:
            pytest.fail(message + " (CI=true: not skipping)")
        pytest.skip(message)
    return bin_dir


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _dispatcher(
    oxigraph: str, before_query: Callable[[], Callable[[str], None] | None]
) -> ThreadingHTTPServer:
    """Forward POST form ``query=`` to oxigraph's /query and ``update=`` to /update.

    ``before_query()`` names a function to call with each query's text before it is
    forwarded (or None): tests use it to act between two of the TDD's queries.
    """

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            form = urllib.parse.parse_qs(body.decode(), keep_blank_values=True)
            if not "".join(form.get("update", ["-"])).strip():
                # Domus sends an empty update when no TD has expired; oxigraph refuses
                # it, and the TDD's expiry thread dies of the error: nothing to do is done.
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            route = "/update" if "update" in form else "/query"
            hook = before_query()
            if route == "/query" and hook is not None:
                hook("".join(form.get("query", [])))
            headers = {"Content-Type": self.headers.get("Content-Type", "")}
            if self.headers.get("Accept"):
                headers["Accept"] = self.headers["Accept"]
            try:
                answer = httpx.post(oxigraph + route, content=body, headers=headers, timeout=30)
            except httpx.HTTPError:
                self.send_error(502)
                return
            self.send_response(answer.status_code)
            for name in ("content-type",):
                if name in answer.headers:
                    self.send_header(name, answer.headers[name])
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        def do_GET(self) -> None:
            try:
                answer = httpx.get(oxigraph + "/query" + self.path.lstrip("/"), timeout=30)
            except httpx.HTTPError:
                self.send_error(502)
                return
            self.send_response(answer.status_code)
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


class Tdd:
    """oxigraph + dispatcher + Domus TDD on free loopback ports; the TDD can stop and restart."""

    def __init__(self, directory: Path, host: str = "127.0.0.1") -> None:
        self.bin = require_tdd()
        self.directory = directory
        #: The address the TDD's API is bound to (oxigraph stays on loopback).
        self.host = host
        self.port = free_port()
        self.oxigraph_port = free_port()
        self.oxigraph: subprocess.Popen[bytes] | None = None
        self.api: subprocess.Popen[bytes] | None = None
        self.dispatcher: ThreadingHTTPServer | None = None
        #: Called (in the dispatcher's thread) with the text of every SPARQL query the
        #: TDD sends, before it reaches the store: lets a test act between two of them.
        self.before_query: Callable[[str], None] | None = None
        self._log: Any = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Start oxigraph and the dispatcher (once) and the TDD; wait until it answers."""
        if self.oxigraph is None:
            self.oxigraph = subprocess.Popen(
                [str(self.bin / "oxigraph"), "serve", "--bind", f"127.0.0.1:{self.oxigraph_port}"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            self.dispatcher = _dispatcher(
                f"http://127.0.0.1:{self.oxigraph_port}", lambda: self.before_query
            )
            threading.Thread(
                target=self.dispatcher.serve_forever, name="sparql-dispatcher", daemon=True
            ).start()
        assert self.dispatcher is not None
        env = {
            **os.environ,
            "TDD__SPARQLENDPOINT_URL": f"http://127.0.0.1:{self.dispatcher.server_address[1]}",
            "TDD__TD_REPO_URL": self.url,
            "TDD__OVERWRITE_DISCOVERY": "true",
            "TDD__PERIOD_CLEAR_EXPIRE_TD": "1",
        }
        self._log = (self.directory / "tdd.log").open("ab")
        self.api = subprocess.Popen(
            [
                str(self.bin / "domus-tdd-api"),
                "run",
                "--host",
                self.host,
                "--port",
                str(self.port),
            ],
            cwd=self.directory,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        deadline = time.monotonic() + 60
        while True:
            if self.api.poll() is not None:
                raise RuntimeError(f"the TDD exited: {(self.directory / 'tdd.log').read_text()}")
            try:
                if httpx.get(self.url + "/", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the TDD did not answer within 60 s")
            time.sleep(0.1)

    def stop_api(self) -> None:
        """Stop the TDD only (the store keeps its TDs): a directory that is down."""
        if self.api is not None:
            self.api.terminate()
            try:
                self.api.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.api.kill()
                self.api.wait()
            self.api = None
            self._log.close()

    def stop(self) -> None:
        self.stop_api()
        if self.dispatcher is not None:
            self.dispatcher.shutdown()
            self.dispatcher.server_close()
            self.dispatcher = None
        if self.oxigraph is not None:
            self.oxigraph.terminate()
            self.oxigraph.wait(timeout=10)
            self.oxigraph = None


def main() -> None:
    """``python -m tests.directory.tdd HOST DIR``: serve until stdin closes (netns tests)."""
    import signal
    import sys

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the TDD and store too
    tdd = Tdd(Path(sys.argv[2]), host=sys.argv[1])
    tdd.start()
    try:
        print(f"ready {tdd.url}", flush=True)
        sys.stdin.read()
    finally:
        tdd.stop()


if __name__ == "__main__":
    main()
