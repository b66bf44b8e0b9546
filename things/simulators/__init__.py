"""Wire-level instrument simulators: the real drivers run unchanged against them.

``wot-labthing simulate NAME`` serves one; a servient config can start them
itself (``[[simulators]]``). Simulators are found by name in :data:`SIMULATORS`.
"""

from __future__ import annotations

import importlib

from ._base import LineSimulator, SimulatorEndpoint

__all__ = ["SIMULATORS", "LineSimulator", "SimulatorEndpoint", "simulator_class"]

#: Simulator name → ``"module:Class"``; imported only when used.
SIMULATORS: dict[str, str] = {
    "sangaboard": "things.simulators.sangaboard:SangaboardSimulator",
    "34401a": "things.simulators.dmm34401a:Dmm34401aSimulator",
}


def simulator_class(name: str) -> type[LineSimulator]:
    """The simulator class registered as ``name``.

    Raises:
        KeyError: no simulator has that name (the message lists the known ones).
    """
    try:
        target = SIMULATORS[name]
    except KeyError:
        known = ", ".join(sorted(SIMULATORS))
        raise KeyError(f"unknown simulator {name!r}; known: {known}") from None
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and issubclass(cls, LineSimulator)):
        raise TypeError(f"{target} is not a LineSimulator")
    return cls
