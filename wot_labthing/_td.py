"""Thing -> TD 1.1 interaction model, and TD validation.

:func:`interaction_model` describes a Thing's affordances with their data
schemas and TD terms but no ``forms``: forms belong to a protocol binding, which
adds them (see ``_http/forms.py``). :func:`validate_td` checks a complete TD
against the official W3C TD 1.1 JSON Schema (shipped in ``td_schemas/w3c/``)
with format checking on, plus the checks that schema misses.
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING, Any

from jsonschema import Draft7Validator

from ._ids import ServientIds
from ._resources import load_schema

if TYPE_CHECKING:
    from ._thing import Thing

__all__ = [
    "TD_CONTEXT",
    "affordance_entries",
    "check_td",
    "interaction_model",
    "official_td_schema",
    "schema_problems",
    "stable_thing_id",
    "validate_td",
]

TD_CONTEXT = "https://www.w3.org/2022/wot/td/v1.1"

_PROPERTY_OPS = {"readproperty", "writeproperty", "observeproperty", "unobserveproperty"}
_ACTION_OPS = {"invokeaction", "queryaction", "cancelaction"}
_EVENT_OPS = {"subscribeevent", "unsubscribeevent"}
_ROOT_OPS = {
    "readallproperties",
    "writeallproperties",
    "readmultipleproperties",
    "writemultipleproperties",
    "observeallproperties",
    "unobserveallproperties",
    "queryallactions",
    "subscribeallevents",
    "unsubscribeallevents",
}
_HTTP_METHODS = {"GET", "PUT", "POST", "DELETE", "PATCH", "HEAD"}
_TEMPLATE_VARIABLE = re.compile(r"\{[?&/#+.;]?([^}]+)\}")


def stable_thing_id(thing: Thing) -> str:
    """The TD ``id`` outside a servient: the configured one, else derived as a lone servient would.

    A running servient derives ids from its own namespace (``Servient.thing_id``);
    this is for TDs built without one, e.g. ``wot-labthing td``.
    """
    if thing.thing_id:
        return thing.thing_id
    return _default_ids().thing_id(thing.thing_name)


@cache
def _default_ids() -> ServientIds:
    return ServientIds()


def _terms(title: str | None, description: str | None) -> dict[str, Any]:
    terms: dict[str, Any] = {}
    if title:
        terms["title"] = title
    if description:
        terms["description"] = description
    return terms


def interaction_model(thing: Thing, thing_id: str | None = None) -> dict[str, Any]:
    """The protocol-neutral part of a Thing's TD: metadata and affordances without forms.

    ``thing_id`` is the id the exposing servient gives it (see ``Servient.thing_id``).
    """
    model: dict[str, Any] = {
        "@context": [TD_CONTEXT, {"@language": "en"}],
        "id": thing_id or stable_thing_id(thing),
        "title": thing.thing_title,
    }
    if thing.thing_description:
        model["description"] = thing.thing_description
    model.update(affordance_entries(type(thing)))
    return model


def described(schema: Any) -> Any:
    """A data schema as TDs and TMs state it: ``{"type": "null"}`` becomes ``{"const": null}``.

    The two are the same JSON Schema, but node-wot's Thing Model resolution
    (td-tools 0.8/0.9, through json-placeholder-replacer) turns every string that
    parses as JSON into that value, so ``"type": "null"`` arrives as ``"type":
    null``: a broken schema for node-wot, and a crash of the TD Playground's check
    that a TD conforms to its model. ``const`` carries a real JSON null instead.
    """
    if isinstance(schema, list):
        return [described(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: described(value) for key, value in schema.items()}
    if result.get("type") == "null":
        del result["type"]
        result["const"] = None
    return result


def affordance_entries(cls: type[Thing]) -> dict[str, dict[str, Any]]:
    """The ``properties``, ``actions`` and ``events`` of a Thing class, without forms.

    Class-level, so the Thing Model of the class (``_tm.py``) and the TD of every
    instance describe each affordance identically.
    """
    properties: dict[str, Any] = {}
    for name, prop in cls.properties.items():
        entry = {**described(prop.schema), **_terms(prop.title, prop.description)}
        if prop.read_only:
            entry["readOnly"] = True
        if prop.write_only:
            entry["writeOnly"] = True
        entry["observable"] = prop.observable
        properties[name] = entry
    actions: dict[str, Any] = {}
    for name, act in cls.actions.items():
        entry = _terms(act.title, act.description)
        if act.input_schema is not None:
            entry["input"] = described(act.input_schema)
        if act.output_schema is not None:
            entry["output"] = described(act.output_schema)
        entry["safe"] = act.safe
        entry["idempotent"] = act.idempotent
        entry["synchronous"] = act.synchronous
        actions[name] = entry
    events: dict[str, Any] = {}
    for name, evt in cls.events.items():
        entry = _terms(evt.title, evt.description)
        if evt.data_schema is not None:
            entry["data"] = described(evt.data_schema)
        events[name] = entry
    return {"properties": properties, "actions": actions, "events": events}


def official_td_schema() -> dict[str, Any]:
    """The W3C TD 1.1 JSON Schema (errata 2025-03-12), shipped in ``td_schemas/w3c/``."""
    return load_schema("w3c/td-json-schema-validation.json")


@cache
def _official_validator() -> Draft7Validator:
    return Draft7Validator(official_td_schema(), format_checker=Draft7Validator.FORMAT_CHECKER)


def _forms_with_owner(td: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """Every form as (where, form, affordance or the TD itself)."""
    found: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for kind in ("properties", "actions", "events"):
        for name, affordance in (td.get(kind) or {}).items():
            if not isinstance(affordance, dict):
                continue
            for index, form in enumerate(affordance.get("forms") or []):
                if isinstance(form, dict):
                    found.append((f"/{kind}/{name}/forms/{index}", form, affordance))
    for index, form in enumerate(td.get("forms") or []):
        if isinstance(form, dict):
            found.append((f"/forms/{index}", form, td))
    return found


def _ops(form: dict[str, Any], where: str) -> list[str]:
    op = form.get("op")
    if op is None:
        return []
    return [op] if isinstance(op, str) else [item for item in op if isinstance(item, str)]


def check_td(td: dict[str, Any]) -> list[str]:
    """The checks the official schema misses; returns one message per problem."""
    problems: list[str] = []
    definitions = td.get("securityDefinitions") or {}
    security = td.get("security")
    names = [security] if isinstance(security, str) else list(security or [])
    problems += [
        f"/security: {name!r} is not in securityDefinitions"
        for name in names
        if name not in definitions
    ]
    base = td.get("base")
    if isinstance(base, str) and not base.endswith("/"):
        problems.append("/base: should end with '/' so relative hrefs resolve below it")
    type_links = [link for link in td.get("links") or [] if link.get("rel") == "type"]
    if len(type_links) > 1:
        problems.append("/links: more than one link with rel 'type'")
    for where, form, owner in _forms_with_owner(td):
        ops = _ops(form, where)
        kind = where.split("/")[1]
        allowed = {
            "properties": _PROPERTY_OPS,
            "actions": _ACTION_OPS,
            "events": _EVENT_OPS,
            "forms": _ROOT_OPS,
        }[kind]
        problems += [f"{where}/op: {op!r} does not fit here" for op in ops if op not in allowed]
        if kind == "forms" and not ops:
            problems.append(f"{where}: a root form must carry op")
        if kind == "properties":
            if owner.get("readOnly") and "writeproperty" in ops:
                problems.append(f"{where}: a readOnly property offers writeproperty")
            if owner.get("writeOnly") and "readproperty" in ops:
                problems.append(f"{where}: a writeOnly property offers readproperty")
            if not owner.get("observable") and "observeproperty" in ops:
                problems.append(f"{where}: observeproperty on a property not marked observable")
        method = form.get("htv:methodName")
        if method is not None and method not in _HTTP_METHODS:
            problems.append(f"{where}/htv:methodName: {method!r} is not an HTTP method")
        for name in names_in_form_security(form):
            if name not in definitions:
                problems.append(f"{where}/security: {name!r} is not in securityDefinitions")
        declared = {**(td.get("uriVariables") or {}), **(owner.get("uriVariables") or {})}
        for group in _TEMPLATE_VARIABLE.findall(str(form.get("href", ""))):
            for variable in group.split(","):
                variable = variable.split(":")[0].rstrip("*")
                if variable not in declared:
                    problems.append(f"{where}/href: URI variable {variable!r} is not declared")
    return problems


def names_in_form_security(form: dict[str, Any]) -> list[str]:
    """The security scheme names a form overrides the Thing's with."""
    security = form.get("security")
    if security is None:
        return []
    return [security] if isinstance(security, str) else list(security)


def schema_problems(validator: Draft7Validator, document: Any) -> list[str]:
    """``document``'s errors against ``validator``'s schema, as "pointer: message" lines."""
    problems = []
    for error in sorted(validator.iter_errors(document), key=lambda e: list(e.path)):
        pointer = "".join(f"/{part}" for part in error.absolute_path) or "/"
        problems.append(f"{pointer}: {error.message}")
    return problems


def validate_td(td: Any) -> list[str]:
    """Validate a TD: the official schema (with format checking) and the extra checks.

    Returns one readable message per problem, each starting with a JSON pointer;
    an empty list means the TD is valid.
    """
    problems = schema_problems(_official_validator(), td)
    if isinstance(td, dict):
        problems += check_td(td)
    return problems
