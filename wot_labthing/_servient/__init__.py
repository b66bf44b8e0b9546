"""The servient: the registry of exposed Things, their protocol-neutral API, and the lifecycle.

The package's modules, each with one job:

- ``settings.py``: :class:`ServientSettings`, the ``[servient]`` tunables;
- ``registry.py``: the exposed Things by name and the state the rest shares
  (event hub, invocation manager, property workers), lookups, change hooks;
- ``interactions.py``: every WoT operation, protocol-neutrally (what bindings call);
- ``lifecycle.py``: :class:`Servient`, the composition root: start and stop of
  Things, bindings, advertisers and registrars, persisted settings, polling, readiness.
"""

from __future__ import annotations

from .._affordances import NO_INPUT
from .lifecycle import Servient
from .settings import ServientSettings

__all__ = ["NO_INPUT", "Servient", "ServientSettings"]
