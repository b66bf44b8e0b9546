"""Property routes: read and write one property, read all and write several."""

from __future__ import annotations

from quart import Blueprint, Response, current_app

from .._errors import InputError
from .._servient import Servient
from . import routes
from .request_body import read_json_body
from .things import json_response

__all__ = ["blueprint"]

blueprint = Blueprint("properties", __name__)


def _servient() -> Servient:
    servient: Servient = current_app.config["SERVIENT"]
    return servient


@blueprint.route(routes.PROPERTIES, methods=["GET"])
async def read_all(thing: str) -> Response:
    """``readallproperties``: every readable property as one object."""
    return json_response(await _servient().read_all_properties(thing))


@blueprint.route(routes.PROPERTIES, methods=["PUT"])
async def write_multiple(thing: str) -> Response:
    """``writemultipleproperties``: an object of writable properties, all validated first."""
    servient = _servient()
    servient.thing(thing)
    values = await read_json_body()
    if not isinstance(values, dict):
        raise InputError("send a JSON object keyed by property name", pointer="")
    await servient.write_properties(thing, values)
    return Response(status=204)


@blueprint.route(routes.PROPERTY, methods=["GET"])
async def read_one(thing: str, name: str) -> Response:
    """``readproperty``: the value as JSON."""
    return json_response(await _servient().read_property(thing, name))


@blueprint.route(routes.PROPERTY, methods=["PUT"])
async def write_one(thing: str, name: str) -> Response:
    """``writeproperty``: a JSON value that must fit the property's schema; 204."""
    servient = _servient()
    prop = servient.property_affordance(thing, name)
    if prop.read_only:
        from .._errors import NotAllowedError

        raise NotAllowedError(f"property {name!r} is read-only", allowed=("GET", "HEAD"))
    value = await read_json_body()
    await servient.write_property(thing, name, value)
    return Response(status=204)
