"""Action runs seen from the client: :class:`ActionHandle` and the invokeaction answer.

Servients disagree on what invoking an asynchronous action returns, so the
answer is read generously:

- ``200`` with the bare output (a synchronous action, or node-wot, which answers
  every action that way) or ``204``: the run is over, the handle is ``completed``;
- ``201``/``202`` with ``Location`` and an ActionStatus (WoT Profile): the handle
  follows the ``Location`` URL;
- a LabThings-style record without ``Location``: its ``href`` (or ``links``
  ``rel=self``), else the TD's ``queryaction`` form with the record's ``id``.

Progress comes live from the record's ``rel: "events"`` link (else
``<record URL>/events``) when the servient offers that Server-Sent Events stream
(wot-labthing does), otherwise by polling the record
with back-off. Statuses are reported in the Profile's vocabulary (LabThings'
``cancelled`` and ``error`` become ``failed``); :attr:`ActionHandle.record`
keeps the servient's own record.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import httpx
from httpx_sse import aconnect_sse

from .._backoff import backoff_delay
from .._errors import (
    ActionTimeoutError,
    ConsumerError,
    InputError,
    InvocationCancelled,
    RemoteError,
)
from .._jsonutil import loads
from .forms import Form, expand_href, find_forms
from .transport import NO_BODY, decode

if TYPE_CHECKING:
    from .thing import ConsumedThing

__all__ = ["POLL_FACTOR", "POLL_FIRST", "POLL_MAX", "ActionHandle", "start_action"]

_log = logging.getLogger(__name__)

#: Polling back-off: the first delay, its growth per poll, and its ceiling (seconds).
POLL_FIRST = 0.05
POLL_FACTOR = 1.5
POLL_MAX = 1.0
#: Status of a failed run's :class:`RemoteError` when its problem has none: a cancelled
#: run's (as wot-labthing answers a cancelled synchronous run), else 500.
CANCELLED_STATUS = InvocationCancelled.http_status

_STATUSES = {
    "pending": "pending",
    "queued": "pending",
    "running": "running",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "failed",
    "error": "failed",
}
FINISHED = frozenset({"completed", "failed"})
_UNSET: Any = object()
_VARIABLE = re.compile(r"\{[+#./;?&]?([^}]+)\}")


def looks_like_record(body: Any) -> bool:
    """An ActionStatus/LabThings record rather than an output that happens to be an object."""
    return (
        isinstance(body, dict)
        and body.get("status") in _STATUSES
        and any(key in body for key in ("href", "id", "links", "timeRequested"))
    )


def _record_href(record: dict[str, Any] | None, base: str) -> str | None:
    if not record:
        return None
    href = record.get("href")
    if not isinstance(href, str):
        href = next(
            (
                link.get("href")
                for link in record.get("links") or []
                if isinstance(link, dict) and link.get("rel") == "self"
            ),
            None,
        )
    return urljoin(base, href) if isinstance(href, str) and href else None


class ActionHandle:
    """One run of a remote action: its status, progress and output, and a way to cancel it.

    ``status`` is ``pending``, ``running``, ``completed`` or ``failed`` as last seen;
    :meth:`refresh` asks again, :meth:`updates` follows every change, :meth:`wait`
    returns the output (or raises the failure) and :meth:`cancel` stops the run.
    """

    def __init__(
        self,
        thing: ConsumedThing,
        action: str,
        form: Form,
        *,
        record: dict[str, Any] | None = None,
        href: str | None = None,
        output: Any = _UNSET,
    ) -> None:
        self.thing = thing
        self.action = action
        self._form = form
        self.href = href
        #: The servient's last record of the run as it sent it (None for a plain output).
        self.record: dict[str, Any] | None = None
        self.raw_status: str | None = None
        self.status = "pending"
        self._output = output
        self._live_tried = False
        self._cancelled_here = False
        if output is not _UNSET:
            self.status = "completed"
        if record is not None:
            self._update(record)

    def __repr__(self) -> str:
        return f"<ActionHandle {self.action} {self.id or self.href or ''} {self.status}>"

    # what is known ----------------------------------------------------------------

    @property
    def id(self) -> str | None:
        """The run's id, if the servient gave one."""
        value = (self.record or {}).get("id")
        return str(value) if value is not None else None

    @property
    def progress(self) -> float | None:
        """Progress in percent (0 to 100), if the servient reports it."""
        value = (self.record or {}).get("progress")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        return 100.0 if self.status == "completed" else None

    @property
    def done(self) -> bool:
        """Whether the run is over (``completed`` or ``failed``)."""
        return self.status in FINISHED

    @property
    def cancelled(self) -> bool:
        """Whether the run ended because it was cancelled."""
        if self.raw_status == "cancelled" or (self._cancelled_here and self.status == "failed"):
            return True
        error = self.error or {}
        text = f"{error.get('type', '')} {error.get('title', '')}".lower()
        return self.status == "failed" and "cancel" in text

    @property
    def error(self) -> dict[str, Any] | None:
        """The RFC 9457 problem of a failed run, if any."""
        value = (self.record or {}).get("error")
        return value if isinstance(value, dict) else None

    @property
    def output(self) -> Any:
        """The output of a completed run (None before)."""
        if self._output is not _UNSET:
            return self._output
        return (self.record or {}).get("output")

    def _update(self, record: dict[str, Any]) -> None:
        self.record = record
        raw = record.get("status")
        self.raw_status = raw if isinstance(raw, str) else None
        self.status = _STATUSES.get(str(raw), self.status)
        href = _record_href(record, self.href or self._form.href)
        if self.href is None and href is not None:
            self.href = href

    # talking to the servient ------------------------------------------------------

    def _endpoint(self, op: str) -> tuple[Form, str]:
        """Form (method, security) and URL for ``queryaction``/``cancelaction`` of this run."""
        forms = find_forms(self.thing.td, self.thing.base, "actions", self.action, op)
        default = "GET" if op == "queryaction" else "DELETE"
        if self.href is not None:  # the Profile's way: the URL the servient handed out
            form = forms[0] if forms else self._form.with_method(default)
            return form, self.href
        if forms and self.id is not None:
            names = _VARIABLE.findall(forms[0].href)
            variables = {name.split(",")[0].strip(): self.id for name in names}
            return forms[0], expand_href(forms[0].href, variables)
        verb = "follow" if op == "queryaction" else "cancel"
        raise ConsumerError(
            f"cannot {verb} this run of {self.action!r}: the servient gave no Location or "
            f"href and the TD has no {op} form"
        )

    async def refresh(self) -> str:
        """Ask the servient for the run's record (``queryaction``); returns the status."""
        if self.done:
            return self.status
        form, url = self._endpoint("queryaction")
        response = await self.thing.requester.send(
            form, href=url, method=form.method, headers={"Accept": "application/json"}
        )
        body = decode(response)
        if isinstance(body, dict) and "status" in body:
            self._update(body)
        else:
            raise ConsumerError(f"GET {url}: the answer is not an action status record")
        return self.status

    async def _fetch_output(self) -> None:
        """Fetch a completed run's output from its ``rel=output`` link when the record lacks it."""
        if self._output is not _UNSET or not self.record or "output" in self.record:
            return
        link = next(
            (
                link
                for link in self.record.get("links") or []
                if isinstance(link, dict) and link.get("rel") == "output" and link.get("href")
            ),
            None,
        )
        if link is not None:
            url = urljoin(self.href or self._form.href, link["href"])
            response = await self.thing.requester.send(self._form, href=url, method="GET")
            self._output = decode(response)

    async def updates(self) -> AsyncGenerator[dict[str, Any], None]:
        """Every new record of the run, until (and including) the one that ends it.

        Live from the servient's event stream when it has one, else by polling
        the record with back-off (:data:`POLL_FIRST` growing to :data:`POLL_MAX`).
        """
        if self.done:
            if self.record is not None:
                yield self.record
            return
        if not self._live_tried and self.href is not None:
            self._live_tried = True
            async for record in self._live():
                yield record
            if self.done:
                return
        polls = 0
        while not self.done:
            await asyncio.sleep(
                backoff_delay(polls, first=POLL_FIRST, maximum=POLL_MAX, factor=POLL_FACTOR)
            )
            polls += 1
            seen = (self.status, self.progress)
            await self.refresh()
            if self.record is not None and (self.done or (self.status, self.progress) != seen):
                yield self.record

    def _events_link(self) -> str | None:
        """The record's ``rel: "events"`` link (our servient offers it while a run goes)."""
        links = self.record.get("links") if isinstance(self.record, dict) else None
        for link in links if isinstance(links, list) else []:
            if isinstance(link, dict) and link.get("rel") == "events" and link.get("href"):
                return urljoin(self.href or "", str(link["href"]))
        return None

    async def _live(self) -> AsyncIterator[dict[str, Any]]:
        """Records from ``<href>/events`` (Server-Sent Events); nothing if it is not offered."""
        assert self.href is not None
        url = self._events_link() or self.href.rstrip("/") + "/events"
        _, headers, params = self.thing.requester.prepare(self._form, href=url)
        client = self.thing.requester.client
        timeout = httpx.Timeout(self.thing.requester.timeout, read=None)
        try:
            async with aconnect_sse(
                client, "GET", url, headers=headers, params=params or None, timeout=timeout
            ) as source:
                content_type = source.response.headers.get("Content-Type", "")
                if source.response.status_code != 200 or "text/event-stream" not in content_type:
                    return
                async for message in source.aiter_sse():
                    try:
                        record = loads(message.data)
                    except InputError:
                        continue
                    if isinstance(record, dict) and "status" in record:
                        record = self._merge(record)
                        self._update(record)
                        yield record
                        if self.done:
                            return
        except httpx.HTTPError as exc:  # the stream is a bonus: polling still works
            _log.debug("live updates from %s ended: %s", url, exc)

    def _merge(self, message: dict[str, Any]) -> dict[str, Any]:
        """The record after a stream message: a full record, or a delta applied to the last.

        wot-labthing streams a full record on connect and at the end, and deltas in
        between (every full record has ``timeRequested``, a delta never has it):
        changed members, plus ``logAppend``/``dataAppend`` items to append. The
        appended lists grow in place, so following a long run costs O(1) per update.
        """
        if "timeRequested" in message or not isinstance(self.record, dict):
            return message
        record = dict(self.record)
        for key, value in message.items():
            if key in ("logAppend", "dataAppend") and isinstance(value, list):
                target = "log" if key == "logAppend" else "data"
                current = record.get(target)
                if not isinstance(current, list):
                    current = [] if current is None else [current]
                current.extend(value)
                record[target] = current
            else:
                record[key] = value
        return record

    async def wait(self, timeout: float | None = None) -> Any:  # noqa: ASYNC109
        """The run's output once it completes; raises :class:`RemoteError` if it failed.

        After ``timeout`` seconds raises :class:`ActionTimeoutError` and leaves the
        run alone (it is the caller's to cancel).
        """
        if not self.done:
            try:
                async with asyncio.timeout(timeout) as scope:
                    async for _ in self.updates():
                        pass
            except TimeoutError:
                if not scope.expired():
                    raise
                raise ActionTimeoutError(
                    f"action {self.action!r} still {self.status} after {timeout:g} s"
                ) from None
        return await self.result()

    async def result(self) -> Any:
        """The output of a finished run, or its failure as :class:`RemoteError`."""
        if self.status == "failed":
            problem = self.error or {}
            what = "was cancelled" if self.cancelled else "failed"
            detail = problem.get("detail") or problem.get("title") or self.raw_status or ""
            status = problem.get("status")
            if not isinstance(status, int):
                status = CANCELLED_STATUS if self.cancelled else 500
            message = f"action {self.action!r} {what}" + (f": {detail}" if detail else "")
            raise RemoteError(message, status=status, problem=problem)
        if self.status != "completed":
            raise ConsumerError(f"action {self.action!r} is still {self.status}")
        await self._fetch_output()
        return self.output

    async def cancel(self) -> None:
        """Cancel the run (``cancelaction``); no-op once it is over.

        Afterwards the record is read again so :attr:`status` shows how it ended
        (a servient that forgets cancelled runs leaves it ``failed``).
        """
        if self.done:
            return
        form, url = self._endpoint("cancelaction")
        response = await self.thing.requester.send(form, href=url, method=form.method)
        self._cancelled_here = True
        body = decode(response)
        if isinstance(body, dict) and "status" in body:
            self._update(body)  # LabThings answers 200 with the record
        try:
            await self.refresh()
        except RemoteError as exc:
            if exc.status not in (404, 410):
                raise
            self.status = "failed"


def completed(thing: ConsumedThing, action: str, form: Form, output: Any) -> ActionHandle:
    """A handle for a run that is already over (synchronous action or plain output)."""
    return ActionHandle(thing, action, form, output=output)


async def start_action(
    thing: ConsumedThing,
    action: str,
    form: Form,
    input: Any,
    variables: dict[str, Any],
    *,
    respond_async: bool = False,
) -> ActionHandle:
    """POST the invocation and make a handle from whatever shape of answer comes back.

    With ``respond_async`` the request asks the servient to answer at once
    (RFC 7240 ``Prefer: respond-async``) rather than after its short wait for a
    quick run; servients that ignore the preference answer as usual.
    """
    response = await thing.requester.send(
        form,
        body=input if input is not NO_BODY else NO_BODY,
        variables=variables,
        headers={"Prefer": "respond-async"} if respond_async else None,
    )
    if response.status_code == 204:
        return completed(thing, action, form, None)
    body = decode(response)
    if thing.actions[action].get("synchronous") is True and response.status_code == 200:
        return completed(thing, action, form, body)
    location = response.headers.get("Location")
    record = body if looks_like_record(body) else None
    if location is None and record is None:
        return completed(thing, action, form, body)  # node-wot and plain-output servients
    href = urljoin(str(response.url), location) if location else None
    return ActionHandle(thing, action, form, record=record, href=href)
