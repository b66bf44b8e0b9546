"""Registering the servient's TDs in TD Directories (WoT Discovery's Things API).

A :class:`DirectoryRegistrar` is a ``Registrar`` (``_lifecycle.py``): the servient
calls :meth:`~DirectoryRegistrar.register` once its bindings are open, and
:meth:`~DirectoryRegistrar.deregister` first thing on a clean shutdown. It then

* registers every Thing with ``PUT {directory}/things/{id}``, its TD carrying
  ``registration.ttl`` so the directory drops it if this servient vanishes;
* re-registers each TD every half TTL (the heartbeat) and at once when a Thing is
  added, a TD changed (noticed at the heartbeat) or a Thing removed (``DELETE``);
* deletes its TDs on a clean shutdown.

A directory that is down or refuses a TD is logged and retried with back-off
(``_backoff.py``) while the servient keeps serving; registration runs in its own
task and never delays start-up.

The TDs are the ones the servient serves: the registrar asks the HTTP binding's
endpoint to describe each Thing in-process (``Endpoint.describe``), as served
from the host name consumers should use (``public_host``; default: the bound
address, or this machine's name when bound to a wildcard). So they carry every
binding's forms and the ``[security]`` definitions, and the registrar needs no
credentials of the servient's own.

With ``discover = true`` instead of a ``url``, the registrar first looks for a
directory on the LAN (DNS-SD ``_directory._sub._wot._tcp``, WoT Discovery 6.3)
and registers with the first one that takes registrations; the servient serves
meanwhile, and the browse goes on (zeroconf re-queries with back-off, and a
directory announced later is heard at once) until one is found. After
``REDISCOVER_AFTER`` consecutive failures there it looks again: the first
directory whose TD answers (the same one back, or another) takes over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import httpx

from ._backoff import backoff_delay
from ._errors import ConfigError

if TYPE_CHECKING:
    from ._lifecycle import Endpoint
    from ._servient import Servient
    from ._thing import Thing

__all__ = ["DirectoryRegistrar", "DirectorySettings"]

_log = logging.getLogger(__name__)
#: Consecutive failures after which a directory found on the LAN is looked for again.
REDISCOVER_AFTER = 3
_WILDCARDS = ("0.0.0.0", "::", "")
TD_JSON = "application/td+json"


@dataclass
class DirectorySettings:
    """One ``[[directories]]`` entry.

    Attributes:
        url: the directory's base URL (its Things API is ``{url}/things``).
        discover: no ``url``: find the directory on the LAN (DNS-SD).
        advertise: announce the directory at ``url`` on the LAN (for servients
            and clients with ``discover``), while this servient runs.
        ttl: seconds a registration lives without a heartbeat (``registration.ttl``).
        username: for HTTP basic authentication, with ``password``.
        password: see ``username``.
        token: a bearer token (instead of basic authentication).
        public_host: the host name written into the registered TDs.
        retry_max: the longest wait, in seconds, between two attempts at a
            directory that is down or refusing.
    """

    url: str | None = None
    discover: bool = False
    advertise: bool = False
    ttl: int = 300
    username: str | None = None
    password: str | None = None
    token: str | None = None
    public_host: str | None = None
    retry_max: float = 60.0


class _Refused(Exception):
    """The directory answered, but not with success."""


class DirectoryRegistrar:
    """Keeps the servient's TDs registered in one TD Directory while it serves."""

    def __init__(self, settings: DirectorySettings) -> None:
        if settings.url is None and not settings.discover:
            raise ConfigError(
                "a directory needs a url, or discover = true to find one on the LAN",
                entry="directories",
            )
        if settings.url is not None and settings.discover:
            raise ConfigError(
                "give a directory either a url or discover = true, not both",
                entry="directories.discover",
            )
        if settings.advertise and settings.url is None:
            raise ConfigError(
                "advertise = true needs the directory's url", entry="directories.advertise"
            )
        if settings.url is not None:
            parts = urlsplit(settings.url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(
                    f"directory URL {settings.url!r} must be an http(s) URL",
                    entry="directories.url",
                )
        if settings.ttl < 2:
            raise ConfigError("ttl must be at least 2 seconds", entry="directories.ttl")
        self.settings = settings
        #: The directory's base URL; with ``discover``, "" until one is found.
        self.url = (settings.url or "").rstrip("/")
        self._servient: Servient | None = None
        self._endpoint: Endpoint | None = None
        self._client: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._dirty = asyncio.Event()
        #: Thing name -> (TD id, the TD last registered, monotonic time of that PUT).
        self.registered: dict[str, tuple[str, dict[str, Any], float]] = {}
        #: Successful PUTs so far (registrations, heartbeats and updates).
        self.puts = 0
        #: The last failure, or None after a successful round.
        self.last_error: str | None = None

    @property
    def heartbeat(self) -> float:
        """Seconds between two registrations of an unchanged TD: half the TTL."""
        return self.settings.ttl / 2

    async def register(self, servient: Servient, endpoints: list[Endpoint]) -> None:
        """Start keeping ``servient``'s Things registered (returns at once)."""
        if self._task is not None:
            return
        http = [
            endpoint
            for endpoint in endpoints
            if endpoint.scheme in ("http", "https") and endpoint.describe is not None
        ]
        if not http:
            _log.warning("directory %s: no HTTP binding to register TDs from", self.url)
            return
        self._servient = servient
        self._endpoint = http[0]
        auth: httpx.Auth | None = None
        headers = {}
        if self.settings.username is not None:
            auth = httpx.BasicAuth(self.settings.username, self.settings.password or "")
        if self.settings.token is not None:
            headers["Authorization"] = f"Bearer {self.settings.token}"
        self._client = httpx.AsyncClient(timeout=10, auth=auth, headers=headers)
        servient.on_registry_change(self._on_registry_change)
        self._task = asyncio.create_task(self._run(), name="wot-directory-registrar")

    async def deregister(self) -> None:
        """Stop the heartbeat and delete every TD this registrar registered."""
        task, self._task = self._task, None
        if self._servient is not None:
            self._servient.off_registry_change(self._on_registry_change)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        client, self._client = self._client, None
        if client is None:
            return
        try:
            for name, (td_id, _, _) in list(self.registered.items()):
                try:
                    await self._delete(client, td_id)
                except (httpx.HTTPError, _Refused) as exc:
                    _log.warning("directory %s: could not delete %r: %s", self.url, name, exc)
            self.registered.clear()
        finally:
            await client.aclose()

    def _on_registry_change(self, name: str, thing: Thing | None) -> None:
        self._dirty.set()

    async def _discover(self) -> None:
        """Browse the LAN until a directory that takes registrations is found; use it."""
        from ._discovery import watch_directories

        _log.info("directory: looking for a TD Directory on the LAN (_directory._sub._wot._tcp)")
        self.last_error = "no TD Directory found on the LAN yet"
        found = watch_directories(retry_max=self.settings.retry_max)
        async with contextlib.aclosing(found):
            async for directory in found:
                if directory.url is not None:
                    self.url = directory.url.rstrip("/")
                    _log.info(
                        "directory: found %r at %s on the LAN", directory.title, directory.url
                    )
                    return
                _log.info("directory: %s takes no registrations; looking on", directory.td_url)

    async def _run(self) -> None:
        if not self.url:
            await self._discover()
        attempt = 0
        while True:
            self._dirty.clear()
            try:
                await self._sync()
            except (httpx.HTTPError, _Refused) as exc:
                delay = backoff_delay(attempt, first=0.5, maximum=self.settings.retry_max)
                attempt += 1
                if self.last_error != str(exc) or attempt == 1:
                    _log.warning(
                        "directory %s: registration failed (%s); retrying in %.1f s",
                        self.url,
                        exc or type(exc).__name__,
                        delay,
                    )
                self.last_error = str(exc) or type(exc).__name__
                if self.settings.discover and attempt % REDISCOVER_AFTER == 0:
                    # found on the LAN: it may have gone, or another taken its place
                    _log.warning(
                        "directory %s: %d failures; looking on the LAN again", self.url, attempt
                    )
                    self.registered.clear()
                    self.url = ""
                    await self._discover()
                    continue
            else:
                if attempt:
                    _log.info("directory %s: registered again", self.url)
                attempt = 0
                self.last_error = None
                delay = self._next_due()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), delay)

    def _next_due(self) -> float:
        now = time.monotonic()
        due = [at + self.heartbeat - now for _, _, at in self.registered.values()]
        return max(0.05, min(due, default=self.heartbeat))

    async def _sync(self) -> None:
        """Register new, changed and due TDs; delete removed ones."""
        assert self._servient is not None and self._client is not None
        client = self._client
        for name in [name for name in self.registered if name not in self._servient.things]:
            await self._delete(client, self.registered[name][0])
            del self.registered[name]
            _log.info("directory %s: removed %r", self.url, name)
        now = time.monotonic()
        for name in list(self._servient.things):
            td = self._describe(name)
            if td is None:
                continue
            known = self.registered.get(name)
            if known is not None and known[1] == td and now < known[2] + self.heartbeat * 0.9:
                continue
            if known is not None and known[0] != td["id"]:
                await self._delete(client, known[0])
            await self._put(client, td)
            self.registered[name] = (td["id"], td, time.monotonic())
            if known is None:
                _log.info("directory %s: registered %r as %s", self.url, name, td["id"])

    def _describe(self, name: str) -> dict[str, Any] | None:
        """The TD as the HTTP binding serves it to consumers at ``public_host``."""
        endpoint = self._endpoint
        assert endpoint is not None
        describe = endpoint.describe
        assert describe is not None
        host = endpoint.host
        public = self.settings.public_host or (socket.gethostname() if host in _WILDCARDS else host)
        return describe(name, f"{endpoint.scheme}://{_bracket(public)}:{endpoint.port}/")

    async def _put(self, client: httpx.AsyncClient, td: dict[str, Any]) -> None:
        body = {**td, "registration": {"ttl": self.settings.ttl}}
        response = await client.put(
            f"{self.url}/things/{quote(td['id'], safe='')}",
            json=body,
            headers={"Content-Type": TD_JSON},
        )
        if response.status_code not in (200, 201, 204):
            raise _Refused(_explain(response))
        self.puts += 1

    async def _delete(self, client: httpx.AsyncClient, td_id: str) -> None:
        response = await client.delete(f"{self.url}/things/{quote(td_id, safe='')}")
        if response.status_code not in (200, 204, 404):
            raise _Refused(_explain(response))


def _bracket(host: str) -> str:
    """``host`` as the host part of a URL (IPv6 literals in brackets)."""
    return f"[{host}]" if ":" in host else host


def _explain(response: httpx.Response) -> str:
    """The directory's refusal in one line (its problem detail when it sends one)."""
    detail = response.text[:300]
    with contextlib.suppress(ValueError):
        problem = response.json()
        if isinstance(problem, dict):
            detail = str(problem.get("detail") or problem.get("title") or detail)
    return f"{response.status_code} {response.reason_phrase}: {detail}"
