"""The blocking facade for scripts and notebooks: :func:`consume_sync`.

An event loop runs in a daemon thread (an anyio blocking *portal*) and every
call is submitted to it, so the facade works the same in a plain script and in a
notebook whose own loop is already running. Ctrl-C in the calling thread
cancels the call in flight and propagates as :class:`KeyboardInterrupt`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Coroutine, Iterator
from types import TracebackType
from typing import Any, TypeVar

from anyio.from_thread import start_blocking_portal

from .actions import ActionHandle
from .directory import FoundThing, search_things
from .observe import Subscription
from .security import Credentials
from .thing import DEFAULT_TIMEOUT, ConsumedThing, consume
from .transport import NO_BODY

__all__ = [
    "Portal",
    "SyncActionHandle",
    "SyncConsumedThing",
    "SyncSubscription",
    "consume_sync",
    "search_things_sync",
]

T = TypeVar("T")

#: Seconds an interrupted call waits for its task to stop in the loop.
CANCEL_GRACE = 5.0


class Portal:
    """An anyio blocking portal: an event loop in a daemon thread running coroutines for callers.

    anyio's portal owns the thread, the loop and the hand-over of results; this adds
    what a blocking facade needs on top: an interrupted wait (Ctrl-C, ``timeout``)
    cancels the call and returns only once it has really stopped.
    """

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self._portal = self._stack.enter_context(
            start_blocking_portal("asyncio", name="wot-labthing-consumer")
        )
        self._closed = False

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coroutine`` on the portal's loop and wait for its result.

        If the wait is interrupted (Ctrl-C, ``timeout``), the task is cancelled and
        this returns only once it has really stopped, so the caller can go on
        using the same objects (e.g. close an async generator the task was running).
        """
        if self._closed:
            coroutine.close()
            raise RuntimeError("this consumed Thing is closed")
        finished = threading.Event()

        async def run() -> T:
            try:
                return await coroutine
            finally:
                finished.set()

        future = self._portal.start_task_soon(run)
        try:
            return future.result(timeout)
        except BaseException:
            future.cancel()  # anyio cancels the task's scope in the loop
            finished.wait(CANCEL_GRACE)
            raise

    def close(self) -> None:
        """Cancel what still runs, stop the loop and join its thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        with self._stack:
            self._portal.call(self._portal.stop, True)


class SyncSubscription:
    """A :class:`Subscription` for blocking code: ``for value in subscription``."""

    def __init__(self, portal: Portal, subscription: Subscription) -> None:
        self._portal = portal
        self.subscription = subscription

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        try:
            return self._portal.call(self.subscription.__anext__())
        except StopAsyncIteration:
            raise StopIteration from None

    def next(self, timeout: float | None = None) -> Any:
        """The next value, waiting at most ``timeout`` seconds (TimeoutError after)."""
        return self._portal.call(self.subscription.next(timeout))

    @property
    def dropped(self) -> int:
        """Values lost because the consumer did not keep up."""
        return self.subscription.dropped

    def close(self) -> None:
        """Stop observing. Idempotent."""
        self._portal.call(self.subscription.close())

    def __enter__(self) -> SyncSubscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class SyncActionHandle:
    """An :class:`ActionHandle` for blocking code."""

    def __init__(self, portal: Portal, handle: ActionHandle) -> None:
        self._portal = portal
        self.handle = handle

    def __repr__(self) -> str:
        return repr(self.handle)

    @property
    def id(self) -> str | None:
        """The run's id, if the servient gave one."""
        return self.handle.id

    @property
    def href(self) -> str | None:
        """The URL of the run's record, if any."""
        return self.handle.href

    @property
    def status(self) -> str:
        """``pending``, ``running``, ``completed`` or ``failed``, as last seen."""
        return self.handle.status

    @property
    def progress(self) -> float | None:
        """Progress in percent, if reported."""
        return self.handle.progress

    @property
    def done(self) -> bool:
        """Whether the run is over."""
        return self.handle.done

    @property
    def cancelled(self) -> bool:
        """Whether the run ended because it was cancelled."""
        return self.handle.cancelled

    @property
    def output(self) -> Any:
        """The output of a completed run."""
        return self.handle.output

    @property
    def record(self) -> dict[str, Any] | None:
        """The servient's last record of the run."""
        return self.handle.record

    def refresh(self) -> str:
        """Ask for the run's record again; returns the status."""
        return self._portal.call(self.handle.refresh())

    def wait(self, timeout: float | None = None) -> Any:
        """The output once the run completes (RemoteError if it failed, ActionTimeoutError)."""
        return self._portal.call(self.handle.wait(timeout))

    def cancel(self) -> None:
        """Cancel the run."""
        self._portal.call(self.handle.cancel())

    def updates(self) -> Iterator[dict[str, Any]]:
        """Every new record of the run until it ends (blocking iterator)."""
        updates = self.handle.updates()

        async def step() -> dict[str, Any]:
            return await updates.__anext__()

        try:
            while True:
                try:
                    yield self._portal.call(step())
                except StopAsyncIteration:
                    return
        finally:
            if not self._portal._closed:
                self._portal.call(updates.aclose())


class SyncConsumedThing:
    """A :class:`ConsumedThing` for blocking code (scripts, notebooks)."""

    def __init__(self, portal: Portal, thing: ConsumedThing) -> None:
        self._portal = portal
        self.thing = thing

    def __repr__(self) -> str:
        return repr(self.thing).replace("ConsumedThing", "SyncConsumedThing", 1)

    @property
    def td(self) -> dict[str, Any]:
        """The Thing Description."""
        return self.thing.td

    @property
    def title(self) -> str:
        """The Thing's title."""
        return self.thing.title

    @property
    def properties(self) -> dict[str, Any]:
        """The property affordances by name."""
        return self.thing.properties

    @property
    def actions(self) -> dict[str, Any]:
        """The action affordances by name."""
        return self.thing.actions

    @property
    def events(self) -> dict[str, Any]:
        """The event affordances by name."""
        return self.thing.events

    def read_property(self, name: str, **kwargs: Any) -> Any:
        """See :meth:`ConsumedThing.read_property`."""
        return self._portal.call(self.thing.read_property(name, **kwargs))

    def write_property(self, name: str, value: Any, **kwargs: Any) -> None:
        """See :meth:`ConsumedThing.write_property`."""
        self._portal.call(self.thing.write_property(name, value, **kwargs))

    def read_all_properties(self) -> dict[str, Any]:
        """See :meth:`ConsumedThing.read_all_properties`."""
        return self._portal.call(self.thing.read_all_properties())

    def read_multiple_properties(self, names: list[str]) -> dict[str, Any]:
        """See :meth:`ConsumedThing.read_multiple_properties`."""
        return self._portal.call(self.thing.read_multiple_properties(names))

    def write_multiple_properties(self, values: dict[str, Any]) -> None:
        """See :meth:`ConsumedThing.write_multiple_properties`."""
        self._portal.call(self.thing.write_multiple_properties(values))

    def start_action(self, name: str, input: Any = NO_BODY, **kwargs: Any) -> SyncActionHandle:
        """See :meth:`ConsumedThing.start_action`."""
        return SyncActionHandle(
            self._portal, self._portal.call(self.thing.start_action(name, input, **kwargs))
        )

    def invoke_action(
        self, name: str, input: Any = NO_BODY, *, timeout: float | None = None, **kwargs: Any
    ) -> Any:
        """See :meth:`ConsumedThing.invoke_action`; Ctrl-C stops waiting (not the run)."""
        return self._portal.call(self.thing.invoke_action(name, input, timeout=timeout, **kwargs))

    def observe_property(self, name: str, **kwargs: Any) -> SyncSubscription:
        """See :meth:`ConsumedThing.observe_property`."""
        return SyncSubscription(
            self._portal, self._portal.call(self.thing.observe_property(name, **kwargs))
        )

    def subscribe_event(self, name: str, **kwargs: Any) -> SyncSubscription:
        """See :meth:`ConsumedThing.subscribe_event`."""
        return SyncSubscription(
            self._portal, self._portal.call(self.thing.subscribe_event(name, **kwargs))
        )

    def close(self) -> None:
        """Close subscriptions, the HTTP client and the portal thread. Idempotent."""
        if self._portal._closed:
            return
        try:
            self._portal.call(self.thing.aclose())
        finally:
            self._portal.close()

    def __enter__(self) -> SyncConsumedThing:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def consume_sync(
    url_or_td: str | dict[str, Any],
    *,
    credentials: Credentials | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    strict: bool = True,
) -> SyncConsumedThing:
    """:func:`consume` for blocking code; close the result (or use ``with``) when done."""
    portal = Portal()
    try:
        thing = portal.call(
            consume(url_or_td, credentials=credentials, timeout=timeout, strict=strict)
        )
    except BaseException:
        portal.close()
        raise
    return SyncConsumedThing(portal, thing)


def search_things_sync(
    where: str,
    *,
    title: str | None = None,
    type: str | None = None,
    credentials: Credentials | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[FoundThing]:
    """:func:`~wot_labthing.search_things` for blocking code."""
    portal = Portal()
    try:
        return portal.call(
            search_things(where, title=title, type=type, credentials=credentials, timeout=timeout)
        )
    finally:
        portal.close()
