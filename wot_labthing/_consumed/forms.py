"""Choosing and expanding a TD's forms: the client's half of the HTTP binding.

A consumer must work from the TD alone, so every request is derived here from a
form: ``op`` (with the TD 1.1 defaults when it is missing), ``htv:methodName``
(with the Binding Templates defaults), ``contentType``, ``subprotocol``,
``href`` resolved against ``base`` (or the TD's own URL) after URI Template
expansion with the declared ``uriVariables``. Forms whose content type is not
JSON (node-wot also offers CBOR) and forms with other URI schemes are skipped,
because this client speaks JSON over HTTP only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from uri_template import (
    ExpansionFailedError,
    ExpansionInvalidError,
    ExpansionReservedError,
    URITemplate,
    VariableInvalidError,
)

from .._errors import ConsumerError, NotFoundError

__all__ = [
    "DEFAULT_METHODS",
    "Form",
    "expand_href",
    "find_forms",
    "is_json",
    "singular",
]

#: Binding Templates HTTP defaults (TD 1.1 Table 32), plus the obvious ones the
#: TD leaves open (queryaction GET, cancelaction DELETE, observe/subscribe GET).
DEFAULT_METHODS = {
    "readproperty": "GET",
    "writeproperty": "PUT",
    "observeproperty": "GET",
    "unobserveproperty": "GET",
    "invokeaction": "POST",
    "queryaction": "GET",
    "cancelaction": "DELETE",
    "subscribeevent": "GET",
    "unsubscribeevent": "GET",
    "readallproperties": "GET",
    "readmultipleproperties": "GET",
    "writeallproperties": "PUT",
    "writemultipleproperties": "PUT",
    "observeallproperties": "GET",
    "unobserveallproperties": "GET",
    "queryallactions": "GET",
    "subscribeallevents": "GET",
    "unsubscribeallevents": "GET",
}


def singular(kind: str) -> str:
    """``property`` for ``properties``, ``action`` for ``actions``, ``event`` for ``events``."""
    return {"properties": "property", "actions": "action", "events": "event"}.get(kind, kind)


def is_json(content_type: str | None) -> bool:
    """True for ``application/json`` and every ``+json`` media type (parameters ignored)."""
    if not content_type:
        return True  # the TD default
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _default_ops(kind: str, affordance: dict[str, Any]) -> list[str]:
    """TD 1.1 section 5.4: the ``op`` a form means when it has none."""
    if kind == "properties":
        if affordance.get("readOnly"):
            return ["readproperty"]
        if affordance.get("writeOnly"):
            return ["writeproperty"]
        return ["readproperty", "writeproperty"]
    if kind == "actions":
        return ["invokeaction"]
    if kind == "events":
        return ["subscribeevent", "unsubscribeevent"]
    return []


@dataclass
class Form:
    """One usable form, with every default filled in."""

    #: The href as written (possibly a URI Template), already resolved against the base.
    href: str
    method: str
    content_type: str
    subprotocol: str | None
    ops: list[str]
    #: The affordance (or the TD itself for root forms) that declares it.
    owner: dict[str, Any] = field(repr=False)
    raw: dict[str, Any] = field(repr=False)

    @property
    def response_content_type(self) -> str:
        """What a success answer carries: ``response.contentType``, else the form's."""
        response = self.raw.get("response")
        if isinstance(response, dict) and isinstance(response.get("contentType"), str):
            return str(response["contentType"])
        return self.content_type

    def with_method(self, method: str) -> Form:
        """The same form with another method (a form's op list may mix GET and PUT)."""
        return Form(
            self.href,
            method,
            self.content_type,
            self.subprotocol,
            self.ops,
            self.owner,
            self.raw,
        )


def _method_for(raw: dict[str, Any], op: str) -> str:
    method = raw.get("htv:methodName")
    if isinstance(method, str) and method:
        ops = raw.get("op")
        # A form listing both readproperty and writeproperty and naming one method
        # cannot mean that method for both; the defaults decide (BT "extended forms").
        if isinstance(ops, list) and len(ops) > 1 and op in ("readproperty", "writeproperty"):
            return DEFAULT_METHODS[op]
        return method.upper()
    return DEFAULT_METHODS.get(op, "GET")


def find_forms(
    td: dict[str, Any],
    base: str,
    kind: str | None,
    name: str | None,
    op: str,
) -> list[Form]:
    """Every usable form for ``op`` on an affordance (or on the Thing when ``kind`` is None).

    Forms keep the TD's order, as node-wot's do: the TD author's order is their
    preference. Raises :class:`NotFoundError` for an unknown affordance.
    """
    if kind is None:
        owner: dict[str, Any] = td
        raw_forms = td.get("forms") or []
    else:
        table = td.get(kind) or {}
        if name not in table or not isinstance(table[name], dict):
            known = ", ".join(sorted(table)) or "none"
            raise NotFoundError(
                f"the Thing has no {singular(kind)} {name!r} (it has: {known})",
                kind=kind,
                name=name,
            )
        owner = table[name]
        raw_forms = owner.get("forms") or []
    found = []
    for raw in raw_forms:
        if not isinstance(raw, dict) or not isinstance(raw.get("href"), str):
            continue
        ops_value = raw.get("op")
        if ops_value is None:
            ops = _default_ops(kind or "", owner)
        else:
            ops = [ops_value] if isinstance(ops_value, str) else list(ops_value)
        if op not in ops:
            continue
        content_type = str(raw.get("contentType") or "application/json")
        if not is_json(content_type):
            continue
        href = urljoin(base, raw["href"])
        if not href.lower().startswith(("http://", "https://")):
            continue
        subprotocol = raw.get("subprotocol")
        found.append(
            Form(
                href=href,
                method=_method_for(raw, op),
                content_type=content_type,
                subprotocol=subprotocol if isinstance(subprotocol, str) else None,
                ops=ops,
                owner=owner,
                raw=raw,
            )
        )
    return found


def pick_form(
    td: dict[str, Any],
    base: str,
    kind: str | None,
    name: str | None,
    op: str,
    subprotocols: tuple[str | None, ...] | None = None,
) -> Form:
    """The form to use for ``op``: the first usable one, or the first of a preferred subprotocol.

    ``subprotocols`` lists acceptable subprotocols in order of preference (``None``
    meaning "no subprotocol"); a form without one counts as ``longpoll`` for observe
    and subscribe operations, as node-wot assumes.
    """
    forms = find_forms(td, base, kind, name, op)
    if subprotocols is not None:
        for wanted in subprotocols:
            for form in forms:
                if _effective_subprotocol(form, op) == wanted:
                    return form
        forms = []
    if not forms:
        where = f"{singular(kind)} {name!r}" if kind else "the Thing"
        extra = f" with subprotocol {', '.join(map(str, subprotocols))}" if subprotocols else ""
        raise ConsumerError(f"{where} offers no JSON-over-HTTP form for {op}{extra}")
    return forms[0]


def _effective_subprotocol(form: Form, op: str) -> str | None:
    if form.subprotocol is None and op in ("observeproperty", "subscribeevent"):
        return "longpoll"
    return form.subprotocol


def _template_value(value: Any) -> Any:
    """A JSON value as RFC 6570 sees it: booleans as JSON spells them, numbers as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return [_template_value(item) for item in value if item is not None]
    if isinstance(value, dict):
        return {str(k): _template_value(v) for k, v in value.items() if v is not None}
    return str(value)


def expand_href(href: str, variables: dict[str, Any]) -> str:
    """Expand an RFC 6570 URI Template (all four levels) with the ``uriVariables`` given.

    The maintained ``uri-template`` library does the expansion (prefixes ``{var:3}``,
    explode ``{/list*}``, ``{?keys*}``, reserved ``{+path}``); variables that are not
    given are left out, as RFC 6570 says for undefined ones. A malformed template, or a
    list or object given to a prefix, is a :class:`ConsumerError`.
    """
    if "{" not in href:
        return href
    values = {name: _template_value(v) for name, v in variables.items() if v is not None}
    try:
        return str(URITemplate(href).expand(**values))
    except (ExpansionInvalidError, ExpansionReservedError, VariableInvalidError) as exc:
        raise ConsumerError(
            f"the form's href {href!r} is not a valid URI Template: {exc}"
        ) from None
    except ExpansionFailedError as exc:
        raise ConsumerError(f"cannot expand {href!r} with {variables!r}: {exc}") from None


def uri_variable_schemas(td: dict[str, Any], owner: dict[str, Any]) -> dict[str, Any]:
    """The ``uriVariables`` in scope for a form: the Thing's, overridden by the affordance's."""
    declared: dict[str, Any] = {}
    for source in (td.get("uriVariables"), owner.get("uriVariables")):
        if isinstance(source, dict):
            declared.update(source)
    return declared
