"""Fixtures shared by every test: servers on free ports, the official TD schema, node-wot."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from blockbuster import BlockBuster, BlockBusterFunction
from jsonschema import Draft7Validator

import wot_labthing as wl

ROOT = Path(__file__).parent.parent
INTEROP_DIR = Path(__file__).parent / "interop"
SCHEMA_PACKAGE = "wot-thing-description-types"
IN_CI = os.environ.get("CI") == "true"


#: Seconds a test's threads get to finish after it before they count as leaked.
THREAD_GRACE = 10.0

#: Non-daemon threads a test may leave behind, by name prefix, and why they are harmless.
BENIGN_THREADS: dict[str, str] = {
    "asyncio_": "the loop's default executor, shut down with the loop after the test",
}


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves non-daemon threads running (they would hang interpreter exit).

    Threads still finishing get ``THREAD_GRACE`` seconds (joined, not slept).
    """
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + THREAD_GRACE
    leaked = [
        thread
        for thread in threading.enumerate()
        if thread not in before
        and not thread.daemon
        and not thread.name.startswith(tuple(BENIGN_THREADS))
    ]
    for thread in leaked:
        thread.join(max(0.0, deadline - time.monotonic()))
    alive = sorted(thread.name for thread in leaked if thread.is_alive())
    if alive:
        pytest.fail(f"the test left non-daemon threads running: {alive}")


#: Path look-ups blockbuster also reports: microseconds on a local disk (quart calls some
#: when an app is made), not the blocking we look for (sleeps, sockets, serial reads, waits).
PATH_METADATA_CALLS = (
    "os.access",
    "os.getcwd",
    "os.listdir",
    "os.path.abspath",
    "os.path.islink",
    "os.path.ismount",
    "os.path.sameopenfile",
    "os.path.samestat",
    "os.readlink",
    "os.scandir",
    "os.stat",
    "os.statvfs",
)


#: Blocking work blockbuster does not know, as "module.function": why it blocks. The check
#: raises when one runs on a loop, so the work must go to a worker thread.
EXTRA_BLOCKING = {
    "wot_labthing._td.schema_problems": "a TD against the official schema: ms of CPU per TD",
    "zeroconf._core.create_sockets": "reads every interface (ifaddr), opens and binds sockets",
    "ifaddr.get_adapters": "walks every network interface (getifaddrs, netlink)",
}


def _checked(blockbuster: BlockBuster) -> list[BlockBusterFunction]:
    return [f for name, f in blockbuster.functions.items() if name not in PATH_METADATA_CALLS]


@pytest.fixture(scope="session")
def loop_blocking_checks() -> Iterator[BlockBuster]:
    """blockbuster, set up once per session (patching ~60 functions takes ~20 ms)."""
    # simulators (things/simulators/ and their base, wot_labthing/_line_simulator.py) are
    # the tests' fake instruments, driven from test code
    blockbuster = BlockBuster(
        ["wot_labthing", "things"],
        excluded_modules=["things.simulators", "wot_labthing._line_simulator"],
    )
    for name in EXTRA_BLOCKING:
        blockbuster.functions[name] = BlockBusterFunction(
            None,
            name,
            scanned_modules=["wot_labthing", "things"],
            excluded_modules=["things.simulators", "wot_labthing._line_simulator"],
        )
    for function in blockbuster.functions.values():
        # importing a module reads files; the lazy exports import on first use
        function.can_block_in("importlib._bootstrap>", "_find_and_load")
        # a shipped schema is read once, then cached (the TD schema is read off the loop)
        function.can_block_in("wot_labthing/_resources.py", "load_schema")
    for function in _checked(blockbuster):
        function.activate()
    try:
        yield blockbuster
    finally:
        blockbuster.deactivate()


@pytest.fixture(autouse=True)
def no_blocking_on_the_loop(
    request: pytest.FixtureRequest, loop_blocking_checks: BlockBuster
) -> Iterator[None]:
    """Fail a blocking call (sleep, file or socket I/O, lock waits) made by our code on a loop.

    blockbuster patches the blocking functions; it raises ``BlockingError`` when one
    is called from ``wot_labthing`` or ``things`` code (drivers, not the simulators)
    in a thread running an event loop. Tests that block a loop on purpose carry
    ``@pytest.mark.allow_blocking``.
    """
    if not request.node.get_closest_marker("allow_blocking"):
        yield
        return
    loop_blocking_checks.deactivate()
    try:
        yield
    finally:
        for function in _checked(loop_blocking_checks):
            function.activate()


def require_node() -> str:
    """Path of ``node``; a skip locally, a failure under CI=true."""
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        message = "node and npm are needed for interop tests"
        if IN_CI:
            pytest.fail(message + " (CI=true: not skipping)")
        pytest.skip(message)
    return node


def ensure_node_modules() -> Path:
    """Install tests/interop's pinned npm packages (npm ci) if they are not there yet."""
    require_node()
    modules = INTEROP_DIR / "node_modules"
    if not (modules / SCHEMA_PACKAGE).exists() or not (modules / "@node-wot" / "core").exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=INTEROP_DIR,
            check=True,
            capture_output=True,
            timeout=600,
        )
    return modules


@pytest.fixture(scope="session")
def official_td_schema() -> dict[str, Any]:
    """The W3C TD 1.1 JSON Schema from the pinned npm package."""
    modules = ensure_node_modules()
    path = modules / SCHEMA_PACKAGE / "schema" / "td-json-schema-validation.json"
    schema: dict[str, Any] = json.loads(path.read_text("utf-8"))
    assert schema["version"] == "1.1-12-March-2025"
    return schema


@pytest.fixture(scope="session")
def td_validator(official_td_schema: dict[str, Any]) -> Draft7Validator:
    """A Draft-07 validator for TDs with format checking on."""
    return Draft7Validator(official_td_schema, format_checker=Draft7Validator.FORMAT_CHECKER)


@pytest.fixture
def assert_valid_td(td_validator: Draft7Validator) -> Callable[[dict[str, Any]], None]:
    """Assert a TD passes the official schema (format checking on) and our extra checks."""

    def check(td: dict[str, Any]) -> None:
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in td_validator.iter_errors(td)]
        assert errors == [], errors
        from wot_labthing._td import check_td

        assert check_td(td) == []

    return check


@pytest.fixture
def run_node() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run a node script from tests/interop with arguments; returns the completed process."""

    def run(script: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        node = require_node()
        ensure_node_modules()
        return subprocess.run(
            [node, str(INTEROP_DIR / script), *args],
            cwd=INTEROP_DIR,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


@contextmanager
def demo_servient(
    *extra: str, config: str = "examples/demo.toml"
) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """``wot-labthing serve examples/demo.toml --port 0 --no-mdns`` as a user runs it.

    Yields the process and the TD URLs it printed before "ready"; stops it with SIGINT.
    """
    command = [sys.executable, "-m", "wot_labthing", "serve", config]
    with subprocess.Popen(
        [*command, "--port", "0", "--no-mdns", *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        assert process.stdout is not None
        urls: list[str] = []
        for line in process.stdout:
            if line.startswith("TD: "):
                urls.append(line[4:].strip())
            elif line.startswith("ready"):
                break
        try:
            yield process, urls
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=20)


@asynccontextmanager
async def serving(
    things: Iterable[wl.Thing], settings: wl.ServientSettings | None = None
) -> AsyncIterator[tuple[wl.HttpServer, httpx.AsyncClient]]:
    """A real hypercorn server on a free loopback port, and an httpx client for it."""
    server = wl.HttpServer(wl.Servient(things, settings=settings), host="127.0.0.1", port=0)
    async with server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            yield server, client


class Serve(Protocol):
    """The type of the ``serve`` fixture, for test signatures (it is :func:`serving`)."""

    def __call__(
        self, things: Iterable[wl.Thing], settings: wl.ServientSettings | None = None
    ) -> AbstractAsyncContextManager[tuple[wl.HttpServer, httpx.AsyncClient]]: ...


#: The type of the ``assert_valid_td`` fixture, for test signatures.
AssertValidTd = Callable[[dict[str, Any]], None]


@pytest.fixture
def serve() -> Serve:
    """``async with serve([thing, ...]) as (server, client):`` in a test."""
    return serving


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--hardware NAME=PORT`` opts in to tests against a real instrument."""
    parser.addoption(
        "--hardware",
        action="append",
        default=[],
        metavar="NAME=PORT",
        help="run the hardware tests of instrument NAME (sangaboard, 34401a) on PORT",
    )


@pytest.fixture
def hardware_port(request: pytest.FixtureRequest) -> str:
    """The port given with ``--hardware NAME=PORT`` for the test's ``hardware(NAME)`` marker.

    Tests against real instruments are opt-in: without the option they are skipped,
    and say how to run them.
    """
    marker = request.node.get_closest_marker("hardware")
    assert marker is not None and marker.args, "use @pytest.mark.hardware('NAME')"
    name = marker.args[0]
    options: list[str] = request.config.getoption("--hardware")
    for option in options:
        key, _, port = option.partition("=")
        if key == name and port:
            return port
    pytest.skip(f"needs a real {name}: pytest --hardware {name}=PORT")
