"""Security schemes of a consumed Thing: ``nosec``, ``basic``, ``bearer`` (and ``combo``).

The TD names the schemes a form needs (form-level ``security`` overrides the
Thing's); this module turns them into request headers or query parameters from
the :class:`Credentials` the caller gave. A scheme that needs credentials the
caller did not give, or one this client does not speak, is a clear
:class:`ConsumerError` before any request, instead of an anonymous 401.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from .._errors import ConsumerError

__all__ = ["Credentials", "security_for"]


@dataclass(frozen=True)
class Credentials:
    """What to authenticate with; only the parts a Thing's schemes ask for are used.

    ``username``/``password`` serve the ``basic`` scheme over HTTP, ``token`` the
    ``bearer`` scheme. ``mqtt_username``/``mqtt_password`` are the login for an MQTT
    broker a TD's MQTT forms point at (the broker's own accounts, which are not the
    servient's): HTTP credentials are never sent to a broker. Never put any of them
    in a TD: the TD only says which scheme applies.
    """

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    mqtt_username: str | None = None
    mqtt_password: str | None = field(default=None, repr=False)


@dataclass
class AuthParts:
    """Headers and query parameters that satisfy a form's security."""

    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(item) for item in value]


def security_for(
    td: dict[str, Any], form: dict[str, Any], credentials: Credentials | None
) -> AuthParts:
    """The headers and query parameters a request through ``form`` must carry.

    Every scheme named by the form (or else the Thing) applies at once, as TD 1.1
    says for an array of names; a ``combo`` with ``oneOf`` uses its first
    alternative the credentials can satisfy.
    """
    definitions = td.get("securityDefinitions") or {}
    names = _names(form.get("security")) if "security" in form else _names(td.get("security"))
    parts = AuthParts()
    for name in names:
        _apply(definitions, name, credentials, parts, depth=0)
    return parts


def _apply(
    definitions: dict[str, Any],
    name: str,
    credentials: Credentials | None,
    parts: AuthParts,
    depth: int,
) -> None:
    scheme = definitions.get(name)
    if not isinstance(scheme, dict) or depth > 8:
        raise ConsumerError(f"security {name!r} is not defined in the TD's securityDefinitions")
    kind = str(scheme.get("scheme", "")).lower()
    if kind == "nosec":
        return
    if kind == "combo":
        if "allOf" in scheme:
            for member in _names(scheme["allOf"]):
                _apply(definitions, member, credentials, parts, depth + 1)
            return
        errors = []
        for member in _names(scheme.get("oneOf")):
            trial = AuthParts()
            try:
                _apply(definitions, member, credentials, trial, depth + 1)
            except ConsumerError as exc:
                errors.append(str(exc))
                continue
            parts.headers.update(trial.headers)
            parts.params.update(trial.params)
            return
        raise ConsumerError(f"no alternative of security {name!r} can be used: {'; '.join(errors)}")
    if kind == "basic":
        if credentials is None or credentials.username is None or credentials.password is None:
            raise ConsumerError(
                "the Thing requires HTTP basic authentication: give a username and password "
                "(Credentials(username=..., password=...), or --user USER:PASSWORD)"
            )
        token = base64.b64encode(f"{credentials.username}:{credentials.password}".encode())
        _place(scheme, f"Basic {token.decode('ascii')}", parts)
        return
    if kind == "bearer":
        if credentials is None or credentials.token is None:
            raise ConsumerError(
                "the Thing requires a bearer token: give one (Credentials(token=...), or --token)"
            )
        _place(scheme, f"Bearer {credentials.token}", parts, raw_value=credentials.token)
        return
    raise ConsumerError(
        f"security scheme {kind!r} is not supported by this client (nosec, basic, bearer)"
    )


def _place(
    scheme: dict[str, Any], header_value: str, parts: AuthParts, raw_value: str | None = None
) -> None:
    """Put a credential where the scheme's ``in``/``name`` say (default: Authorization header)."""
    where = str(scheme.get("in") or "header").lower()
    name = str(scheme.get("name") or "Authorization")
    if where == "header":
        parts.headers[name] = (
            header_value if name.lower() == "authorization" else (raw_value or header_value)
        )
    elif where == "query":
        parts.params[name] = raw_value or header_value
    else:
        raise ConsumerError(f"credentials 'in: {where}' are not supported (header, query)")
