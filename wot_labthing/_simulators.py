"""Start the instrument simulators a config asks for, and ``wot-labthing simulate``.

A simulator is a :class:`~wot_labthing.LineSimulator` subclass named as
``"module:Class"`` or by the name an installed package registers in the
``wot_labthing.simulators`` entry-point group (the shipped ``things`` package
registers ``sangaboard`` and ``34401a``); it speaks its instrument's wire
protocol over a pseudo-terminal or TCP, so the servient's real drivers run
against it unchanged. This module only wires simulators to configs and to the
command line.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from ._config import ServientConfig, SimulatorEntry, resolve_simulator_references
from ._errors import ConfigError
from ._jsonutil import key_value
from ._line_simulator import LineSimulator, SimulatorEndpoint
from ._plugins import SIMULATORS_GROUP, load_class

__all__ = ["add_simulate_command", "start_simulators", "stop_simulators"]


def _endpoint(
    entry: SimulatorEntry, directory: Path | None, label: str | None
) -> SimulatorEndpoint:
    try:
        cls = load_class(
            entry.simulator, group=SIMULATORS_GROUP, base=LineSimulator, directory=directory
        )
    except ConfigError as exc:
        raise ConfigError(str(exc), entry=label) from None
    try:
        simulator = cls(**entry.options)
    except TypeError as exc:
        raise ConfigError(f"wrong options for {entry.simulator}: {exc}", entry=label) from None
    kind: Any = entry.kind
    return SimulatorEndpoint(
        simulator, kind=kind, link=entry.link, host=entry.host, port=entry.port
    )


def start_simulators(config: ServientConfig) -> list[SimulatorEndpoint]:
    """Start every configured simulator and point the Things' kwargs at them."""
    started: list[SimulatorEndpoint] = []
    urls: dict[str, str] = {}
    try:
        for entry in config.simulators:
            endpoint = _endpoint(entry, config.directory, f"simulators entry {entry.name!r}")
            try:
                urls[entry.name] = endpoint.start()
            except OSError as exc:
                raise ConfigError(
                    f"cannot start: {exc}", entry=f"simulators entry {entry.name!r}"
                ) from None
            started.append(endpoint)
    except BaseException:
        stop_simulators(started)
        raise
    resolve_simulator_references(config, urls)
    return started


def stop_simulators(endpoints: list[SimulatorEndpoint]) -> None:
    """Stop simulators (after the servient closed its drivers)."""
    for endpoint in reversed(endpoints):
        with contextlib.suppress(Exception):
            endpoint.close()


def _simulate(args: argparse.Namespace) -> int:
    entry = SimulatorEntry(
        name=args.name.rpartition(":")[2],
        simulator=args.name,
        kind="socket" if args.socket is not None else "pty",
        host=args.host,
        port=args.socket or 0,
        link=args.link,
        options=dict(args.option),
    )
    endpoint = _endpoint(entry, Path.cwd(), None)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        url = endpoint.start()
    except OSError as exc:
        raise ConfigError(f"cannot start the {args.name} simulator: {exc}") from None
    try:
        print(f"{args.name} simulator on {url}", flush=True)
        print(f"port: {url}", flush=True)
        print("ready (Ctrl-C stops the simulator)", flush=True)
        stop.wait()
    finally:
        endpoint.close()
    print(f"{args.name} simulator stopped", file=sys.stderr, flush=True)
    return 0


def add_simulate_command(commands: Any) -> None:
    """Add ``simulate NAME`` to the CLI's subcommands."""
    simulate = commands.add_parser(
        "simulate",
        help="run an instrument simulator on a pseudo-terminal or TCP port",
        description="Serve a simulated instrument's wire protocol, so its real driver "
        "(or a terminal program) can talk to it. Prints the port to open.",
    )
    simulate.add_argument(
        "name",
        metavar="SIMULATOR",
        help="an installed simulator's name (see wot-labthing list) or module:Class "
        "(importable from the working directory)",
    )
    simulate.add_argument(
        "--socket",
        type=int,
        metavar="PORT",
        help="serve on TCP (a socket://HOST:PORT URL; 0 picks a port) instead of a pty",
    )
    simulate.add_argument("--host", default="127.0.0.1", help="address for --socket")
    simulate.add_argument("--link", help="symlink path for the pty (stable across restarts)")
    simulate.add_argument(
        "--option",
        type=key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="simulator constructor option (VALUE is JSON or a bare string)",
    )
    simulate.set_defaults(handler=_simulate)
