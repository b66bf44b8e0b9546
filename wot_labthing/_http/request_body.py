"""Reading request bodies: size limit, content type and strict JSON."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

from quart import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge, RequestTimeout, UnsupportedMediaType

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
    data = await _body()
    if len(data) > limit:
        raise RequestEntityTooLarge(f"the body is larger than the limit of {limit} bytes")
    if not data.strip():
        if default is not _MISSING:
            return default
    if content_type and not _is_json(content_type):
        raise UnsupportedMediaType(f"send application/json, not {content_type!r}")
    return loads(data)


async def _body() -> bytes:
    """The whole body, within Quart's ``BODY_TIMEOUT`` (a slow sender gets 408).

    ``request.get_data`` does the same with ``asyncio.wait_for``, whose timer copies the
    request's context: a cancelled timer stays in the loop's schedule until it would
    have fired, so every request's objects (request, contexts, hypercorn stream) stayed
    alive for the whole timeout (60 s) after its answer. Here the timer is scheduled in
    an empty context.
    """
    timeout: float | None = current_app.config["BODY_TIMEOUT"]
    scope = asyncio.timeout(None)
    try:
        async with scope:
            if timeout is not None:
                deadline = asyncio.get_running_loop().time() + timeout
                contextvars.Context().run(scope.reschedule, deadline)
            data: bytes = await request.body
    except TimeoutError:
        raise RequestTimeout(f"the body did not arrive within {timeout} s") from None
    request.body.clear()
    return data
