"""RFC 9457 problem objects built from exceptions (slug, title and status per class).

Failed invocations record their error as a problem object, and the HTTP
binding sends the same objects as ``application/problem+json`` with the status
the exception's class declares (``_errors.py`` holds the one table). The
``type`` URIs tell clients the kind of failure, e.g. a cancelled run from a
crashed one.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from ._errors import InvocationCancelled, WotLabthingError

__all__ = ["PROBLEM_TYPE_PREFIX", "http_status", "problem_for", "problem_type", "public_problem"]

#: Every problem ``type`` of wot-labthing starts with this URI prefix.
PROBLEM_TYPE_PREFIX = "urn:wot-labthing:problem:"


def _kind(exc: BaseException) -> type[WotLabthingError] | type[InvocationCancelled] | None:
    """The class whose slug, title and status describe ``exc`` (None: an internal error)."""
    if isinstance(exc, WotLabthingError):
        return type(exc)
    if isinstance(exc, InvocationCancelled | asyncio.CancelledError):
        return InvocationCancelled
    return None


def http_status(exc: BaseException) -> int:
    """The HTTP status that reports ``exc`` (from its class; 500 for anything else)."""
    kind = _kind(exc)
    return kind.http_status if kind is not None else WotLabthingError.http_status


def problem_type(slug: str) -> str:
    """The full ``type`` URI for a problem ``slug`` such as ``cancelled``."""
    return PROBLEM_TYPE_PREFIX + slug


def problem_for(exc: BaseException) -> dict[str, Any]:
    """An RFC 9457 problem object describing ``exc`` (no ``status``; bindings add it)."""
    kind = _kind(exc) or WotLabthingError
    slug, title = kind.problem_slug, kind.problem_title
    detail = str(exc) or type(exc).__name__
    problem: dict[str, Any] = {"type": problem_type(slug), "title": title, "detail": detail}
    if slug == "internal-error":
        problem["exception"] = type(exc).__qualname__
    for field in ("pointer", "thing", "affordance", "port", "command", "applied"):
        value = getattr(exc, field, None)
        if value is not None:
            problem[field] = value
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        problem["retryAfter"] = retry_after
    return problem


#: Absolute file or device paths (``/dev/ttyUSB0``, ``/home/lab/x.py``, ``C:\\x``, ``COM3``).
_PATHS = re.compile(
    r"(?<![\w:/])(?:/(?:dev|home|usr|opt|srv|var|tmp|root|etc|mnt|media|proc|sys|run|Users)"
    r"(?:/[^\s'\",;)]*)?|[A-Za-z]:\\[^\s'\",;)]*|\bCOM[0-9]+\b)"
)
#: Problem members that name server internals.
_INTERNAL = ("port", "command", "exception")


def public_problem(problem: dict[str, Any], *, debug: bool = False) -> dict[str, Any]:
    """``problem`` as a client may see it: no device or file paths, no internals.

    With ``debug`` it is returned unchanged (development only). The server log
    keeps the full story.
    """
    if debug:
        return problem
    public = {key: value for key, value in problem.items() if key not in _INTERNAL}
    if isinstance(public.get("detail"), str):
        public["detail"] = _PATHS.sub("<path>", public["detail"])
    return public
