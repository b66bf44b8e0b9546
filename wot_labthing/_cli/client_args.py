"""The client subcommands' arguments, without their work (built for every command line).

Every ``wot-labthing`` command line, ``--help`` included, builds these parsers; the
handlers import their module of :mod:`.client` (httpx and the consumer) only when a
client command runs, so the other commands start without them.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from typing import Any

__all__ = [
    "CAFILE_ENV",
    "MQTT_PASSWORD_ENV",
    "MQTT_USER_ENV",
    "NETRC_ENV",
    "PASSWORD_ENV",
    "TOKEN_ENV",
    "USER_ENV",
    "add_client_commands",
]

PASSWORD_ENV = "WOT_LABTHING_PASSWORD"
TOKEN_ENV = "WOT_LABTHING_TOKEN"
USER_ENV = "WOT_LABTHING_USER"
NETRC_ENV = "WOT_LABTHING_NETRC"
CAFILE_ENV = "WOT_LABTHING_CAFILE"
#: The MQTT broker's login (its own accounts: never the HTTP --user).
MQTT_USER_ENV = "WOT_LABTHING_MQTT_USER"
MQTT_PASSWORD_ENV = "WOT_LABTHING_MQTT_PASSWORD"


def _runs(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    """A handler that imports ``client.<module>`` when it runs and calls its ``name``."""

    def handler(args: argparse.Namespace) -> int:
        commands = importlib.import_module(f"{__package__}.client.{module}")
        status: int = getattr(commands, name)(args)
        return status

    handler.__name__ = handler.__qualname__ = name  # names the work it stands for
    return handler


def _common(url_optional: bool = False) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    if url_optional:
        parent.add_argument(
            "url",
            metavar="URL",
            nargs="?",
            help="a TD Directory's, servient's or TD URL, or a Thing's name to discover"
            " (default: the TD Directories announced on the LAN)",
        )
    else:
        parent.add_argument(
            "url",
            metavar="URL",
            help="a TD URL, a servient URL (http://host:port/) or a Thing's name to discover",
        )
    parent.add_argument(
        "--user", metavar="USER[:PASSWORD]", help=f"HTTP basic credentials (or ${PASSWORD_ENV})"
    )
    parent.add_argument("--token", help=f"bearer token (or ${TOKEN_ENV})")
    parent.add_argument(
        "--netrc",
        metavar="FILE",
        help=f"netrc-style credentials file (or ${NETRC_ENV}; default ~/.netrc)",
    )
    parent.add_argument(
        "--cafile", metavar="PEM", help=f"CA certificates to verify https with (or ${CAFILE_ENV})"
    )
    parent.add_argument(
        "--timeout", type=float, default=10.0, help="seconds per request (default 10)"
    )
    parent.add_argument(
        "--discover-timeout",
        type=float,
        default=3.0,
        help="seconds to browse the LAN when URL is a name or absent (default 3)",
    )
    parent.add_argument(
        "--no-validate", action="store_true", help="use a TD even if it breaks the TD 1.1 schema"
    )
    return parent


def add_client_commands(commands: Any) -> None:
    """Add ``read``, ``write``, ``invoke``, ``observe`` and ``things`` to ``commands``.

    ``commands`` is the object ``ArgumentParser.add_subparsers()`` returned.
    """
    common = _common()
    read = commands.add_parser("read", parents=[common], help="read a property of a Thing")
    read.add_argument("property", metavar="PROPERTY")
    read.set_defaults(handler=_runs("properties", "_read"))

    write = commands.add_parser(
        "write",
        parents=[common],
        help="write a property of a Thing",
        epilog="VALUE is JSON: 5, true, '\"fast\"', '[1, 2]'; a negative number after --.",
    )
    write.add_argument("property", metavar="PROPERTY")
    write.add_argument("value", metavar="VALUE", help="the value as JSON")
    write.set_defaults(handler=_runs("properties", "_write"))

    invoke = commands.add_parser(
        "invoke", parents=[common], help="invoke an action and print its output as JSON"
    )
    invoke.add_argument("action", metavar="ACTION")
    invoke.add_argument("--input", metavar="JSON", help="the action's input as JSON")
    invoke.add_argument(
        "--progress",
        action="store_true",
        help="draw the progress bar even when stderr is not a terminal",
    )
    invoke.add_argument(
        "--yes",
        "--cancel-on-interrupt",
        dest="yes",
        action="store_true",
        help="on Ctrl-C cancel the run without asking",
    )
    invoke.set_defaults(handler=_runs("invoke", "_invoke"))

    observe = commands.add_parser(
        "observe",
        parents=[common],
        help="print every change of a property (or every event) as a JSON line",
    )
    observe.add_argument("name", metavar="PROPERTY", help="an observable property, or an event")
    observe.add_argument("--count", type=int, default=0, help="stop after this many values")
    observe.add_argument(
        "--subprotocol",
        choices=["mqtt", "sse", "longpoll"],
        help="force the MQTT broker, SSE or long polling (default: the broker if the TD"
        " offers one and it answers, else SSE)",
    )
    observe.add_argument(
        "--mqtt-user",
        metavar="USER[:PASSWORD]",
        help=f"the MQTT broker's login, if it wants one (or ${MQTT_USER_ENV} and"
        f" ${MQTT_PASSWORD_ENV}); --user is never sent to a broker",
    )
    observe.set_defaults(handler=_runs("observe", "_observe"))

    things = commands.add_parser(
        "things",
        parents=[_common(url_optional=True)],
        help="list (or search) the Things a servient or directory offers",
    )
    things.add_argument("--json", action="store_true", help="print JSON")
    things.add_argument(
        "--title", metavar="TEXT", help="only Things whose title contains TEXT (any case)"
    )
    things.add_argument(
        "--type", metavar="TYPE", help="only Things with TYPE among their @type values"
    )
    things.set_defaults(handler=_runs("things", "_things"))
