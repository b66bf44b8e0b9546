"""Who may do what: users and tokens, roles, password hashing, a verified-credential cache.

Protocol-neutral: the HTTP binding (``_http/guard.py``) parses ``Authorization``
headers and asks :class:`Authenticator` for a :class:`Principal`; another binding
would do the same with its own framing.

Secrets are never stored in clear: a user's password and a bearer token are kept
as salted ``hashlib.scrypt`` hashes (``scrypt$N$r$p$salt$hash``, made by
``wot-labthing hash-password``). scrypt is deliberately slow (tens of ms), so a
verified credential is remembered in a small cache keyed by a keyed digest of
the presented header value: a secured request then costs a dictionary lookup,
not a hash (hololinked re-hashes bcrypt on every request and serves ~2 req/s).
The cache is bounded (LRU) and entries expire, so a revoked credential stops
working after at most ``cache_seconds``.

Repeated failures from one client are slowed down by :class:`FailureThrottle`,
whose memory is bounded by evicting the least recently failing clients.
"""

from __future__ import annotations

import base64
import enum
import functools
import hashlib
import hmac
import os
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ._errors import ConfigError

__all__ = [
    "Authenticator",
    "FailureThrottle",
    "Principal",
    "Role",
    "SecurityConfig",
    "hash_secret",
    "parse_security",
    "verify_secret",
]

_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1
_SCRYPT_MAX_N = 2**20  # refuse absurd cost parameters from a config file


class Role(enum.IntEnum):
    """What a principal may do; a higher role includes the lower ones."""

    #: read properties, observe, subscribe, read TDs and action records
    OBSERVER = 1
    #: also write properties, invoke and cancel actions
    OPERATOR = 2

    @classmethod
    def parse(cls, text: str, where: str) -> Role:
        """The role named ``text`` (``observer``/``operator``); ConfigError names ``where``."""
        try:
            return cls[text.upper()]
        except KeyError:
            raise ConfigError(
                f"{where}: unknown role {text!r} (use 'observer' or 'operator')"
            ) from None


def hash_secret(secret: str, *, salt: bytes | None = None) -> str:
    """A salted scrypt hash of ``secret`` in the ``scrypt$N$r$p$salt$hash`` text form."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        secret.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def _parse_hash(stored: str, where: str) -> tuple[int, int, int, bytes, bytes]:
    """Check a stored hash's form once, when the config is read."""
    parts = stored.split("$")
    try:
        if len(parts) != 6 or parts[0] != "scrypt":
            raise ValueError
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        digest = base64.b64decode(parts[5], validate=True)
        if not (1 < n <= _SCRYPT_MAX_N and n & (n - 1) == 0 and 0 < r <= 32 and 0 < p <= 16):
            raise ValueError
        if len(digest) < 16 or len(salt) < 8:
            raise ValueError
    except ValueError:
        raise ConfigError(
            f"{where}: not a password hash made by 'wot-labthing hash-password' "
            "(expected scrypt$N$r$p$salt$hash)"
        ) from None
    return n, r, p, salt, digest


def verify_secret(secret: str, stored: str) -> bool:
    """Whether ``secret`` matches the scrypt hash ``stored``; constant-time comparison.

    Slow on purpose (scrypt): call it off the event loop.
    """
    n, r, p, salt, digest = _parse_hash(stored, "hash")
    candidate = hashlib.scrypt(
        secret.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        dklen=len(digest),
        maxmem=256 * n * r + 1024 * 1024,
    )
    return hmac.compare_digest(candidate, digest)


@dataclass(frozen=True)
class Principal:
    """An authenticated user or token holder and its roles.

    ``role`` applies to every Thing; ``things`` overrides it per Thing name.
    ``role`` may be None for a principal that only has per-Thing roles.
    """

    name: str
    role: Role | None
    things: dict[str, Role] = field(default_factory=dict)

    def role_for(self, thing: str | None) -> Role | None:
        """The role on ``thing`` (None: on something not tied to one Thing)."""
        if thing is None:
            return self.max_role
        return self.things.get(thing, self.role)

    @property
    def max_role(self) -> Role | None:
        """The highest role this principal has anywhere."""
        roles = [role for role in (self.role, *self.things.values()) if role is not None]
        return max(roles) if roles else None


@dataclass(frozen=True)
class _Secret:
    principal: Principal
    stored: str


@dataclass
class SecurityConfig:
    """The ``[security]`` table: credentials, and how the HTTP binding guards itself.

    With neither users nor tokens the servient is ``nosec``.
    """

    users: dict[str, _Secret] = field(default_factory=dict)
    tokens: list[_Secret] = field(default_factory=list)
    #: Whether TDs and ``/.well-known/wot`` need no credentials (None: only when nosec).
    public_descriptions: bool | None = None
    #: Extra Host names (and ``host:port``) accepted besides the bound addresses.
    allowed_hosts: list[str] = field(default_factory=list)
    #: The URL clients use when the servient sits behind a reverse proxy.
    public_url: str | None = None
    #: Origins allowed to call the API from a browser (``*``: any, without credentials).
    cors_origins: list[str] = field(default_factory=list)
    certfile: str | None = None
    keyfile: str | None = None
    #: Seconds a verified credential is remembered.
    cache_seconds: float = 60.0
    #: Most concurrent SSE streams and long polls held by one client address.
    max_streams_per_client: int = 64

    @property
    def schemes(self) -> list[str]:
        """The schemes required: ``basic``, ``bearer``, both, or none (nosec)."""
        return [name for name, on in (("basic", self.users), ("bearer", self.tokens)) if on]

    @property
    def descriptions_public(self) -> bool:
        """Whether TDs can be read without credentials."""
        if self.public_descriptions is not None:
            return self.public_descriptions
        return not self.schemes


def _things_roles(value: Any, where: str) -> dict[str, Role]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: 'things' must be a table of Thing name = role")
    return {
        str(name): Role.parse(str(role), f"{where}.things.{name}") for name, role in value.items()
    }


def _principal(entry: dict[str, Any], where: str) -> Principal:
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: every user and token needs a 'name'")
    role_text = entry.get("role")
    role = Role.parse(str(role_text), where) if role_text is not None else None
    things = _things_roles(entry.get("things", {}), where)
    if role is None and not things:
        raise ConfigError(f"{where}: give a 'role' (observer or operator) or per-Thing 'things'")
    return Principal(name, role, things)


def _token_text(entry: dict[str, Any], where: str, directory: Path | None) -> str:
    """A token given in clear by environment variable or file, hashed at once."""
    if "token_env" in entry:
        value = os.environ.get(str(entry["token_env"]))
        if not value:
            raise ConfigError(f"{where}: environment variable {entry['token_env']} is not set")
        return value.strip()
    path = Path(str(entry["token_file"]))
    if directory is not None and not path.is_absolute():
        path = directory / path
    try:
        value = path.read_text("utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read token_file: {exc.strerror}") from None
    if not value:
        raise ConfigError(f"{where}: token_file is empty")
    return value


_KEYS = {
    "users",
    "tokens",
    "public_descriptions",
    "allowed_hosts",
    "public_url",
    "cors_origins",
    "certfile",
    "keyfile",
    "cache_seconds",
    "max_streams_per_client",
}


def parse_security(data: Any, *, directory: Path | None = None) -> SecurityConfig:
    """The ``[security]`` table of a config as a :class:`SecurityConfig`."""
    config = SecurityConfig()
    if data is None:
        return config
    if not isinstance(data, dict):
        raise ConfigError("[security] must be a table")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise ConfigError(f"[security]: unknown keys {', '.join(unknown)}")
    for index, entry in enumerate(data.get("users", [])):
        where = f"security.users[{index}]"
        principal = _principal(entry, where)
        stored = entry.get("password_hash")
        if not isinstance(stored, str):
            raise ConfigError(f"{where}: give 'password_hash' (wot-labthing hash-password)")
        _parse_hash(stored, where)
        if principal.name in config.users:
            raise ConfigError(f"{where}: user {principal.name!r} is listed twice")
        if ":" in principal.name:
            raise ConfigError(f"{where}: a basic user name cannot contain ':'")
        config.users[principal.name] = _Secret(principal, stored)
    for index, entry in enumerate(data.get("tokens", [])):
        where = f"security.tokens[{index}]"
        principal = _principal(entry, where)
        given = [key for key in ("token_hash", "token_env", "token_file") if key in entry]
        if len(given) != 1:
            raise ConfigError(f"{where}: give exactly one of token_hash, token_env, token_file")
        if given[0] == "token_hash":
            stored = str(entry["token_hash"])
            _parse_hash(stored, where)
        else:
            stored = hash_secret(_token_text(entry, where, directory))
        config.tokens.append(_Secret(principal, stored))
    if "public_descriptions" in data:
        config.public_descriptions = bool(data["public_descriptions"])
    for key in ("allowed_hosts", "cors_origins"):
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ConfigError(f"[security] {key} must be a list of strings")
        setattr(config, key, [item.strip().lower().rstrip("/") for item in value])
    if "*" in config.cors_origins and len(config.cors_origins) > 1:
        raise ConfigError("[security] cors_origins: '*' cannot be combined with named origins")
    for key in ("public_url", "certfile", "keyfile"):
        if key in data:
            value = data[key]
            path = Path(str(value))
            if key != "public_url" and directory is not None and not path.is_absolute():
                value = str(directory / path)
            setattr(config, key, str(value))
    if config.public_url is not None:
        parts = urlsplit(config.public_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("[security] public_url must be an http:// or https:// URL")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ConfigError(
                "[security] public_url must be the root of a host (no path): serving under a "
                "path prefix is not supported"
            )
    if (config.certfile is None) != (config.keyfile is None):
        raise ConfigError("[security] give both certfile and keyfile, or neither")
    if "cache_seconds" in data:
        config.cache_seconds = float(data["cache_seconds"])
    if "max_streams_per_client" in data:
        config.max_streams_per_client = int(data["max_streams_per_client"])
    return config


class Authenticator:
    """Checks credentials against a :class:`SecurityConfig`, remembering good ones.

    The cache key is an HMAC (per-process random key) of the presented
    credential, so the cache never holds a secret in clear. Only successes are
    cached: a failed guess always costs a full scrypt, which is the point.
    """

    def __init__(self, config: SecurityConfig, *, cache_size: int = 1024) -> None:
        self.config = config
        self._cache: OrderedDict[bytes, tuple[Principal, float]] = OrderedDict()
        self._cache_size = cache_size
        self._key = secrets.token_bytes(32)

    def _cache_key(self, kind: str, credential: str) -> bytes:
        return hmac.digest(self._key, f"{kind}\0{credential}".encode(), "sha256")

    def cached(self, kind: str, credential: str) -> Principal | None:
        """The principal of an already verified credential; cheap, safe on the loop."""
        key = self._cache_key(kind, credential)
        hit = self._cache.get(key)
        if hit is None:
            return None
        principal, expires = hit
        if time.monotonic() >= expires:
            del self._cache[key]
            return None
        self._cache.move_to_end(key)
        return principal

    def remember(self, kind: str, credential: str, principal: Principal) -> None:
        """Cache a verified credential (bounded, expiring)."""
        key = self._cache_key(kind, credential)
        self._cache[key] = (principal, time.monotonic() + self.config.cache_seconds)
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def verify_basic(self, username: str, password: str) -> Principal | None:
        """The user if ``password`` is right; slow (scrypt), run it in a thread.

        An unknown user still costs one scrypt, so timing does not tell which
        user names exist.
        """
        entry = self.config.users.get(username)
        stored = entry.stored if entry is not None else _dummy_hash()
        ok = verify_secret(password, stored)
        return entry.principal if ok and entry is not None else None

    def verify_bearer(self, token: str) -> Principal | None:
        """The token's principal if it is one of the configured tokens; slow, run in a thread."""
        found = None
        for entry in self.config.tokens:  # every entry is tried: no early exit on a match
            if verify_secret(token, entry.stored) and found is None:
                found = entry.principal
        return found


@functools.cache
def _dummy_hash() -> str:
    """A hash to spend the same time on when the user name is unknown."""
    return hash_secret("wot-labthing: no such user", salt=b"\0" * 16)


class FailureThrottle:
    """Slows down repeated authentication failures from one client, in bounded memory.

    After ``free`` failures within ``window`` seconds each further failure is
    answered after a delay that doubles up to ``max_delay``. Only ``max_clients``
    addresses are remembered; the least recently failing one is forgotten first.
    """

    def __init__(
        self,
        *,
        free: int = 3,
        window: float = 60.0,
        base_delay: float = 0.25,
        max_delay: float = 5.0,
        max_clients: int = 4096,
    ) -> None:
        self.free = free
        self.window = window
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_clients = max_clients
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._failures)

    def failed(self, client: str) -> float:
        """Record a failure of ``client``; returns the seconds to wait before answering."""
        now = time.monotonic()
        count, last = self._failures.pop(client, (0, now))
        if now - last > self.window:
            count = 0
        count += 1
        self._failures[client] = (count, now)
        while len(self._failures) > self.max_clients:
            self._failures.popitem(last=False)
        if count <= self.free:
            return 0.0
        return float(min(self.max_delay, self.base_delay * 2 ** (count - self.free - 1)))

    def succeeded(self, client: str) -> None:
        """A client that authenticated starts afresh."""
        self._failures.pop(client, None)
