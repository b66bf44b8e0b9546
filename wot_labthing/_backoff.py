"""The one back-off rule: exponential growth to a ceiling, with jitter.

Used wherever something is retried or polled: the serial transport reopening a
vanished port, the client reconnecting a dropped event stream or long poll, and
the client polling an invocation record. Jitter spreads the retries of many
clients (or many ports) that failed at the same moment, so they do not all come
back in step.
"""

from __future__ import annotations

import random

__all__ = ["JITTER", "backoff_delay"]

#: The fraction of each delay that is taken off at random (0 to 20 %). Taking off,
#: never adding, keeps every delay within [first, maximum] bounds a caller relies on.
JITTER = 0.2
_MAX_EXPONENT = 64  # far past any ceiling; keeps factor ** attempt finite


def backoff_delay(
    attempt: int,
    *,
    first: float,
    maximum: float,
    factor: float = 2.0,
    jitter: float = JITTER,
) -> float:
    """Seconds to wait before retry ``attempt`` (0 for the first retry).

    ``first * factor ** attempt``, at most ``maximum``, less up to ``jitter`` of it
    at random. A ``first`` of 0 means no waiting at all.
    """
    if first <= 0 or maximum <= 0:
        return 0.0
    delay = min(first * factor ** min(max(attempt, 0), _MAX_EXPONENT), maximum)
    return delay * (1.0 - jitter * random.random())
