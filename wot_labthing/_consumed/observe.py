"""Observing properties and subscribing to events: Server-Sent Events and long polling.

A :class:`Subscription` is established before it is returned (the SSE stream
is open, or the long-poll ``HEAD`` probe was answered), so a change made right
after ``observe_property`` returns is not missed. A background task reads the
stream into a bounded queue; the caller iterates the subscription for values.

SSE (``subprotocol: "sse"``)
    Messages named after the affordance (WoT SSE Profile) or unnamed (node-wot
    style) are taken; ``data`` is JSON. A dropped stream is reopened with
    ``Last-Event-ID`` after a back-off, so the servient can replay what was missed.

Long polling (``subprotocol: "longpoll"``, node-wot's)
    ``HEAD`` first (the servient starts buffering for this client), then ``GET``
    after ``GET``, each held until the next change: ``200`` is a value, ``204`` or
    a redirect (not followed: the form's URL is polled again) a hold that ended
    without change, ``503`` a "come back after Retry-After".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any

import httpx
from httpx_sse import aconnect_sse

from .._backoff import backoff_delay
from .._errors import ConsumerError, InputError, RemoteError
from .._jsonutil import loads
from .forms import Form
from .transport import Requester, decode, raise_for_status, translate_errors

__all__ = ["QUEUE_SIZE", "RECONNECT_FIRST", "RECONNECT_MAX", "Subscription", "open_subscription"]

_log = logging.getLogger(__name__)

#: Values kept for a consumer that does not keep up; beyond, the oldest are dropped.
QUEUE_SIZE = 1024
#: Reconnection back-off after a dropped stream (seconds), and attempts before giving up.
RECONNECT_FIRST = 0.2
RECONNECT_MAX = 5.0
RECONNECT_ATTEMPTS = 8

_END: Any = object()


class Subscription:
    """A live observation of one property or event; ``async for value in subscription``.

    Iteration ends when the subscription is closed (or the servient ends it);
    a failure that cannot be recovered is raised from the iteration. Closing is
    idempotent and also done by ``async with`` and by closing the Thing.
    """

    def __init__(self, name: str, op: str, form: Form) -> None:
        self.name = name
        self.op = op
        self.form = form
        #: The subprotocol in use (``sse`` or ``longpoll``).
        self.subprotocol = form.subprotocol or "longpoll"
        #: Values lost because the consumer did not keep up.
        self.dropped = 0
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._close_callbacks: list[Callable[[], object]] = []

    def __repr__(self) -> str:
        return f"<Subscription {self.op} {self.name!r} over {self.subprotocol}>"

    @property
    def closed(self) -> bool:
        """Whether the subscription has ended."""
        return self._closed

    def on_close(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` once the subscription is closed."""
        self._close_callbacks.append(callback)

    def _push(self, value: Any) -> None:
        if self._queue.qsize() >= QUEUE_SIZE:
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(value)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Any:
        if self._closed and self._queue.empty():
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is _END:
            self._queue.put_nowait(_END)  # every later call ends too
            raise StopAsyncIteration
        if isinstance(item, _Failure):
            self._queue.put_nowait(_END)
            raise item.error
        return item

    async def next(self, timeout: float | None = None) -> Any:  # noqa: ASYNC109
        """The next value, waiting at most ``timeout`` seconds (TimeoutError after)."""
        async with asyncio.timeout(timeout):
            return await self.__anext__()

    async def close(self) -> None:
        """Stop observing (closes the stream or abandons the pending poll). Idempotent."""
        if self._closed:
            return
        self._closed = True
        task = self._task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._queue.put_nowait(_END)
        for callback in self._close_callbacks:
            callback()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def _parse(data: str) -> Any:
    try:
        return loads(data)
    except InputError:
        return data


async def _sse(
    requester: Requester, subscription: Subscription, opened: asyncio.Future[None]
) -> None:
    form = subscription.form
    url, auth_headers, params = requester.prepare(form)
    last_id: str | None = None
    failures = 0
    while True:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache", **auth_headers}
        if last_id is not None:
            headers["Last-Event-ID"] = last_id
        try:
            async with translate_errors(form.method, url):
                async with aconnect_sse(
                    requester.client,
                    form.method,
                    url,
                    headers=headers,
                    params=params or None,
                    timeout=httpx.Timeout(requester.timeout, read=None),
                ) as source:
                    response = source.response
                    if response.status_code >= 400:
                        await response.aread()
                        raise_for_status(response)
                    content_type = response.headers.get("Content-Type", "")
                    if "text/event-stream" not in content_type:
                        raise ConsumerError(
                            f"GET {url}: expected text/event-stream, got {content_type!r}"
                        )
                    if not opened.done():
                        opened.set_result(None)
                    failures = 0
                    async for message in source.aiter_sse():
                        if message.id:
                            last_id = message.id
                        if message.event not in (subscription.name, "message", ""):
                            continue  # another affordance on a shared stream
                        subscription._push(_parse(message.data))
        except RemoteError:
            raise
        except ConsumerError:
            if not opened.done():
                raise
            failures += 1
            if failures > RECONNECT_ATTEMPTS:
                raise
        # the stream ended or broke: reopen it, asking for what was missed
        await asyncio.sleep(backoff_delay(failures, first=RECONNECT_FIRST, maximum=RECONNECT_MAX))


async def _longpoll(
    requester: Requester, subscription: Subscription, opened: asyncio.Future[None]
) -> None:
    form = subscription.form
    probe = await requester.send(form, method="HEAD", check=False)
    if probe.status_code >= 400 and probe.status_code not in (405, 501):
        raise_for_status(probe)
    opened.set_result(None)
    failures = 0
    hold = httpx.Timeout(requester.timeout, read=None)
    while True:
        try:
            response = await requester.send(form, method="GET", timeout=hold, check=False)
        except ConsumerError:
            failures += 1
            if failures > RECONNECT_ATTEMPTS:
                raise
            await asyncio.sleep(
                backoff_delay(failures, first=RECONNECT_FIRST, maximum=RECONNECT_MAX)
            )
            continue
        failures = 0
        if response.status_code == 200:
            subscription._push(decode(response))
        elif response.status_code == 503:
            retry = response.headers.get("Retry-After", "1")
            await asyncio.sleep(float(retry) if retry.replace(".", "", 1).isdigit() else 1.0)
        elif response.status_code >= 400:
            raise_for_status(response)
        # 204, 3xx (or any other 2xx without a value): the hold ended quietly, poll again


async def open_subscription(requester: Requester, form: Form, name: str, op: str) -> Subscription:
    """Establish a subscription through ``form`` and start reading it in the background."""
    subscription = Subscription(name, op, form)
    opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    reader = _sse if subscription.subprotocol == "sse" else _longpoll

    async def run() -> None:
        try:
            await reader(requester, subscription, opened)
            subscription._push(_END)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not opened.done():
                opened.set_exception(exc)
            else:
                _log.warning("%s %r ended: %s", op, name, exc)
                subscription._push(_Failure(exc))

    return await start_reading(subscription, run(), opened, f"wot-labthing {op} {name}")


async def start_reading(
    subscription: Subscription,
    reading: Coroutine[Any, Any, None],
    opened: asyncio.Future[None],
    task_name: str,
) -> Subscription:
    """Run ``reading`` as the subscription's task; return once it has ``opened``.

    ``reading`` sets ``opened`` (or its exception) when the subscription is
    established; if it ends first, ``opened`` is cancelled, so this never waits
    forever. On any failure the subscription is closed and the error raised.
    """

    async def run() -> None:
        try:
            await reading
        finally:
            if not opened.done():
                opened.cancel()

    subscription._task = asyncio.create_task(run(), name=task_name)
    try:
        await opened
    except BaseException:
        await subscription.close()
        raise
    return subscription
