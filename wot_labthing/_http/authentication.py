"""Who sent a request: ``basic``/``bearer`` credentials checked, cached and throttled.

The guard (``guard.py``) asks :class:`Authentication` for the principal of each
request that needs one and, when there is none, for the ``401`` with its
``WWW-Authenticate`` challenges. Checking a password hash (scrypt) is slow on
purpose, so it runs in threads, at most four at once, once per credential
however many requests present it together; a verified credential is cached
and repeated failures from one client are slowed down (``_security.py``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable

from .._security import Authenticator, FailureThrottle, Principal, SecurityConfig
from .asgi import Scope, Send, _client, _header, _problem

__all__ = ["REALM", "Authentication"]

REALM = "wot-labthing"


class Authentication:
    """Checks a request's ``Authorization`` against the configured users and tokens."""

    def __init__(self, config: SecurityConfig) -> None:
        self.config = config
        self.authenticator = Authenticator(config)
        self.throttle = FailureThrottle()
        # scrypt runs in threads; bound how many guesses hash at once
        self._verifying = asyncio.Semaphore(4)
        self._verifications: dict[tuple[str, str], asyncio.Future[Principal | None]] = {}

    async def authenticate(self, scope: Scope) -> tuple[Principal | None, str | None]:
        """The principal of the request's credentials; (None, reason) if missing or wrong."""
        header = _header(scope, b"authorization")
        if header is None:
            return None, None
        kind, _, credential = header.strip().partition(" ")
        kind = kind.lower()  # node-wot spells it "Bearer", others "bearer"
        credential = credential.strip()
        if kind not in self.config.schemes or not credential:
            return None, "invalid_request"
        principal = self.authenticator.cached(kind, credential)
        if principal is not None:
            self.throttle.succeeded(_client(scope))
            return principal, None
        verify: Callable[[], Principal | None]
        if kind == "basic":
            try:
                decoded = base64.b64decode(credential, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return await self._failed(scope)
            username, sep, password = decoded.partition(":")
            if not sep:
                return await self._failed(scope)

            def verify() -> Principal | None:
                return self.authenticator.verify_basic(username, password)
        else:

            def verify() -> Principal | None:
                return self.authenticator.verify_bearer(credential)

        # one scrypt per credential however many requests present it at once
        key = (kind, credential)
        task = self._verifications.get(key)
        if task is None:
            task = asyncio.ensure_future(self._verify(verify))
            self._verifications[key] = task
            task.add_done_callback(lambda _: self._verifications.pop(key, None))
        principal = await asyncio.shield(task)
        if principal is None:
            return await self._failed(scope)
        self.authenticator.remember(kind, credential, principal)
        self.throttle.succeeded(_client(scope))
        return principal, None

    async def _verify(self, verify: Callable[[], Principal | None]) -> Principal | None:
        async with self._verifying:
            return await asyncio.get_running_loop().run_in_executor(None, verify)

    async def _failed(self, scope: Scope) -> tuple[None, str]:
        delay = self.throttle.failed(_client(scope))
        if delay:
            await asyncio.sleep(delay)
        return None, "invalid_token"

    def unauthorized(self, scope: Scope, failure: str | None) -> Callable[[Send], Awaitable[None]]:
        challenges = []
        if "basic" in self.config.schemes:
            challenges.append((b"www-authenticate", f'Basic realm="{REALM}", charset="UTF-8"'))
        if "bearer" in self.config.schemes:
            extra = f', error="{failure}"' if failure else ""
            if failure == "invalid_token" and _authorization_kind(scope) != "bearer":
                extra = ""
            challenges.append((b"www-authenticate", f'Bearer realm="{REALM}"{extra}'))
        detail = (
            "the credentials were not accepted"
            if failure
            else f"this servient requires authentication ({' or '.join(self.config.schemes)})"
        )
        return _problem(
            401,
            "unauthorized",
            "Authentication required",
            detail,
            scope,
            [(name, value.encode()) for name, value in challenges],
        )


def _authorization_kind(scope: Scope) -> str:
    return (_header(scope, b"authorization") or "").strip().partition(" ")[0].lower()
