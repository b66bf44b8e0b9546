"""The servient's tunables: one dataclass whose fields are the config's ``[servient]`` keys.

Kept apart from the servient so the config loader (``_config.py``), the
invocation manager and the HTTP binding can read the settings without the
servient's machinery, and so every tunable is found in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from .._schema import Constraints

__all__ = ["ServientSettings"]

_AT_LEAST_ONE = Constraints(minimum=1)
_NOT_NEGATIVE = Constraints(minimum=0)


@dataclass
class ServientSettings:
    """Tunables of a servient; every field can be set in the config's ``[servient]`` table.

    The config schema of each field is generated from its annotation (``_config.py``),
    so a new field is a new config key with no other table to edit.
    """

    #: Worker threads for sync property getters and setters, per Thing (one Thing's
    #: blocked instrument never delays another Thing's properties).
    property_workers: Annotated[int, _AT_LEAST_ONE] = 8
    #: Sync action runs with a thread of their own at once; past it a run is ``pending``.
    action_threads: Annotated[int, _AT_LEAST_ONE] = 2048
    #: Runs waiting (for a thread or an exclusive Thing) servient-wide; more get 503.
    action_max_pending: Annotated[int, _NOT_NEGATIVE] = 10_000
    #: Runs waiting on one Thing; more get 503.
    action_max_pending_per_thing: Annotated[int, _NOT_NEGATIVE] = 1000
    #: Log entries kept per run (the oldest are dropped, with a marker entry).
    action_log_lines: Annotated[int, _AT_LEAST_ONE] = 1000
    #: Seconds a POST on an asynchronous action waits for a quick result.
    action_wait: Annotated[float, _NOT_NEGATIVE] = 1.0
    #: Seconds finished invocation records are kept.
    action_retention: Annotated[float, _NOT_NEGATIVE] = 300.0
    #: Invocation records kept at most; past it finished records already read go first,
    #: then the oldest finished ones (pending and running ones always stay).
    action_max_records: Annotated[int, _AT_LEAST_ONE] = 20_000
    #: Seconds shutdown waits for cancelled actions to end, and for each Thing to close.
    shutdown_grace: Annotated[float, _NOT_NEGATIVE] = 5.0
    #: Largest request body accepted, in bytes.
    max_body_bytes: Annotated[int, _AT_LEAST_ONE] = 1024 * 1024
    #: Seconds a long-poll GET is held without a change before the client is told to poll
    #: again (under node-wot 0.9.2's one-hour fetch timeout, which would end its observation).
    longpoll_hold: Annotated[float, Constraints(exclusiveMinimum=0, maximum=3500)] = 3000.0
    #: Most concurrent observers (SSE and long-poll) before 503.
    max_subscribers: Annotated[int, _AT_LEAST_ONE] = 2000
    #: Open HTTP connections accepted at once; more are answered 503 and closed.
    max_connections: Annotated[int, _AT_LEAST_ONE] = 1024
    #: Open HTTP connections accepted at once from one client address (above
    #: ``[security] max_streams_per_client``: every held stream is a connection).
    max_connections_per_client: Annotated[int, _AT_LEAST_ONE] = 128
    #: Seconds a connection may stay idle, or take to send a request head (slowloris).
    idle_timeout: Annotated[float, Constraints(exclusive_minimum=0)] = 5.0
    #: Largest request head (request line and header fields), in bytes.
    max_header_bytes: Annotated[int, Constraints(minimum=1024)] = 16 * 1024
    #: Most header fields in one request.
    max_headers: Annotated[int, Constraints(minimum=16)] = 100
    #: Longest request target (path and query), in bytes.
    max_url_bytes: Annotated[int, Constraints(minimum=256)] = 4096
    #: Directory of persisted settings (None: the user state directory, see _state.py).
    state_dir: str | None = None
    #: Name of this servient's settings file in ``state_dir`` (``<state_name>.json``);
    #: ``serve`` uses the config file's name.
    state_name: Annotated[str, Constraints(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")] = "servient"
    #: Show exception details (tracebacks, device paths) to clients; for development only.
    debug: bool = False


def _configured_state_dir(settings: ServientSettings) -> Path | None:
    """The ``state_dir`` setting (issue #13) when this build has one, as a path."""
    configured = getattr(settings, "state_dir", None)
    return Path(configured).expanduser() if configured else None
