"""Action routes: invoke, query, list and cancel tracked invocations.

``synchronous=True`` actions answer 200 with the output (204 without one);
``synchronous=False`` ones always answer 201 with ``Location`` and the record,
after waiting up to a short window so a quick run already shows ``completed``.
The status code never depends on timing. ``/actions/{id}`` serves the Profile's
queryaction and cancelaction and LabThings-style polling from the same record.

A synchronous action's run is answered by its POST and is not an ActionStatus
resource (the HTTP Basic Profile: a Thing that only answers synchronously SHOULD
NOT support queryaction or cancelaction): its TD offers no query or cancel
forms, ``queryallactions`` leaves such actions out, ``/actions/{id}`` (and its
output and events) answer 404 for it, and the servient-wide log ``/actions`` (and
``/things/{t}/actions/{a}``) still lists it, as a record without ``href`` or links.
"""

from __future__ import annotations

import re
from typing import Any

from quart import Blueprint, Response, current_app, request

from .._affordances import NO_INPUT
from .._errors import NotFoundError
from .._invocations import Invocation
from .._jsonutil import dumps
from .._problems import problem_for
from .._servient import Servient
from . import routes
from .problems import problem_response, status_for
from .records import record_json
from .request_body import read_json_body
from .things import json_response

__all__ = ["blueprint", "prefer_wait", "queryable"]

blueprint = Blueprint("actions", __name__)

_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*\"?(\d+(?:\.\d+)?)\"?", re.IGNORECASE)


def _servient() -> Servient:
    servient: Servient = current_app.config["SERVIENT"]
    return servient


def prefer_wait(header: str | None, default: float) -> float:
    """The wait window from an RFC 7240 ``Prefer`` header (``wait=N``, ``respond-async``)."""
    if not header:
        return default
    match = _PREFER_WAIT.search(header)
    if match:
        return float(match.group(1))
    if "respond-async" in header.lower():
        return 0.0
    return default


def _record(invocation: Invocation) -> dict[str, Any]:
    record = record_json(invocation)
    if invocation.affordance.synchronous:  # no ActionStatus resource: nothing to link
        record.pop("href", None)
        record.pop("links", None)
    return record


def queryable(servient: Servient, invocation_id: str) -> Invocation:
    """The invocation ``invocation_id`` if it is an ActionStatus resource (not a sync run)."""
    invocation = servient.query_action(invocation_id)
    if invocation.affordance.synchronous:
        raise NotFoundError(
            f"invocation {invocation_id} is a run of the synchronous action "
            f"{invocation.action!r}: its POST answered it, and it cannot be queried or cancelled",
            kind="invocation",
            name=invocation_id,
        )
    return invocation


def _records(invocations: list[Invocation]) -> list[dict[str, Any]]:
    return [_record(invocation) for invocation in invocations]


@blueprint.route(routes.ACTION, methods=["POST"])
async def invoke(thing: str, name: str) -> Response:
    """``invokeaction``: validate, start a tracked run, answer per ``synchronous``."""
    servient = _servient()
    affordance = servient.action_affordance(thing, name)
    input_value = await read_json_body(default=NO_INPUT)
    invocation = servient.invoke_action(thing, name, input_value)
    if affordance.synchronous:
        await servient.wait_for_invocation(invocation, None)
        return _synchronous_response(invocation)
    default = affordance.wait if affordance.wait is not None else servient.settings.action_wait
    await servient.wait_for_invocation(
        invocation, prefer_wait(request.headers.get("Prefer"), default)
    )
    record = _record(invocation)
    response = json_response(record)
    response.status_code = 201
    response.headers["Location"] = record["href"]
    return response


def _synchronous_response(invocation: Invocation) -> Response:
    if invocation.status == "completed":
        if invocation.affordance.output_schema is None:
            return Response(status=204)
        return Response(
            dumps(invocation.output), status=200, content_type=invocation.affordance.content_type
        )
    exception = invocation.exception or RuntimeError("the action failed")
    status = status_for(exception)  # a cancelled run: InvocationCancelled's 409
    problem = {**problem_for(exception), "invocation": _record(invocation)}
    return problem_response(problem, status)


@blueprint.after_app_request
async def _no_content_type_without_content(response: Response) -> Response:
    """Empty answers (204, 202, ...) carry no ``Content-Type`` (WoT Profile: "not set").

    Quart gives every response a default ``text/html`` type; a bodiless 202 (the
    long-poll probe) has an unknown length, so 202/204/304 without a known length count
    as empty (the servient never streams a body with those codes).
    """
    length = response.content_length
    if "Content-Type" in response.headers and (
        length == 0 or (response.status_code in (202, 204, 304) and length is None)
    ):
        del response.headers["Content-Type"]
    return response


@blueprint.route(routes.ACTION, methods=["GET"])
async def list_action_runs(thing: str, name: str) -> Response:
    """LabThings-style list of one action's runs, newest first."""
    servient = _servient()
    servient.action_affordance(thing, name)
    return json_response(_records(servient.list_invocations(thing=thing, action=name)))


@blueprint.route(routes.THING_ACTIONS, methods=["GET"])
async def query_all_actions(thing: str) -> Response:
    """``queryallactions``: an object keyed by action name, each array newest first."""
    servient = _servient()
    names = [
        name for name, action in servient.thing(thing).actions.items() if not action.synchronous
    ]
    return json_response(
        {name: _records(servient.list_invocations(thing=thing, action=name)) for name in names}
    )


@blueprint.route(routes.INVOCATIONS, methods=["GET"])
async def list_all() -> Response:
    """Every invocation of the servient, newest first; filters ``thing``, ``action``, ``status``."""
    invocations = _servient().list_invocations(
        thing=request.args.get("thing"),
        action=request.args.get("action"),
        status=request.args.get("status"),
    )
    response = json_response(_records(invocations))
    policy = _servient().invocation_policy
    response.headers["X-Retention"] = (
        f"seconds={policy['retentionSeconds']}, max-records={policy['maxRecords']}"
    )
    return response


@blueprint.route(routes.INVOCATION, methods=["GET"])
async def query(invocation_id: str) -> Response:
    """``queryaction``: the record (404 once unknown or expired)."""
    return json_response(_record(queryable(_servient(), invocation_id)))


@blueprint.route(routes.INVOCATION, methods=["DELETE"])
async def cancel(invocation_id: str) -> Response:
    """``cancelaction``: cancel a pending or running run; remove a finished record.

    A cancelled run is answered once it has stopped (within ``action_wait``; a
    sync action stops at its next cancellation point), so a GET that follows the
    204 sees how it ended. A run slower to stop keeps reporting through its record.
    """
    servient = _servient()
    queryable(servient, invocation_id)
    await servient.cancel_action(invocation_id)
    return Response(status=204)


@blueprint.route(routes.INVOCATION_OUTPUT, methods=["GET"])
async def output(invocation_id: str) -> Response:
    """The raw output with the action's declared content type (404 until completed)."""
    invocation = queryable(_servient(), invocation_id)
    if invocation.status != "completed":
        raise NotFoundError(
            f"invocation {invocation_id} has no output (status {invocation.status})",
            kind="output",
        )
    if invocation.affordance.output_schema is None:
        return Response(status=204)
    return Response(
        dumps(invocation.output), status=200, content_type=invocation.affordance.content_type
    )
