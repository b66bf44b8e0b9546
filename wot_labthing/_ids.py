"""Unique, stable TD ids: an installation namespace kept in the state directory.

An id must be stable across restarts (clients and directories remember it),
different on every installation (two labs never collide), different for every
servient on one host (a directory collecting many servients must not merge two
instruments), and must encode no device metadata (TD 1.1 privacy
considerations). So:

- the *installation namespace* is a random UUID written once to
  ``<state_dir>/installation-id`` (created atomically; never derived from the
  host name or a serial number);
- a *servient namespace* is ``uuid5(installation, "servient/<key>[#slot]")``.
  ``key`` names the servient: the CLI uses its config file's absolute path, so
  two configs on one host always differ. A servient also holds an exclusive lock
  on ``<state_dir>/servients/<hash of key>-<slot>.lock`` while it runs and takes
  the lowest free slot, so even the same config started twice at once (say on
  two ports) gets two namespaces; a lone servient always gets slot 0 back, so
  its ids stay the same across restarts;
- a Thing's id is ``urn:uuid:uuid5(servient namespace, "thing/<name>")`` unless
  the config pins ``id``; the servient's own directory TD uses ``"directory"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import threading
import uuid
from pathlib import Path

from ._errors import ConfigError
from ._state import resolve_state_dir

__all__ = ["ServientIds", "installation_namespace", "thing_urn"]

_log = logging.getLogger(__name__)

INSTALLATION_FILE = "installation-id"
LOCK_DIR = "servients"
#: Slots tried before giving up (that many servients with one key at once).
MAX_SLOTS = 256


def installation_namespace(state_dir: Path) -> uuid.UUID:
    """The installation's random namespace, created in ``state_dir`` on first use.

    Creation is atomic (write a temporary file, then hard-link it into place), so
    servients starting together agree on one namespace.

    Raises:
        ConfigError: the file exists but holds no UUID, or the directory is unusable.
    """
    path = state_dir / INSTALLATION_FILE
    try:
        return _read_namespace(path)
    except FileNotFoundError:
        pass
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        temporary = state_dir / f".{INSTALLATION_FILE}.{os.getpid()}.{uuid.uuid4().hex}"
        temporary.write_text(f"{uuid.uuid4()}\n", "ascii")
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another servient won the race; use its namespace
        finally:
            temporary.unlink()
    except OSError as exc:
        raise ConfigError(f"cannot create {path}: {exc.strerror or exc}") from None
    return _read_namespace(path)


def _read_namespace(path: Path) -> uuid.UUID:
    text = path.read_text("ascii", errors="replace").strip()
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ConfigError(
            f"{path} should hold one UUID (the installation namespace of TD ids), "
            f"not {text[:40]!r}; delete it to make a new one (every derived TD id changes)"
        ) from None


def thing_urn(namespace: uuid.UUID, name: str) -> str:
    """The ``urn:uuid`` of ``name`` in ``namespace``."""
    return f"urn:uuid:{uuid.uuid5(namespace, name)}"


class ServientIds:
    """The id namespace of one servient; :meth:`open` claims it, :meth:`close` frees it.

    Args:
        state_dir: where the installation namespace and the slot locks live
            (None: the user state directory, see ``_state.resolve_state_dir``).
        key: what tells this servient apart from others sharing the state
            directory (the CLI passes its config file's path).
        namespace: use this namespace and touch no files (tests, embedding).
    """

    def __init__(
        self, state_dir: Path | None = None, key: str = "", *, namespace: uuid.UUID | None = None
    ) -> None:
        self._state_dir = state_dir
        self.key = key
        self.slot: int | None = None
        self._namespace = namespace
        self._fixed = namespace is not None
        self._lock_fd: int | None = None
        self._mutex = threading.Lock()

    @property
    def state_dir(self) -> Path:
        """The state directory in use."""
        if self._state_dir is None:
            self._state_dir = resolve_state_dir(None)
        return self._state_dir

    def open(self) -> None:
        """Claim the lowest free slot for :attr:`key` and fix the namespace (blocking I/O).

        If the state directory cannot be used, a random namespace serves this run:
        the ids stay unique but change at the next start, and a warning says why.
        """
        with self._mutex:
            if self._fixed or self._lock_fd is not None:
                return
            try:
                installation = installation_namespace(self.state_dir)
                slot, fd = self._claim_slot()
            except (ConfigError, OSError) as exc:
                _log.warning("TD ids will change at the next start: %s", exc)
                self._namespace = uuid.uuid4()
                return
            self._lock_fd, self.slot = fd, slot
            self._namespace = _servient_namespace(installation, self.key, slot)

    def _claim_slot(self) -> tuple[int, int]:
        directory = self.state_dir / LOCK_DIR
        directory.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(self.key.encode("utf-8")).hexdigest()[:16]
        for slot in range(MAX_SLOTS):
            fd = os.open(directory / f"{digest}-{slot}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return slot, fd
        raise ConfigError(f"more than {MAX_SLOTS} servients with key {self.key!r} are running")

    def close(self) -> None:
        """Free the slot (idempotent); the namespace is kept for TDs built afterwards."""
        with self._mutex:
            fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    @property
    def namespace(self) -> uuid.UUID:
        """The namespace; before :meth:`open`, slot 0's (what a lone servient would get).

        Reading the installation file is blocking I/O, so on an event loop's thread
        an unopened instance uses a random namespace instead (until :meth:`open`,
        which a servient's start runs in a worker thread, fixes the real one).
        """
        if self._namespace is None:
            with self._mutex:
                if self._namespace is None:
                    if _on_event_loop():
                        return _UNOPENED
                    installation = installation_namespace(self.state_dir)
                    self._namespace = _servient_namespace(installation, self.key, 0)
        return self._namespace

    def thing_id(self, name: str) -> str:
        """The derived TD id of the Thing called ``name``."""
        return thing_urn(self.namespace, f"thing/{name}")

    def directory_id(self) -> str:
        """The TD id of the servient's own directory description."""
        return thing_urn(self.namespace, "directory")


#: The namespace of ids asked for on an event loop before the servient started.
_UNOPENED = uuid.uuid4()


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _servient_namespace(installation: uuid.UUID, key: str, slot: int) -> uuid.UUID:
    name = f"servient/{key}" if slot == 0 else f"servient/{key}#{slot}"
    return uuid.uuid5(installation, name)
