"""Strict JSON and RFC 3339 times, shared by every layer.

Python's :mod:`json` emits ``NaN`` and ``Infinity`` by default, which RFC 8259
forbids and node-wot cannot parse; everything wot-labthing sends goes through
:func:`dumps`, which refuses them with a clear error instead.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from ._errors import InputError, NotFiniteError

__all__ = ["dumps", "key_value", "loads", "rfc3339", "utc_now_text"]


#: One encoder for every message: ``json.dumps`` with options builds a new one per call.
_ENCODE = json.JSONEncoder(allow_nan=False, ensure_ascii=False, separators=(",", ":")).encode


def dumps(value: Any) -> str:
    """Serialise ``value`` as RFC 8259 JSON; NaN or Infinity raise :class:`NotFiniteError`."""
    try:
        return _ENCODE(value)
    except ValueError as exc:
        raise NotFiniteError(f"value cannot be sent as JSON: {exc}") from exc


def _refuse_constant(name: str) -> Any:
    raise InputError(f"{name} is not valid JSON (RFC 8259 has no NaN or Infinity)")


#: Deepest nesting of arrays and objects accepted from a peer.
MAX_DEPTH = 64
#: Most digits of a JSON integer accepted from a peer (a 64-bit value has 20).
MAX_INT_DIGITS = 64


def _parse_int(text: str) -> int:
    if len(text) > MAX_INT_DIGITS + 1:
        raise InputError(f"integer with {len(text)} digits is out of range")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise InputError(f"number {text[:20]}... is out of range (not a finite double)")
    return value


def _check_depth(value: Any) -> None:
    """Refuse nesting deeper than :data:`MAX_DEPTH` (schema checks and drivers recurse)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > MAX_DEPTH:
                    raise InputError(f"JSON nested deeper than {MAX_DEPTH} levels")
                stack.append((child, depth + 1))


def loads(text: str | bytes) -> Any:
    """Parse RFC 8259 JSON; malformed text or NaN/Infinity raise :class:`InputError`.

    Out-of-range numbers (``10**400``, thousands of digits) and nesting deeper
    than :data:`MAX_DEPTH` are refused too, as :class:`InputError`.
    """
    try:
        value = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_int=_parse_int,
            parse_float=_parse_float,
        )
    except RecursionError:
        raise InputError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        raise InputError(
            f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"body is not UTF-8: {exc.reason}") from exc
    _check_depth(value)
    return value


def rfc3339(moment: datetime) -> str:
    """Format an aware datetime as RFC 3339 in UTC with a ``Z`` suffix (millisecond precision)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_now_text() -> str:
    """The current time as RFC 3339 UTC text."""
    return rfc3339(datetime.now(UTC))


def key_value(text: str) -> tuple[str, Any]:
    """Parse a command-line ``KEY=VALUE``: VALUE as JSON, else as a bare string.

    So ``port=/dev/ttyACM0`` and ``speed=500`` both do what a user means.

    Raises:
        ValueError: there is no ``=`` or no key.
    """
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise ValueError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw
