"""HTTP requests of a consumed Thing, and the mapping of every failure to our errors.

Callers never see an ``httpx`` exception or a raw traceback: an unreachable host
or a timeout is a :class:`ConsumerError` that names the URL, a 4xx/5xx answer a
:class:`RemoteError` carrying its status and RFC 9457 problem body, a TD that
cannot be fetched a :class:`TDError`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any

import httpx

from .._errors import ConsumerError, InputError, RemoteError
from .._jsonutil import dumps, loads
from .forms import Form, expand_href, is_json
from .security import Credentials, security_for

__all__ = ["NO_BODY", "Requester", "decode", "raise_for_status", "translate_errors"]

_log = logging.getLogger(__name__)

#: Sentinel: send no body at all (no Content-Type either, WoT Profile invokeaction-5).
NO_BODY: Any = object()
_DETAIL_CHARS = 200


@asynccontextmanager
async def translate_errors(method: str, url: str) -> AsyncIterator[None]:
    """Turn httpx transport failures into one-line :class:`ConsumerError`."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise ConsumerError(f"{method} {url}: no answer in time ({type(exc).__name__})") from exc
    except httpx.ConnectError as exc:
        raise ConsumerError(f"{method} {url}: cannot connect: {exc or 'refused'}") from exc
    except httpx.HTTPError as exc:
        raise ConsumerError(f"{method} {url}: {type(exc).__name__}: {exc}") from exc


def decode(response: httpx.Response) -> Any:
    """The body as a value: JSON parsed, text as ``str``, nothing as ``None``, else bytes."""
    content = response.content
    if not content:
        return None
    content_type = response.headers.get("Content-Type", "application/json")
    if is_json(content_type):
        try:
            return loads(content)
        except InputError as exc:
            raise ConsumerError(
                f"{response.request.method} {response.request.url}: the answer is not JSON: {exc}"
            ) from None
    if content_type.lower().startswith("text/"):
        return response.text
    return content


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "error"


def raise_for_status(response: httpx.Response) -> None:
    """Raise :class:`RemoteError` for a 4xx/5xx answer, with its problem body if any."""
    if response.status_code < 400:
        return
    problem: dict[str, Any] = {}
    text = ""
    try:
        body = loads(response.content) if response.content else None
    except InputError:
        body = None
        text = response.text.strip()
    if isinstance(body, dict):
        problem = body
    elif body is not None:
        text = str(body)
    title = problem.get("title") or response.reason_phrase or _phrase(response.status_code)
    detail = problem.get("detail") or " ".join(text.split())[:_DETAIL_CHARS]
    message = f"{response.request.method} {response.request.url}: {response.status_code} {title}"
    if detail and detail != title:
        message += f": {detail}"
    raise RemoteError(message, status=response.status_code, problem=problem)


class Requester:
    """Sends requests through forms of one TD with its security and a default timeout."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        td: dict[str, Any],
        credentials: Credentials | None,
        timeout: float,
    ) -> None:
        self.client = client
        self.td = td
        self.credentials = credentials
        self.timeout = timeout

    def prepare(
        self, form: Form, variables: dict[str, Any] | None = None, href: str | None = None
    ) -> tuple[str, dict[str, str], dict[str, str]]:
        """URL, headers and query parameters for ``form`` (or for ``href`` under its security)."""
        auth = security_for(self.td, form.raw, self.credentials)
        url = href if href is not None else expand_href(form.href, variables or {})
        return url, auth.headers, auth.params

    async def send(
        self,
        form: Form,
        *,
        body: Any = NO_BODY,
        variables: dict[str, Any] | None = None,
        href: str | None = None,
        method: str | None = None,
        headers: dict[str, str] | None = None,
        timeout: httpx.Timeout | float | None = None,  # noqa: ASYNC109 - given to httpx
        check: bool = True,
    ) -> httpx.Response:
        """One request through ``form``; 4xx/5xx raise :class:`RemoteError` unless not ``check``."""
        url, auth_headers, params = self.prepare(form, variables, href)
        method = method or form.method
        all_headers = {"Accept": form.response_content_type, **auth_headers, **(headers or {})}
        content: bytes | None = None
        if body is not NO_BODY:
            content = dumps(body).encode("utf-8")
            all_headers["Content-Type"] = form.content_type
        async with translate_errors(method, url):
            response = await self.client.request(
                method,
                url,
                content=content,
                headers=all_headers,
                params=params or None,
                timeout=self.timeout if timeout is None else timeout,
            )
        _log.debug("%s %s -> %d", method, url, response.status_code)
        if check:
            raise_for_status(response)
        return response
