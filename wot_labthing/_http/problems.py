"""Errors -> RFC 9457 ``application/problem+json`` responses with the right status.

Each exception class declares its status (``_errors.py``); this module only
answers with it. No framework HTML page and no traceback ever reaches a client: unexpected
exceptions become a 500 problem naming the exception type, and are logged.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from quart import Quart, Response, current_app, request
from werkzeug.exceptions import HTTPException

from .._errors import BusyError, NotAllowedError, WotLabthingError
from .._jsonutil import dumps
from .._problems import http_status, problem_for, problem_type, public_problem

__all__ = ["install_error_handlers", "problem_response", "status_for"]

_log = logging.getLogger(__name__)


def status_for(exc: BaseException) -> int:
    """The HTTP status that reports ``exc``: the one its class declares (``_errors.py``)."""
    return http_status(exc)


def problem_response(
    problem: dict[str, Any], status: int, headers: dict[str, str] | None = None
) -> Response:
    """A problem+json response; ``status`` and ``instance`` are filled in."""
    body = {**problem, "status": status}
    body.setdefault("instance", request.path)
    response = Response(dumps(body), status=status, content_type="application/problem+json")
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _http_problem(exc: HTTPException) -> Response:
    status = exc.code or 500
    slug = {
        404: "not-found",
        405: "not-allowed",
        413: "body-too-large",
        415: "unsupported-media-type",
    }.get(status, f"http-{status}")
    problem = {"type": problem_type(slug), "title": exc.name, "detail": exc.description or ""}
    headers = {}
    if status == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
        headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    return problem_response(problem, status, headers)


def install_error_handlers(app: Quart) -> None:
    """Turn every exception raised by a route into a problem response."""

    @app.errorhandler(HTTPException)
    async def handle_http(exc: HTTPException) -> Response:
        return _http_problem(exc)

    @app.errorhandler(WotLabthingError)
    async def handle_ours(exc: WotLabthingError) -> Response:
        status = status_for(exc)
        headers: dict[str, str] = {}
        if isinstance(exc, NotAllowedError) and exc.allowed:
            headers["Allow"] = ", ".join(exc.allowed)
        if isinstance(exc, BusyError) and exc.retry_after is not None:
            headers["Retry-After"] = str(max(1, round(exc.retry_after)))
        problem = problem_for(exc)
        if status >= 500:
            problem = public_problem(problem, debug=_debug())
            problem["instance"] = incident = _incident()
            _log.warning("%s %s failed [%s]: %s", request.method, request.path, incident, exc)
        return problem_response(problem, status, headers)

    @app.errorhandler(Exception)
    async def handle_unexpected(exc: Exception) -> Response:
        incident = _incident()
        _log.exception("unexpected error in %s %s [%s]", request.method, request.path, incident)
        problem = public_problem(problem_for(exc), debug=_debug())
        return problem_response({**problem, "instance": incident}, 500)


def _incident() -> str:
    """An id for one failure: in the answer's ``instance`` and in the server log line."""
    return f"urn:uuid:{uuid.uuid4()}"


def _debug() -> bool:
    """Whether the servient is configured to show exception details to clients."""
    servient = current_app.config.get("SERVIENT")
    return bool(getattr(getattr(servient, "settings", None), "debug", False))
