"""Routes that serve Thing Descriptions: ``/things``, ``/things/{thing}``, ``/.well-known/wot``."""

from __future__ import annotations

from quart import Blueprint, Response, current_app, request

from .._jsonutil import dumps
from .._servient import Servient
from . import routes
from .forms import directory_description, thing_description

__all__ = ["blueprint"]

blueprint = Blueprint("things", __name__)

TD_JSON = "application/td+json"


def _servient() -> Servient:
    servient: Servient = current_app.config["SERVIENT"]
    return servient


def json_response(value: object, content_type: str = "application/json") -> Response:
    """A 200 response with strict JSON (never NaN or Infinity)."""
    return Response(dumps(value), status=200, content_type=content_type)


@blueprint.route(routes.THINGS, methods=["GET"])
async def list_things() -> Response:
    """Every TD, as the directory's ``things`` property (GET and HEAD)."""
    servient = _servient()
    return json_response(
        [
            servient.extend_description(name, thing_description(thing, request.host_url))
            for name, thing in servient.things.items()
        ]
    )


@blueprint.route(routes.THING, methods=["GET"])
async def get_thing(thing: str) -> Response:
    """One TD as ``application/td+json`` (GET and HEAD)."""
    servient = _servient()
    td = thing_description(servient.thing(thing), request.host_url)
    return json_response(servient.extend_description(thing, td), TD_JSON)


@blueprint.route(routes.DIRECTORY, methods=["GET"])
async def well_known() -> Response:
    """The servient's directory TD (WoT Discovery well-known introduction)."""
    return json_response(directory_description(_servient(), request.host_url), TD_JSON)
