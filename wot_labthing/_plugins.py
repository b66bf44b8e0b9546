"""Drivers and simulators found by name: entry points and ``module:Class`` references.

A config's ``[[things]]`` ``class`` and ``[[simulators]]`` ``simulator``, and the
``td`` and ``simulate`` commands, name a class either as ``"module:Class"``
(importable from the config's directory, or the working directory on the
command line, so a lab keeps its own drivers beside its configs) or by the name
an installed package registers for it as an entry point, the packaging
convention pytest plug-ins use::

    [project.entry-points."wot_labthing.things"]
    heater = "acme_heater:Heater"

    [project.entry-points."wot_labthing.simulators"]
    heater = "acme_heater.simulator:HeaterSimulator"

The library knows no driver itself: the ``things`` package shipped beside it
registers its own this way.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from ._errors import ConfigError, WotLabthingError

__all__ = ["SIMULATORS_GROUP", "THINGS_GROUP", "Plugin", "installed", "load_class"]

#: Entry-point group of Thing classes (drivers).
THINGS_GROUP = "wot_labthing.things"
#: Entry-point group of :class:`~wot_labthing.LineSimulator` classes.
SIMULATORS_GROUP = "wot_labthing.simulators"

_KIND = {THINGS_GROUP: "driver", SIMULATORS_GROUP: "simulator"}

T = TypeVar("T")


@dataclass(frozen=True)
class Plugin:
    """One registered entry point: its name, its ``module:Class`` and who installed it."""

    group: str
    name: str
    target: str
    distribution: str

    def load(self) -> Any:
        """Import the class (errors as :class:`ConfigError`)."""
        return _import(self.target, directory=None)


def installed(group: str) -> list[Plugin]:
    """Every entry point of ``group`` in the installed distributions, sorted by name."""
    found: dict[tuple[str, str], Plugin] = {}
    for entry in metadata.entry_points(group=group):
        dist = entry.dist
        owner = f"{dist.name} {dist.version}" if dist is not None else "?"
        # An editable install can be seen twice on sys.path; one row per name and target.
        found.setdefault((entry.name, entry.value), Plugin(group, entry.name, entry.value, owner))
    return sorted(found.values(), key=lambda plugin: (plugin.name, plugin.target))


def load_class(reference: str, *, group: str, base: type[T], directory: Path | None) -> type[T]:
    """The class ``reference`` names: ``"module:Class"`` or an entry-point name of ``group``.

    Args:
        reference: what the user wrote.
        group: :data:`THINGS_GROUP` or :data:`SIMULATORS_GROUP`.
        base: the class it must derive from.
        directory: made importable first (a config's directory), for ``module:Class``.

    Raises:
        ConfigError: unknown name, import failure, or not a subclass of ``base``.
    """
    kind = _KIND.get(group, "plug-in")
    if ":" in reference:
        target = _import(reference, directory=directory)
        label = reference
    else:
        matches = [plugin for plugin in installed(group) if plugin.name == reference]
        if not matches:
            known = ", ".join(sorted({plugin.name for plugin in installed(group)})) or "none"
            raise ConfigError(
                f"no {kind} named {reference!r} is installed (installed: {known}); "
                "give module:Class or install the package that provides it"
            )
        if len({plugin.target for plugin in matches}) > 1:
            owners = "; ".join(f"{plugin.target} ({plugin.distribution})" for plugin in matches)
            raise ConfigError(
                f"{kind} name {reference!r} is registered more than once: {owners}; "
                "give module:Class instead"
            )
        target = matches[0].load()
        label = f"{reference} ({matches[0].target})"
    if not (isinstance(target, type) and issubclass(target, base)):
        raise ConfigError(
            f"{label} is not a {base.__module__.split('.')[0]}.{base.__name__} subclass"
        )
    return target


def _import(reference: str, *, directory: Path | None) -> Any:
    module_name, _, qualname = reference.partition(":")
    if directory is not None and str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import module {module_name!r}: {exc}") from None
    except WotLabthingError as exc:
        raise ConfigError(f"module {module_name!r} failed to load: {exc}") from None
    for part in qualname.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ConfigError(f"module {module_name!r} has no {qualname!r}") from None
    return target
