"""HTTP forms: the binding's half of every Thing Description.

The core's interaction model (``_td.interaction_model``) has no forms; this
module adds ``base``, security and one list of forms per affordance, with an
explicit ``op``, ``contentType`` and ``htv:methodName`` on every form except the
long-poll observe forms (node-wot 0.9.2 sends its HEAD probe with the form's
method, so a GET there would hang the probe). Form order is part of the
interface: node-wot takes the first form whose op matches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._td import TD_CONTEXT, interaction_model
from .._tm import TM_JSON, class_path, thing_model
from . import routes
from .routes import relative, thing_path

if TYPE_CHECKING:
    from .._affordances import ActionAffordance, EventAffordance, PropertyAffordance
    from .._servient import Servient
    from .._thing import Thing

__all__ = [
    "PROFILES",
    "directory_description",
    "model_path",
    "model_url",
    "security_block",
    "served_model",
    "thing_description",
    "thing_path",
]

#: The WoT Profiles every TD claims: HTTP Basic and HTTP SSE (WoT Profile, §5, §6).
PROFILES = [
    "https://www.w3.org/2022/wot/profile/http-basic/v1",
    "https://www.w3.org/2022/wot/profile/http-sse/v1",
]
DISCOVERY_CONTEXT = "https://www.w3.org/2022/wot/discovery"
JSON = "application/json"
TD_JSON = "application/td+json"
LD_JSON = "application/ld+json"
PROBLEM_JSON = "application/problem+json"
EVENT_STREAM = "text/event-stream"
_SECURITY = {"securityDefinitions": {"nosec_sc": {"scheme": "nosec"}}, "security": "nosec_sc"}
_ERRORS = [{"success": False, "contentType": PROBLEM_JSON}]


def security_block(schemes: list[str]) -> dict[str, Any]:
    """``securityDefinitions`` and ``security`` for the required ``schemes``.

    No scheme is ``nosec``; ``basic`` and ``bearer`` together are a ``combo``
    whose ``oneOf`` says either is accepted (credentials in the Authorization header).
    """
    if not schemes:
        return dict(_SECURITY)
    definitions: dict[str, Any] = {
        f"{scheme}_sc": {"scheme": scheme, "in": "header"} for scheme in schemes
    }
    if len(schemes) == 1:
        return {"securityDefinitions": definitions, "security": f"{schemes[0]}_sc"}
    definitions["combo_sc"] = {"scheme": "combo", "oneOf": [f"{s}_sc" for s in schemes]}
    return {"securityDefinitions": definitions, "security": "combo_sc"}


def _form(href: str, op: str | list[str], method: str | None, **extra: Any) -> dict[str, Any]:
    form: dict[str, Any] = {"href": href, "op": op, "contentType": JSON}
    if method is not None:
        form["htv:methodName"] = method
    form.update(extra)
    return form


def property_forms(name: str, prop: PropertyAffordance[Any]) -> list[dict[str, Any]]:
    """Read, write and observe forms of one property, relative to the Thing's base."""
    href = relative(routes.PROPERTY, name=name)
    forms = []
    if not prop.write_only:
        forms.append(_form(href, "readproperty", "GET", additionalResponses=_ERRORS))
    if not prop.read_only:
        forms.append(_form(href, "writeproperty", "PUT", additionalResponses=_ERRORS))
    if prop.observable:
        forms.extend(observe_property_forms(name))
    return forms


def _observe_pair(longpoll: str, sse: str, ops: list[str]) -> list[dict[str, Any]]:
    """A long-poll form (no method: node-wot's HEAD probe) and then an SSE Profile form."""
    return [
        _form(longpoll, ops, None, subprotocol="longpoll"),
        _form(sse, ops, "GET", subprotocol="sse", response={"contentType": EVENT_STREAM}),
    ]


def observe_property_forms(name: str) -> list[dict[str, Any]]:
    """Observe forms of an observable property: long poll first (node-wot), then SSE."""
    ops = ["observeproperty", "unobserveproperty"]
    return _observe_pair(
        relative(routes.PROPERTY_LONGPOLL, name=name), relative(routes.PROPERTY_SSE, name=name), ops
    )


def action_forms(name: str, action: ActionAffordance) -> list[dict[str, Any]]:
    """Invoke (and for asynchronous actions query and cancel) forms of one action.

    Query and cancel forms are URI templates on the record URL that an asynchronous
    invocation returns in ``Location`` (declared in the affordance's ``uriVariables``).
    """
    invoke = relative(routes.ACTION, name=name)
    forms = [_form(invoke, "invokeaction", "POST", additionalResponses=_ERRORS)]
    if not action.synchronous:
        forms.append(_form(INVOCATION_HREF, "queryaction", "GET", additionalResponses=_ERRORS))
        forms.append(_form(INVOCATION_HREF, "cancelaction", "DELETE", additionalResponses=_ERRORS))
    return forms


#: Where invocation records live, relative to the servient root (``/actions/{id}``).
INVOCATION_HREF = routes.fill(routes.INVOCATION, invocation_id="{actionID}")
#: The uriVariables an asynchronous action declares for :data:`INVOCATION_HREF`.
INVOCATION_VARIABLES = {
    "actionID": {
        "type": "string",
        "description": "The invocation id from the record returned by invokeaction.",
    }
}


def event_forms(name: str, event: EventAffordance) -> list[dict[str, Any]]:
    """Subscribe forms of one event: long poll first (node-wot), then SSE."""
    ops = ["subscribeevent", "unsubscribeevent"]
    return _observe_pair(
        relative(routes.EVENT, name=name), relative(routes.EVENT_SSE, name=name), ops
    )


def root_forms(thing: Thing) -> list[dict[str, Any]]:
    """Thing-level forms: all properties, and what the action and event bindings add."""
    forms = [
        _form(relative(routes.PROPERTIES), "readallproperties", "GET", additionalResponses=_ERRORS),
        _form(
            relative(routes.PROPERTIES),
            "writemultipleproperties",
            "PUT",
            additionalResponses=_ERRORS,
        ),
    ]
    if any(prop.observable for prop in thing.properties.values()):
        forms.append(
            _form(
                relative(routes.PROPERTIES_STREAM),
                ["observeallproperties", "unobserveallproperties"],
                "GET",
                subprotocol="sse",
                response={"contentType": EVENT_STREAM},
            )
        )
    if thing.events:
        forms.append(
            _form(
                relative(routes.EVENTS_STREAM),
                ["subscribeallevents", "unsubscribeallevents"],
                "GET",
                subprotocol="sse",
                response={"contentType": EVENT_STREAM},
            )
        )
    if thing.actions:
        forms.append(
            _form(
                relative(routes.THING_ACTIONS),
                "queryallactions",
                "GET",
                additionalResponses=_ERRORS,
            )
        )
    return forms


def thing_description(
    thing: Thing,
    host_url: str,
    *,
    thing_id: str | None = None,
    security: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The complete TD of ``thing`` as served from ``host_url`` (``http://host:port/``).

    ``thing_id`` is the id its servient gives it (``Servient.thing_id``); without
    one, the id a lone servient would derive. ``security`` is a
    :func:`security_block` (default ``nosec``).
    """
    td = interaction_model(thing, thing_id)
    td["base"] = f"{host_url}{thing_path(thing.thing_name).lstrip('/')}/"
    td.update(security or _SECURITY)
    td["profile"] = list(PROFILES)
    builders: dict[str, Callable[[str], list[dict[str, Any]]]] = {
        "properties": lambda name: property_forms(name, thing.properties[name]),
        "actions": lambda name: action_forms(name, thing.actions[name]),
        "events": lambda name: event_forms(name, thing.events[name]),
    }
    for table, build in builders.items():
        described = td[table]
        for name in list(described):
            forms = build(name)
            if forms:
                described[name]["forms"] = forms
                if any("{actionID}" in form["href"] for form in forms):
                    described[name]["uriVariables"] = INVOCATION_VARIABLES
            else:
                del described[name]  # only affordances with working forms are offered
        if not described:
            del td[table]
    td["forms"] = root_forms(thing)
    td["links"] = [
        {"rel": "collection", "href": host_url + routes.DIRECTORY.lstrip("/"), "type": TD_JSON},
        {"rel": "type", "href": model_url(type(thing), host_url), "type": TM_JSON},
    ]
    return td


def model_path(cls: type[Thing]) -> str:
    """The absolute path at which the binding serves the Thing Model of ``cls``."""
    return routes.fill(routes.MODEL, class_path=class_path(cls))


def model_url(cls: type[Thing], host_url: str) -> str:
    """The URL of the Thing Model of ``cls`` as served from ``host_url``."""
    return host_url + model_path(cls).lstrip("/")


def served_model(cls: type[Thing], host_url: str) -> dict[str, Any]:
    """The Thing Model of ``cls`` as served from ``host_url`` (its ``tm:extends`` hrefs there)."""
    return thing_model(cls, lambda base: model_url(base, host_url))


#: The ``things`` listing's query: WoT Discovery's Directory Thing Model, read-only part.
LISTING_VARIABLES = {
    "offset": {
        "title": "Number of TDs to skip before the page",
        "type": "integer",
        "minimum": 0,
        "default": 0,
    },
    "limit": {"title": "Number of TDs in a page", "type": "integer", "minimum": 1},
    "format": {
        "title": "Payload format",
        "type": "string",
        "enum": ["array", "collection"],
        "default": "array",
    },
}


def directory_description(
    servient: Servient, host_url: str, security: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The servient's own TD: a read-only TD Directory (WoT Discovery §7.3.2).

    It describes exactly what the binding offers, in the terms of the Directory
    Thing Model: the ``things`` listing (paged with ``offset``/``limit``, as an
    array or a ``ThingCollection``) and ``retrieveThing`` by id; the optional
    write, search and notification affordances are left out because this
    directory lists only the servient's own Things. node-wot's
    ``WoT.exploreDirectory(url)`` reads the ``things`` property.
    """
    links = [
        {
            "rel": "item",
            "href": f"{host_url}{thing_path(name).lstrip('/')}",
            "type": TD_JSON,
        }
        for name in servient.things
    ]
    problems = {"contentType": PROBLEM_JSON, "success": False}
    return {
        "@context": [TD_CONTEXT, DISCOVERY_CONTEXT, {"@language": "en"}],
        "@type": "ThingDirectory",
        "id": servient.ids.directory_id(),
        "title": "wot-labthing servient",
        "description": "A read-only Thing Description directory of the Things this servient "
        "exposes.",
        "base": host_url,
        **(security or _SECURITY),
        "profile": list(PROFILES),
        "properties": {
            "things": {
                "title": "Things",
                "description": "Retrieve all Thing Descriptions, sorted by id.",
                "oneOf": [
                    {
                        "description": "Plain list of Thing Descriptions",
                        "type": "array",
                        "items": {"description": "Thing Description", "type": "object"},
                    },
                    {
                        "description": "A ThingCollection with paging information "
                        "(format=collection)",
                        "type": "object",
                        "properties": {
                            "@context": {"const": DISCOVERY_CONTEXT},
                            "@type": {"const": "ThingCollection"},
                            "@id": {"description": "URI of this page", "type": "string"},
                            "members": {
                                "description": "Thing Descriptions",
                                "type": "array",
                                "items": {"description": "Thing Description", "type": "object"},
                            },
                            "total": {
                                "description": "Total number of Thing Descriptions",
                                "type": "integer",
                            },
                            "next": {"description": "URI of the next page", "type": "string"},
                        },
                    },
                ],
                "uriVariables": LISTING_VARIABLES,
                "readOnly": True,
                "observable": False,
                "forms": [
                    {
                        "href": routes.THINGS.lstrip("/") + "{?offset,limit,format}",
                        "op": "readproperty",
                        "htv:methodName": "GET",
                        "contentType": LD_JSON,
                        "response": {"contentType": LD_JSON},
                        "additionalResponses": [problems],
                    }
                ],
            }
        },
        "actions": {
            "retrieveThing": {
                "title": "Retrieve a Thing Description",
                "description": "The TD of one Thing, by its id or by its name.",
                "uriVariables": {
                    "id": {
                        "title": "Thing Description ID",
                        "description": "The TD id (percent-encoded or not) or the Thing name.",
                        "type": "string",
                        "format": "iri-reference",
                    }
                },
                "output": {"description": "The Thing Description", "type": "object"},
                "safe": True,
                "idempotent": True,
                "synchronous": True,
                "forms": [
                    {
                        "href": routes.fill(routes.THING, thing="{id}").lstrip("/"),
                        "op": "invokeaction",
                        "htv:methodName": "GET",
                        "contentType": JSON,
                        "response": {"contentType": TD_JSON},
                        "additionalResponses": [problems],
                    }
                ],
            }
        },
        "links": links,
    }
