"""A remote Thing used through its TD: :func:`consume` and :class:`ConsumedThing`.

Everything a :class:`ConsumedThing` does is chosen from the TD's forms (see
``forms.py``), so the same code drives wot-labthing, node-wot and any other WoT
servient. Values are checked against the TD's schemas before a request is sent,
so a bad value is an :class:`InputError` naming the offending field, not a 400
from the far side.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import Any

import httpx
from jsonschema.exceptions import SchemaError

from .._errors import ConsumerError, InputError, NotAllowedError, NotFoundError, TDError
from .._schema import SchemaValidator, to_json
from .._td import validate_td
from .actions import ActionHandle, start_action
from .forms import Form, find_forms, pick_form, singular, uri_variable_schemas
from .observe import Subscription, open_subscription
from .security import Credentials, security_for
from .transport import NO_BODY, Requester, decode, raise_for_status, translate_errors

__all__ = ["TD_ACCEPT", "ConsumedThing", "consume", "fetch_json", "td_problems_off_loop"]

_log = logging.getLogger(__name__)

TD_ACCEPT = "application/td+json, application/json;q=0.9"
#: Seconds a request may take unless told otherwise (observe streams have no read limit).
DEFAULT_TIMEOUT = 10.0
#: Keys of an affordance that are interaction terms, not part of its DataSchema.
_INTERACTION_KEYS = {"forms", "uriVariables", "observable", "@type", "titles", "descriptions"}
#: check_td advice that does not stop a TD from being used.
_ADVISORY = ("should end with '/'",)


def _bootstrap(response: httpx.Response, credentials: Credentials | None) -> dict[str, str]:
    """Credentials for a TD behind authentication: the scheme its 401 names (WoT Discovery)."""
    if credentials is None:
        return {}
    for challenge in response.headers.get_list("WWW-Authenticate"):  # the first we can answer
        scheme = {"basic": "basic", "bearer": "bearer"}.get(challenge.split(" ")[0].lower())
        if scheme is None:
            continue
        td = {"securityDefinitions": {"sc": {"scheme": scheme}}, "security": "sc"}
        try:
            return security_for(td, {}, credentials).headers
        except ConsumerError:
            continue
    return {}


async def fetch_json(
    client: httpx.AsyncClient,
    url: str,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - per request, given to httpx
    credentials: Credentials | None = None,
) -> Any:
    """GET ``url`` asking for a TD; the parsed JSON (TDError if unreachable or not JSON).

    A 401 whose ``WWW-Authenticate`` names basic or bearer is answered once with
    the matching ``credentials`` (security bootstrapping, WoT Discovery).
    """
    headers = {"Accept": TD_ACCEPT}
    try:
        async with translate_errors("GET", url):
            response = await client.get(url, headers=headers, timeout=timeout)
            if response.status_code == 401:
                auth = _bootstrap(response, credentials)
                if auth:
                    response = await client.get(url, headers=headers | auth, timeout=timeout)
    except ConsumerError as exc:
        raise TDError(f"cannot fetch the TD: {exc}") from exc.__cause__
    raise_for_status(response)
    try:
        return decode(response)
    except ConsumerError as exc:
        raise TDError(str(exc)) from None


def td_problems(td: Any) -> list[str]:
    """The problems that make a TD unusable (the official schema and our checks, minus advice)."""
    return [p for p in validate_td(td) if not any(text in p for text in _ADVISORY)]


async def td_problems_off_loop(td: Any) -> list[str]:
    """:func:`td_problems` in a worker thread: validating a large TD takes milliseconds of CPU.

    The official schema is big and checked with formats on; on the event loop that
    stalls every other request and subscription of the caller for the whole check.
    """
    return await asyncio.to_thread(td_problems, td)


class ConsumedThing:
    """A remote Thing, driven from its TD alone.

    Use :func:`consume` to build one from a URL. ``async with`` closes the HTTP
    client it owns (one passed in as ``client`` is left open for its owner).
    """

    def __init__(
        self,
        td: dict[str, Any],
        *,
        url: str | None = None,
        client: httpx.AsyncClient | None = None,
        credentials: Credentials | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        strict: bool = True,
        problems: list[str] | None = None,
    ) -> None:
        """Check ``td`` (strictly unless told) and prepare its requests.

        ``problems``: the TD's problems when already found (see
        :func:`td_problems_off_loop`, as :func:`consume` does); None validates here,
        blocking the caller for the check.
        """
        if not isinstance(td, dict):
            raise TDError("a TD is a JSON object")
        if problems is None:
            problems = td_problems(td)
        if problems and strict:
            shown = "; ".join(problems[:3]) + (" ..." if len(problems) > 3 else "")
            where = f" at {url}" if url else ""
            raise TDError(f"the TD{where} breaks TD 1.1 ({len(problems)} problems): {shown}")
        for problem in problems:
            _log.warning("TD of %s: %s", td.get("title"), problem)
        #: Problems found in the TD (only non-empty with ``strict=False``).
        self.problems = problems
        self.td = td
        self.url = url
        base = td.get("base")
        self.base: str = base if isinstance(base, str) else (url or "")
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(trust_env=False)
        self.requester = Requester(self._client, td, credentials, timeout)
        self._validators: dict[tuple[str, str], SchemaValidator | None] = {}
        self._subscriptions: set[Subscription] = set()

    # description ------------------------------------------------------------------

    @property
    def title(self) -> str:
        """The Thing's title."""
        return str(self.td.get("title", ""))

    @property
    def properties(self) -> dict[str, Any]:
        """The TD's property affordances by name."""
        return dict(self.td.get("properties") or {})

    @property
    def actions(self) -> dict[str, Any]:
        """The TD's action affordances by name."""
        return dict(self.td.get("actions") or {})

    @property
    def events(self) -> dict[str, Any]:
        """The TD's event affordances by name."""
        return dict(self.td.get("events") or {})

    def __repr__(self) -> str:
        return f"<ConsumedThing {self.title!r} at {self.url or self.base}>"

    # lifecycle --------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close every open subscription and the HTTP client this Thing owns. Idempotent."""
        for subscription in list(self._subscriptions):
            await subscription.close()
        if self._own_client:
            await self._client.aclose()

    async def __aenter__(self) -> ConsumedThing:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    # helpers ----------------------------------------------------------------------

    def form(
        self,
        kind: str | None,
        name: str | None,
        op: str,
        subprotocols: tuple[str | None, ...] | None = None,
    ) -> Form:
        """The form this Thing uses for ``op`` on an affordance (``kind`` None: the Thing)."""
        return pick_form(self.td, self.base, kind, name, op, subprotocols)

    def has_form(self, kind: str | None, name: str | None, op: str) -> bool:
        """Whether the TD offers a usable form for ``op``."""
        return bool(find_forms(self.td, self.base, kind, name, op))

    def _affordance(self, kind: str, name: str) -> dict[str, Any]:
        table = self.td.get(kind) or {}
        if name not in table:
            known = ", ".join(sorted(table)) or "none"
            raise NotFoundError(
                f"{self.title!r} has no {singular(kind)} {name!r} (it has: {known})",
                kind=kind,
                name=name,
            )
        affordance: dict[str, Any] = table[name]
        return affordance

    def validator(self, kind: str, name: str) -> SchemaValidator | None:
        """The compiled schema of a property value, an action input or an event's data."""
        key = (kind, name)
        if key not in self._validators:
            affordance = self._affordance(kind, name)
            if kind == "properties":
                schema: Any = {k: v for k, v in affordance.items() if k not in _INTERACTION_KEYS}
            else:
                schema = affordance.get("input" if kind == "actions" else "data")
            try:
                self._validators[key] = SchemaValidator(schema) if schema else None
            except SchemaError as exc:
                raise TDError(
                    f"the schema of {singular(kind)} {name!r} is invalid: {exc.message}"
                ) from None
        return self._validators[key]

    def check_value(self, kind: str, name: str, value: Any) -> Any:
        """``value`` as plain JSON, validated against the affordance's schema (InputError)."""
        value = to_json(value)
        validator = self.validator(kind, name)
        if validator is not None:
            validator.validate(value, thing=self.title, affordance=name)
        return value

    def variables(self, form: Form, given: dict[str, Any] | None) -> dict[str, Any]:
        """Validate URI variables against their declared schemas."""
        given = dict(given or {})
        schemas = uri_variable_schemas(self.td, form.owner)
        for name, value in given.items():
            schema = schemas.get(name)
            if isinstance(schema, dict):
                try:
                    SchemaValidator(schema).validate(value, thing=self.title, affordance=name)
                except SchemaError as exc:
                    raise TDError(
                        f"uriVariable {name!r} has an invalid schema: {exc.message}"
                    ) from None
        return given

    # properties -------------------------------------------------------------------

    async def read_property(self, name: str, *, uri_variables: dict[str, Any] | None = None) -> Any:
        """The current value of a property (``readproperty``)."""
        prop = self._affordance("properties", name)
        if prop.get("writeOnly"):
            raise NotAllowedError(f"property {name!r} is write-only", allowed=("writeproperty",))
        form = self.form("properties", name, "readproperty")
        response = await self.requester.send(form, variables=self.variables(form, uri_variables))
        return decode(response)

    async def write_property(
        self, name: str, value: Any, *, uri_variables: dict[str, Any] | None = None
    ) -> None:
        """Write a property (``writeproperty``); the value is checked before sending."""
        prop = self._affordance("properties", name)
        if prop.get("readOnly"):
            raise NotAllowedError(f"property {name!r} is read-only", allowed=("readproperty",))
        value = self.check_value("properties", name, value)
        form = self.form("properties", name, "writeproperty")
        await self.requester.send(form, body=value, variables=self.variables(form, uri_variables))

    def _readable(self) -> list[str]:
        return [name for name, prop in self.properties.items() if not prop.get("writeOnly")]

    async def read_all_properties(self) -> dict[str, Any]:
        """Every readable property: the root ``readallproperties`` form, else one by one."""
        if self.has_form(None, None, "readallproperties"):
            values = decode(await self.requester.send(self.form(None, None, "readallproperties")))
            if not isinstance(values, dict):
                raise ConsumerError("readallproperties answered something else than an object")
            return values
        return {name: await self.read_property(name) for name in self._readable()}

    async def read_multiple_properties(self, names: list[str]) -> dict[str, Any]:
        """Several properties at once (by the root forms when the TD offers them)."""
        for name in names:
            if self._affordance("properties", name).get("writeOnly"):
                raise NotAllowedError(f"property {name!r} is write-only")
        values: dict[str, Any] = {}
        if self.has_form(None, None, "readallproperties") or self.has_form(
            None, None, "readmultipleproperties"
        ):
            op = (
                "readallproperties"
                if self.has_form(None, None, "readallproperties")
                else "readmultipleproperties"
            )
            everything = decode(await self.requester.send(self.form(None, None, op)))
            if isinstance(everything, dict):
                values = {name: everything[name] for name in names if name in everything}
        for name in names:
            if name not in values:
                values[name] = await self.read_property(name)
        return values

    async def write_multiple_properties(self, values: dict[str, Any]) -> None:
        """Write several properties; every value is checked before anything is sent.

        Uses the root ``writemultipleproperties`` form when the TD offers one, and
        falls back to one write per property when that form is not actually served
        (node-wot 0.9.2 advertises it but answers 405).
        """
        checked = {}
        for name, value in values.items():
            if self._affordance("properties", name).get("readOnly"):
                raise NotAllowedError(f"property {name!r} is read-only")
            checked[name] = self.check_value("properties", name, value)
        if self.has_form(None, None, "writemultipleproperties"):
            form = self.form(None, None, "writemultipleproperties")
            response = await self.requester.send(form, body=checked, check=False)
            if response.status_code not in (404, 405, 501):
                raise_for_status(response)
                return
        for name, value in checked.items():
            form = self.form("properties", name, "writeproperty")
            await self.requester.send(form, body=value)

    # actions ----------------------------------------------------------------------

    async def start_action(
        self, name: str, input: Any = NO_BODY, *, uri_variables: dict[str, Any] | None = None
    ) -> ActionHandle:
        """Invoke an action and return a handle to the run, at once.

        The request says ``Prefer: respond-async``, so a wot-labthing servient
        answers without its usual short wait for the run to end.

        A synchronous action (or a servient that answers a plain output) gives a
        handle that is already ``completed``; an asynchronous one a handle that
        follows the run (``Location``/``href``, the TD's queryaction and
        cancelaction forms, or polling with back-off).
        """
        return await self._start(name, input, uri_variables, respond_async=True)

    async def _start(
        self,
        name: str,
        input: Any,
        uri_variables: dict[str, Any] | None,
        *,
        respond_async: bool,
    ) -> ActionHandle:
        action = self._affordance("actions", name)
        if input is not NO_BODY:
            input = self.check_value("actions", name, input)
        elif action.get("input") is not None:
            try:  # no input: fine only if the schema accepts none
                self.check_value("actions", name, None)
            except InputError as exc:
                raise InputError(
                    f"action {name!r} requires an input ({exc})", thing=self.title, affordance=name
                ) from None
        form = self.form("actions", name, "invokeaction")
        variables = self.variables(form, uri_variables)
        return await start_action(self, name, form, input, variables, respond_async=respond_async)

    async def invoke_action(
        self,
        name: str,
        input: Any = NO_BODY,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the run's deadline, not a cancel scope
        uri_variables: dict[str, Any] | None = None,
    ) -> Any:
        """Invoke an action and return its output, waiting for an asynchronous run to end.

        A run that fails raises :class:`RemoteError` with its problem; one still
        running after ``timeout`` seconds raises :class:`ActionTimeoutError` (the
        run goes on; use :meth:`start_action` to keep a handle and cancel it).
        """
        # The servient's short wait usually brings the output with the first answer.
        handle = await self._start(name, input, uri_variables, respond_async=False)
        return await handle.wait(timeout)

    # observation ------------------------------------------------------------------

    async def observe_property(self, name: str, *, subprotocol: str | None = None) -> Subscription:
        """Subscribe to a property's changes; iterate the returned subscription for values.

        An MQTT form (a broker) is preferred when the TD offers one and the broker
        answers (the first value is then the current, retained one), then
        Server-Sent Events, then long polling; ``subprotocol`` (``"mqtt"``,
        ``"sse"`` or ``"longpoll"``) forces one. Returns once the subscription is
        established, so no change made afterwards is missed.
        """
        prop = self._affordance("properties", name)
        if not prop.get("observable"):
            raise NotAllowedError(f"property {name!r} is not observable")
        return await self._subscribe("properties", name, "observeproperty", subprotocol)

    async def subscribe_event(self, name: str, *, subprotocol: str | None = None) -> Subscription:
        """Subscribe to an event; iterate the returned subscription for its data."""
        self._affordance("events", name)
        return await self._subscribe("events", name, "subscribeevent", subprotocol)

    async def _subscribe(
        self, kind: str, name: str, op: str, subprotocol: str | None
    ) -> Subscription:
        subscription = None
        if subprotocol in (None, "mqtt"):
            subscription = await _over_mqtt(
                self.td,
                kind,
                name,
                op,
                required=bool(subprotocol),
                credentials=self.requester.credentials,
            )
        if subscription is None:
            preference: tuple[str | None, ...] = (
                (subprotocol,) if subprotocol else ("sse", "longpoll")
            )
            form = self.form(kind, name, op, preference)
            subscription = await open_subscription(self.requester, form, name, op)
        self._subscriptions.add(subscription)
        subscription.on_close(lambda: self._subscriptions.discard(subscription))
        return subscription

    def _owning(self, own: bool) -> ConsumedThing:
        self._own_client = own
        return self


async def _over_mqtt(
    td: dict[str, Any],
    kind: str,
    name: str,
    op: str,
    *,
    required: bool,
    credentials: Credentials | None,
) -> Subscription | None:
    """A subscription through the TD's MQTT form, or None (no form, no aiomqtt, no broker).

    A broker that wants a login the caller did not give (``Credentials.mqtt_*``),
    or that refuses the one given, is like an unreachable one: HTTP is used.
    """
    try:
        from .mqtt import mqtt_form, open_mqtt_subscription
    except ImportError:  # pragma: no cover - aiomqtt is a dependency; kept optional here
        if required:
            raise ConsumerError("observing over MQTT needs the aiomqtt package") from None
        return None
    form = mqtt_form(td, kind, name, op)
    if form is None:
        if required:
            raise ConsumerError(f"{singular(kind)} {name!r} offers no MQTT form for {op}")
        return None
    try:
        return await open_mqtt_subscription(form, name, op, td=td, credentials=credentials)
    except Exception as exc:
        if required:
            raise ConsumerError(f"cannot subscribe through {form.href}: {exc}") from exc
        _log.info("%s %r: broker at %s unreachable (%s); using HTTP", op, name, form.href, exc)
        return None


async def consume(
    url_or_td: str | dict[str, Any],
    *,
    credentials: Credentials | None = None,
    client: httpx.AsyncClient | None = None,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - each request's limit, not a deadline
    strict: bool = True,
) -> ConsumedThing:
    """Fetch (or take) a TD and return the Thing it describes, ready to use.

    ``url_or_td`` is a TD URL or a TD already parsed. The TD is validated against
    the official TD 1.1 schema; ``strict=False`` logs its problems instead of
    raising :class:`TDError` (for peers whose TDs are not quite right).
    ``credentials`` serve the ``basic`` and ``bearer`` schemes the TD asks for.
    """
    own = client is None
    http = client or httpx.AsyncClient(trust_env=False)
    try:
        if isinstance(url_or_td, str):
            td = await fetch_json(http, url_or_td, timeout, credentials)
            if isinstance(td, list):
                raise TDError(
                    f"{url_or_td} lists {len(td)} Things rather than describing one; "
                    "consume one of their TD URLs"
                )
            url: str | None = url_or_td
        else:
            td, url = url_or_td, None
        if not isinstance(td, dict):
            raise TDError(f"{url or 'the TD'} is not a JSON object")
        return ConsumedThing(
            td,
            url=url,
            client=http,
            credentials=credentials,
            timeout=timeout,
            strict=strict,
            problems=await td_problems_off_loop(td),
        )._owning(own)
    except BaseException:
        if own:
            await http.aclose()
        raise
