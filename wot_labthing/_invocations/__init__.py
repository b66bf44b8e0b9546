"""Action invocations as tracked tasks: records, threads, retention and the manager.

The package's modules, each with one job:

- ``record.py``: :class:`Invocation`, one run's state and record, the deltas it
  publishes and what a finished one keeps;
- ``threads.py``: the ``action_threads`` slots, the idle-thread pool, and the
  runner that hands a sync run's outcome back to the loop;
- ``retention.py``: which finished records are kept, and which are evicted first;
- ``manager.py``: :class:`InvocationManager`, which starts, tracks, cancels and
  shuts down runs (the servient drives it; bindings never do).
"""

from __future__ import annotations

from .manager import InvocationManager
from .record import FINISHED, Invocation

__all__ = ["FINISHED", "Invocation", "InvocationManager"]
