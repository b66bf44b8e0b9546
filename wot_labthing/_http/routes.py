"""The HTTP binding's URL layout, in one place.

Every route is declared with one of these rules, and every href the binding
hands out (TD forms, directory links, run records, what the server prints) is
built from the same rules, so moving a path is a one-line change here. The
table of paths and operations is in ``docs/architecture.md``.
"""

from __future__ import annotations

import re

__all__ = ["fill", "relative", "thing_path"]

THINGS = "/things"
THING = "/things/<thing>"
PROPERTIES = THING + "/properties"
PROPERTY = PROPERTIES + "/<name>"
PROPERTY_LONGPOLL = PROPERTY + "/observable"
PROPERTY_SSE = PROPERTY + "/sse"
PROPERTIES_STREAM = THING + "/streams/properties"
EVENTS_STREAM = THING + "/streams/events"
EVENT = THING + "/events/<name>"
EVENT_SSE = EVENT + "/sse"
THING_ACTIONS = THING + "/actions"
ACTION = THING_ACTIONS + "/<name>"
INVOCATIONS = "/actions"
INVOCATION = INVOCATIONS + "/<invocation_id>"
INVOCATION_OUTPUT = INVOCATION + "/output"
INVOCATION_EVENTS = INVOCATION + "/events"
DIRECTORY = "/.well-known/wot"
#: A TD by its id (percent-encoded or not) or its Thing name: ``retrieveThing``.
THING_BY_ID = "/things/<path:reference>"
MODEL = "/models/<class_path>"
LIVENESS = "/healthz"
READINESS = "/readyz"
# the browser panel; its static files name /panel/... and /.well-known/wot themselves
PANEL = "/"
PANEL_ASSET = "/panel/<path:name>"

_VARIABLE = re.compile(r"<(?:\w+:)?(\w+)>")


def fill(rule: str, **values: str) -> str:
    """``rule`` with its ``<variables>`` replaced (values may be URI template parts)."""
    return _VARIABLE.sub(lambda match: values[match.group(1)], rule)


def relative(rule: str, **values: str) -> str:
    """A rule under a Thing, relative to the Thing's base (``/things/<thing>/``)."""
    prefix = THING + "/"
    if not rule.startswith(prefix):
        raise ValueError(f"{rule} is not under a Thing")
    return fill(rule[len(prefix) :], **values)


def thing_path(thing_name: str) -> str:
    """The absolute path of a Thing's TD, e.g. ``/things/stage``."""
    return fill(THING, thing=thing_name)
