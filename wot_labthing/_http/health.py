"""Liveness and readiness probes for supervisors (systemd, container orchestrators).

``GET /healthz``
    200 ``{"status": "alive"}`` whenever the server answers at all: the process
    and its event loop are alive. A supervisor restarts the servient when this
    stops answering.
``GET /readyz``
    200 when the servient is started and every Thing's instrument is reachable,
    otherwise 503; the body is the servient's readiness report either way:
    ``{"ready": bool, "things": [names], "unreachable": [{"thing", "detail"}]}``.
    A supervisor stops routing work here while it is 503.

Both are ``Cache-Control: no-store`` and never part of any TD.
"""

from __future__ import annotations

from quart import Blueprint, Response, current_app

from .._jsonutil import dumps
from .._servient import Servient
from . import routes

__all__ = ["blueprint"]

blueprint = Blueprint("health", __name__)


def _answer(body: object, status: int) -> Response:
    return Response(
        dumps(body),
        status=status,
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


@blueprint.route(routes.LIVENESS, methods=["GET"])
async def liveness() -> Response:
    """The process answers: it is alive."""
    return _answer({"status": "alive"}, 200)


@blueprint.route(routes.READINESS, methods=["GET"])
async def readiness() -> Response:
    """Ready for work: started, and no Thing's instrument unreachable (else 503)."""
    servient: Servient = current_app.config["SERVIENT"]
    report = servient.readiness()
    return _answer(report, 200 if report["ready"] else 503)
