"""The read-only TD Directory (WoT Discovery §7.3.2) and the Thing Models.

Routes: the ``things`` listing (``/things`` and ``/things/``: an ``application/ld+json``
array sorted by TD id, paged with ``offset``/``limit`` and ``Link: rel="next"``,
or a ``ThingCollection`` with ``format=collection``), ``/things/{id}`` (a TD by
its id, percent-encoded or not, or by the Thing's name), ``/models/{module:Class}``
(a class's Thing Model, ``application/tm+json``) and ``/.well-known/wot`` (the
directory's own TD). Every one answers GET and HEAD with a strong ``ETag`` and a
``Last-Modified`` (when the Thing, or the set of Things, last changed) and
honours ``If-None-Match`` / ``If-Modified-Since`` with 304; other methods get 405
with the ``Allow`` that routing computes.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from quart import Blueprint, Response, current_app, request
from quart.blueprints import BlueprintSetupState
from werkzeug.http import http_date

from .._errors import InputError, NotFoundError
from .._jsonutil import dumps
from .._servient import Servient
from .._thing import Thing
from .._tm import TM_JSON, model_classes
from . import routes
from .forms import (
    DISCOVERY_CONTEXT,
    LD_JSON,
    TD_JSON,
    directory_description,
    served_model,
    thing_description,
)

__all__ = ["blueprint"]

blueprint = Blueprint("things", __name__)

_CHANGES = "WOT_REGISTRY_CHANGES"


class _Changes:
    """When each Thing was added, and when the set of Things last changed (for Last-Modified)."""

    def __init__(self, servient: Servient) -> None:
        now = datetime.now(UTC)
        self.added = dict.fromkeys(servient.things, now)
        self.changed = now
        servient.on_registry_change(self.record)

    def record(self, name: str, thing: Thing | None) -> None:
        now = datetime.now(UTC)
        self.changed = now
        if thing is None:
            self.added.pop(name, None)
        else:
            self.added[name] = now


@blueprint.record_once
def _follow_registry(state: BlueprintSetupState) -> None:
    state.app.config[_CHANGES] = _Changes(state.app.config["SERVIENT"])


def _servient() -> Servient:
    servient: Servient = current_app.config["SERVIENT"]
    return servient


def _changes() -> _Changes:
    changes: _Changes = current_app.config[_CHANGES]
    return changes


def _security() -> dict[str, Any] | None:
    """The TD security block the guard enforces (None: nosec)."""
    block: dict[str, Any] | None = current_app.config.get("TD_SECURITY")
    return block


def json_response(value: object, content_type: str = "application/json") -> Response:
    """A 200 response with strict JSON (never NaN or Infinity)."""
    return Response(dumps(value), status=200, content_type=content_type)


def _conditional(
    value: object,
    content_type: str,
    modified: datetime,
    headers: dict[str, str] | None = None,
) -> Response:
    """A 200 with ``ETag`` and ``Last-Modified``, or a bodiless 304 if the client's copy is fresh.

    ``If-None-Match`` wins over ``If-Modified-Since`` (RFC 9110 §13.2.2).
    """
    body = dumps(value)
    etag = hashlib.sha256(body.encode("utf-8")).hexdigest()[:32]
    last_modified = modified.replace(microsecond=0)
    fresh = False
    if request.if_none_match:
        fresh = request.if_none_match.contains_weak(etag)
    elif request.if_modified_since is not None:
        fresh = last_modified <= request.if_modified_since
    response = Response(b"" if fresh else body, status=304 if fresh else 200)
    if fresh:
        del response.headers["Content-Type"]
    else:
        response.content_type = content_type
    response.set_etag(etag)
    response.headers["Last-Modified"] = http_date(last_modified)
    for key, value_ in (headers or {}).items():
        response.headers[key] = value_
    return response


def _query_int(name: str, minimum: int) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < minimum:
        raise InputError(
            f"query parameter {name!r} must be an integer >= {minimum}, not {raw!r}",
            pointer=f"/{name}",
        )
    return int(raw)


@blueprint.route(routes.THINGS, methods=["GET"])
@blueprint.route(routes.THINGS + "/", methods=["GET"])
async def list_things() -> Response:
    """The directory's ``things`` property: TDs sorted by id, optionally paged."""
    offset = _query_int("offset", 0) or 0
    limit = _query_int("limit", 1)
    page_format = request.args.get("format", "array")
    if page_format not in ("array", "collection"):
        raise InputError(
            f"query parameter 'format' must be 'array' or 'collection', not {page_format!r}",
            pointer="/format",
        )
    servient = _servient()
    tds = sorted(
        (
            servient.extend_description(
                name,
                thing_description(
                    thing, request.host_url, thing_id=servient.thing_id(thing), security=_security()
                ),
            )
            for name, thing in servient.things.items()
        ),
        key=lambda td: str(td["id"]),
    )
    page = tds[offset : offset + limit] if limit is not None else tds[offset:]
    has_next = limit is not None and offset + limit < len(tds)

    def page_url(start: int) -> str:
        query: dict[str, Any] = {"offset": start}
        if limit is not None:
            query["limit"] = limit
        if page_format != "array":
            query["format"] = page_format
        return f"{routes.THINGS}?{urlencode(query)}"

    collection_tag = hashlib.sha256(
        "\n".join(str(td["id"]) for td in tds).encode("utf-8")
    ).hexdigest()[:16]
    links = [f'<{routes.THINGS}>; rel="canonical"; etag="{collection_tag}"']
    if has_next:
        links.insert(0, f'<{page_url(offset + (limit or 0))}>; rel="next"')
    value: object = page
    if page_format == "collection":
        collection: dict[str, Any] = {
            "@context": DISCOVERY_CONTEXT,
            "@type": "ThingCollection",
            "@id": page_url(offset),
            "total": len(tds),
            "members": page,
        }
        if has_next:
            collection["next"] = page_url(offset + (limit or 0))
        value = collection
    return _conditional(value, LD_JSON, _changes().changed, {"Link": ", ".join(links)})


def _find(servient: Servient, reference: str) -> Thing:
    """The Thing whose name or TD id is ``reference``."""
    thing = servient.things.get(reference)
    if thing is not None:
        return thing
    for candidate in servient.things.values():
        if servient.thing_id(candidate) == reference:
            return candidate
    raise NotFoundError(f"no Thing with the id or name {reference!r}", kind="thing", name=reference)


@blueprint.route(routes.THING_BY_ID, methods=["GET"])
async def get_thing(reference: str) -> Response:
    """One TD as ``application/td+json``, by TD id (``retrieveThing``) or Thing name."""
    servient = _servient()
    thing = _find(servient, reference)
    td = thing_description(
        thing, request.host_url, thing_id=servient.thing_id(thing), security=_security()
    )
    servient.extend_description(thing.thing_name, td)
    modified = _changes().added.get(thing.thing_name, _changes().changed)
    return _conditional(td, TD_JSON, modified)


@blueprint.route(routes.MODEL, methods=["GET"])
async def get_model(class_path: str) -> Response:
    """The Thing Model of an exposed Thing's class or of a class its model extends."""
    servient = _servient()
    classes = model_classes([type(thing) for thing in servient.things.values()])
    cls = classes.get(class_path)
    if cls is None:
        raise NotFoundError(
            f"no Thing Model {class_path!r} here (models of exposed Things: "
            f"{', '.join(sorted(classes)) or 'none'})",
            kind="model",
            name=class_path,
        )
    # a worker thread: the first model of a package reads its distribution's metadata
    model = await servient.run_sync(served_model, cls, request.host_url)
    return _conditional(model, TM_JSON, _changes().changed)


@blueprint.route(routes.DIRECTORY, methods=["GET"])
async def well_known() -> Response:
    """The servient's directory TD (WoT Discovery well-known introduction)."""
    td = directory_description(_servient(), request.host_url, _security())
    return _conditional(td, TD_JSON, _changes().changed)
