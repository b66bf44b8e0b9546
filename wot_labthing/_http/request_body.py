"""Reading request bodies: size limit, content type and strict JSON."""

from __future__ import annotations

from typing import Any

from quart import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

from .._jsonutil import loads

__all__ = ["read_json_body"]

_MISSING: Any = object()


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


async def read_json_body(*, default: Any = _MISSING) -> Any:
    """The request's JSON body.

    An empty body returns ``default`` when one is given (an action without input).
    Raises 413 over the configured size, 415 for a non-JSON content type, and
    :class:`InputError` (400) for malformed JSON.
    """
    limit: int = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge(f"the body is larger than the limit of {limit} bytes")
    content_type = request.headers.get("Content-Type", "")
    data = await request.get_data(cache=False, as_text=False)
    if len(data) > limit:
        raise RequestEntityTooLarge(f"the body is larger than the limit of {limit} bytes")
    if not data.strip():
        if default is not _MISSING:
            return default
    if content_type and not _is_json(content_type):
        raise UnsupportedMediaType(f"send application/json, not {content_type!r}")
    return loads(data)
