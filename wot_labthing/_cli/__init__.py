"""The ``wot-labthing`` command line (also ``python -m wot_labthing``).

Subcommands: ``serve`` a config, print a class's ``td`` or Thing Model (``tm``),
``validate`` a TD file,
``simulate`` an instrument, ``discover`` Things on the LAN, and use remote Things
(``read``, ``write``, ``invoke``, ``observe``, ``things``). Errors print one
line on stderr and exit non-zero, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import logging
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .._config import ServientConfig, build_things, import_thing_class, load_config
from .._errors import WotLabthingError
from .._ids import ServientIds
from .._jsonutil import key_value, loads
from .._servient import Servient
from .._td import validate_td
from .._tm import validate_tm

__all__ = ["main"]

_log = logging.getLogger("wot_labthing")

Handler = Callable[[argparse.Namespace], int]

#: Why ``serve`` cannot bind, in the CLI's one-line error style.
_LISTEN_ERRORS = {
    errno.EADDRINUSE: "address in use",
    errno.EACCES: "permission denied (ports below 1024 need privileges)",
    errno.EADDRNOTAVAIL: "no such address on this machine",
}


def _serve(args: argparse.Namespace) -> int:
    config = load_config(args.config) if args.config else ServientConfig()
    if args.host is not None:
        config.host = args.host
    if args.port is not None:
        config.port = args.port
    if args.no_mdns:
        config.mdns = False
    if args.certfile or args.keyfile:
        if not (args.certfile and args.keyfile):
            raise WotLabthingError("give both --certfile and --keyfile")
        config.security.certfile, config.security.keyfile = args.certfile, args.keyfile
    logging.basicConfig(
        level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    simulators = _start_simulators(config)
    try:
        things = build_things(config)
        if not things:
            print("warning: no Things configured; serving an empty directory", file=sys.stderr)
        servient = Servient(things, settings=config.settings, ids=_servient_ids(config, args))
        return asyncio.run(_run_servient(config, servient))
    finally:
        _stop_simulators(simulators)


def _servient_ids(config: ServientConfig, args: argparse.Namespace) -> ServientIds:
    """The id namespace of this servient: its config file's path tells it apart (``_ids.py``)."""
    from .._state import resolve_state_dir

    key = str(Path(args.config).resolve()) if args.config else ""
    # the ``state_dir`` setting (issue #13) when this build has it; else the default
    configured = getattr(config.settings, "state_dir", None)
    return ServientIds(resolve_state_dir(configured), key)


def _start_simulators(config: ServientConfig) -> list[Any]:
    """Start the config's ``[[simulators]]`` (none: nothing imported)."""
    if not config.simulators:
        return []
    from .._simulators import start_simulators

    endpoints = start_simulators(config)
    for entry, endpoint in zip(config.simulators, endpoints, strict=True):
        print(f"simulator {entry.name} ({entry.simulator}) on {endpoint.url}", flush=True)
    return endpoints


def _stop_simulators(endpoints: list[Any]) -> None:
    if endpoints:
        from .._simulators import stop_simulators

        stop_simulators(endpoints)


def compose(config: ServientConfig, servient: Servient) -> Any:
    """Wire ``servient`` as ``serve`` runs it: HTTP; MQTT, TDDs if configured; mDNS.

    Returns the :class:`HttpServer`; ``async with servient`` then starts and stops
    everything. Programs that embed a servient do the same in their own code.
    """
    from .._http import HttpServer

    server = HttpServer(servient, host=config.host, port=config.port, security=config.security)
    if config.mqtt is not None:
        from .._mqtt import MqttBinding, MqttSettings

        MqttBinding(servient, MqttSettings(**config.mqtt))
    if config.directories:
        from .._registration import DirectoryRegistrar, DirectorySettings

        for entry in config.directories:
            settings = DirectorySettings(**entry)
            servient.add_registrar(DirectoryRegistrar(settings))
            if settings.advertise and settings.url is not None:
                from .._discovery import DirectoryAdvertising

                servient.add_advertiser(
                    DirectoryAdvertising(settings.url, allow_loopback=config.mdns_loopback)
                )
    if config.mdns:
        try:
            from .._discovery import MdnsAdvertising
        except ImportError:  # pragma: no cover - discovery not installed
            return server
        servient.add_advertiser(
            MdnsAdvertising(allow_loopback=config.mdns_loopback, legacy=config.mdns_legacy)
        )
    return server


async def _run_servient(config: ServientConfig, servient: Servient) -> int:
    server = compose(config, servient)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with servient:
            print(f"wot-labthing serving on {server.url}", flush=True)
            print(f"directory: {server.directory_url}", flush=True)
            for url in server.td_urls():
                print(f"TD: {url}", flush=True)
            print("ready (Ctrl-C stops the servient)", flush=True)
            await stop.wait()
            print("shutting down: cancelling running actions", file=sys.stderr, flush=True)
    except OSError as exc:
        raise _listen_error(config, exc) from None
    return 0


def _listen_error(config: ServientConfig, exc: OSError) -> BaseException:
    """A one-line error for a port or address the servient cannot listen on."""
    reason = _LISTEN_ERRORS.get(exc.errno or 0)
    if reason is None and not isinstance(exc, socket.gaierror):
        return exc  # not about listening: the usual handling
    where = f"[{config.host}]" if ":" in config.host else config.host
    hint = " (try --port)" if exc.errno == errno.EADDRINUSE else ""
    return WotLabthingError(
        f"cannot listen on {where}:{config.port}: {reason or exc.strerror or exc}{hint}"
    )


def _td(args: argparse.Namespace) -> int:
    from .._http.forms import thing_description
    from .._thing import describe_only

    target, directory = args.thing_class, Path.cwd()
    module, colon, qualname = target.partition(":")
    if colon and module.endswith(".py"):  # a file anywhere: path/to/heater.py:Heater
        directory, target = Path(module).resolve().parent, f"{Path(module).stem}:{qualname}"
    cls = import_thing_class(target, directory=directory)
    if not args.arg:  # the TD comes from the class: no constructor, no instrument
        thing = describe_only(cls)
    else:
        try:
            thing = cls(**dict(args.arg))
        except (TypeError, ValueError) as exc:
            raise WotLabthingError(f"cannot build {args.thing_class}: {exc}") from None
    td = thing_description(thing, args.base)
    print(json.dumps(td, indent=2, allow_nan=False))
    return 0


def _tm(args: argparse.Namespace) -> int:
    from .._http.forms import served_model

    cls = import_thing_class(args.thing_class, directory=Path.cwd())
    print(json.dumps(served_model(cls, args.base), indent=2, allow_nan=False))
    return 0


def _validate(args: argparse.Namespace) -> int:
    failures = 0
    for path in args.files:
        try:
            td = loads(Path(path).read_bytes())
        except OSError as exc:
            print(f"{path}: cannot read: {exc.strerror}", file=sys.stderr)
            failures += 1
            continue
        except WotLabthingError as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            failures += 1
            continue
        documents = td if isinstance(td, list) else [td]
        for index, document in enumerate(documents):
            label = path if len(documents) == 1 else f"{path}[{index}]"
            types = document.get("@type") if isinstance(document, dict) else None
            is_model = "tm:ThingModel" in (types if isinstance(types, list) else [types])
            problems = validate_tm(document) if is_model else validate_td(document)
            if problems:
                failures += 1
                print(f"{label}: INVALID ({len(problems)} problems)")
                for problem in problems:
                    print(f"  {problem}")
            else:
                print(f"{label}: valid {'TM' if is_model else 'TD'} 1.1")
    return 1 if failures else 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="wot-labthing", description="A W3C Web of Things servient for lab instruments."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the Things of a TOML config")
    serve.add_argument("config", nargs="?", help="TOML config file")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="TCP port; 0 picks a free one (default 8080)")
    serve.add_argument("--no-mdns", action="store_true", help="do not advertise with zeroconf")
    serve.add_argument("--certfile", help="TLS certificate (PEM): serve HTTPS")
    serve.add_argument("--keyfile", help="TLS private key (PEM) of --certfile")
    serve.set_defaults(handler=_serve)

    td = commands.add_parser("td", help="print the TD of a Thing class")
    td.add_argument("thing_class", metavar="module:Class")
    td.add_argument("--base", default="http://localhost:8080/", help="server URL for the forms")
    td.add_argument(
        "--arg",
        type=key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="constructor argument (VALUE is JSON or a bare string); not needed for a TD",
    )
    td.set_defaults(handler=_td)

    tm = commands.add_parser("tm", help="print the Thing Model of a Thing class")
    tm.add_argument("thing_class", metavar="module:Class")
    tm.add_argument(
        "--base",
        default="http://localhost:8080/",
        help="server URL under which the models it extends are served",
    )
    tm.set_defaults(handler=_tm)

    validate = commands.add_parser("validate", help="check TD (or TM) files against TD 1.1")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.set_defaults(handler=_validate)

    _add_optional_commands(commands)
    return parser


def _add_optional_commands(commands: Any) -> None:
    """Subcommands implemented in their own modules (simulators, discovery, client)."""
    from .extras import add_extra_commands

    add_extra_commands(commands)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        handler: Handler = args.handler
        return handler(args)
    except KeyboardInterrupt:
        return 130
    except WotLabthingError as exc:
        if args.verbose:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
