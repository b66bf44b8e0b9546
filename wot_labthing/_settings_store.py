"""Persisted settings: properties declared ``persist=True`` survive a restart.

One JSON file per servient (``<state_dir>/<name>.json``) holds, per Thing, the
last value written to each persisted property::

    {"version": 1, "things": {"stage": {"step_delay": 0.002}}}

Every write saves the whole file atomically (see :func:`atomic_write_json`), so
a servient killed at any moment leaves a file that loads. A file that is not
JSON or not of this shape is moved aside (``<name>.json.corrupt-<time>``) with a
warning and the defaults are used; a single value that no longer fits its
property's schema (limits changed since) is skipped with a warning.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator

from ._state import atomic_write_json

__all__ = ["FILE_SCHEMA", "SettingsStore"]

_log = logging.getLogger(__name__)

#: The shape of a settings file.
FILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["version", "things"],
    "properties": {
        "version": {"const": 1},
        "things": {"type": "object", "additionalProperties": {"type": "object"}},
    },
}
_FILE_VALIDATOR = Draft7Validator(FILE_SCHEMA)


class SettingsStore:
    """The settings file of one servient; thread-safe, every save is atomic."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._things: dict[str, dict[str, Any]] = {}

    def load(self) -> dict[str, dict[str, Any]]:
        """Read the file (blocking): per Thing, property name -> JSON value.

        A missing file is empty; a corrupt or schema-invalid one is moved aside with
        a warning and counts as empty, so the defaults are used.
        """
        with self._lock:
            self._things = self._read()
            return copy.deepcopy(self._things)

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            _log.warning("cannot read persisted settings %s (%s); using defaults", self.path, exc)
            return {}
        try:
            data = json.loads(raw)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            self._move_aside(f"it is not JSON ({exc})")
            return {}
        error = next(iter(_FILE_VALIDATOR.iter_errors(data)), None)
        if error is not None:
            self._move_aside(f"it is not a settings file ({error.message})")
            return {}
        things: dict[str, dict[str, Any]] = data["things"]
        return things

    def _move_aside(self, why: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        try:
            self.path.replace(aside)
        except OSError as exc:
            _log.warning(
                "persisted settings %s: %s, and it cannot be moved aside (%s); using defaults",
                self.path,
                why,
                exc,
            )
            return
        _log.warning(
            "persisted settings %s: %s; moved it to %s and using the defaults",
            self.path,
            why,
            aside,
        )

    def save(self, thing: str, name: str, value: Any) -> None:
        """Record ``value`` for ``thing.name`` and rewrite the file (blocking, atomic)."""
        with self._lock:
            self._things.setdefault(thing, {})[name] = value
            atomic_write_json(self.path, {"version": 1, "things": self._things})
