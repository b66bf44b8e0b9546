"""wot-labthing: a W3C Web of Things servient for laboratory instruments.

``import wot_labthing as wl``; declare a :class:`Thing` subclass with
:func:`property`, :func:`action` and :func:`event`, and serve it with
:class:`HttpServer` or the ``wot-labthing serve`` command.

The core (Things, affordances, schemas, the servient) is imported at once; the HTTP
server, the client and discovery are imported on first use (PEP 562), so a driver
module that only declares a Thing does not pay for quart, httpx or zeroconf.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._affordances import action, event
from ._affordances import thing_property as property
from ._context import (
    abort_hook,
    append_task_data,
    cancellable_sleep,
    current_invocation,
    current_task,
    raise_if_cancelled,
    update_task_data,
    update_task_progress,
)
from ._errors import (
    ActionTimeoutError,
    BusyError,
    ConfigError,
    ConsumerError,
    DefinitionError,
    DisconnectedError,
    InputError,
    InstrumentError,
    InstrumentTimeoutError,
    InvocationCancelled,
    NotAllowedError,
    NotFiniteError,
    NotFoundError,
    RemoteError,
    TDError,
    WotLabthingError,
)
from ._invocations import Invocation
from ._schema import Constraints
from ._serial_thing import SerialThing
from ._servient import Servient, ServientSettings
from ._td import validate_td
from ._thing import Thing
from ._transport import SerialTransport, find_serial_port

if TYPE_CHECKING:  # the lazily loaded names, for type checkers and IDEs
    from ._consumed import (
        ActionHandle,
        ConsumedThing,
        Credentials,
        FoundThing,
        Subscription,
        SyncActionHandle,
        SyncConsumedThing,
        SyncSubscription,
        consume,
        consume_sync,
        search_things,
        search_things_sync,
    )
    from ._discovery import (
        DiscoveredDirectory,
        DiscoveredThing,
        MdnsAdvertising,
        discover,
        discover_directories,
        discover_directories_sync,
        discover_sync,
    )
    from ._http import HttpServer
    from ._line_simulator import LineSimulator, SimulatorEndpoint

#: Public name -> the private module that defines it, imported on first access.
_LAZY = {
    "ActionHandle": "._consumed",
    "ConsumedThing": "._consumed",
    "Credentials": "._consumed",
    "FoundThing": "._consumed",
    "Subscription": "._consumed",
    "SyncActionHandle": "._consumed",
    "SyncConsumedThing": "._consumed",
    "SyncSubscription": "._consumed",
    "consume": "._consumed",
    "consume_sync": "._consumed",
    "search_things": "._consumed",
    "search_things_sync": "._consumed",
    "DiscoveredDirectory": "._discovery",
    "DiscoveredThing": "._discovery",
    "MdnsAdvertising": "._discovery",
    "discover": "._discovery",
    "discover_directories": "._discovery",
    "discover_directories_sync": "._discovery",
    "discover_sync": "._discovery",
    "HttpServer": "._http",
    "LineSimulator": "._line_simulator",
    "SimulatorEndpoint": "._line_simulator",
}

__all__ = [
    "ActionHandle",
    "ActionTimeoutError",
    "BusyError",
    "ConfigError",
    "Constraints",
    "ConsumedThing",
    "ConsumerError",
    "Credentials",
    "DefinitionError",
    "DisconnectedError",
    "DiscoveredDirectory",
    "DiscoveredThing",
    "FoundThing",
    "HttpServer",
    "InputError",
    "InstrumentError",
    "InstrumentTimeoutError",
    "Invocation",
    "InvocationCancelled",
    "LineSimulator",
    "MdnsAdvertising",
    "NotAllowedError",
    "NotFiniteError",
    "NotFoundError",
    "RemoteError",
    "SerialThing",
    "SerialTransport",
    "Servient",
    "ServientSettings",
    "SimulatorEndpoint",
    "Subscription",
    "SyncActionHandle",
    "SyncConsumedThing",
    "SyncSubscription",
    "TDError",
    "Thing",
    "WotLabthingError",
    "abort_hook",
    "action",
    "append_task_data",
    "cancellable_sleep",
    "consume",
    "consume_sync",
    "current_invocation",
    "current_task",
    "discover",
    "discover_directories",
    "discover_directories_sync",
    "discover_sync",
    "event",
    "find_serial_port",
    "property",
    "raise_if_cancelled",
    "search_things",
    "search_things_sync",
    "update_task_data",
    "update_task_progress",
    "validate_td",
]


if not TYPE_CHECKING:  # hidden from type checkers: they would take any wl.<name> as Any

    def __getattr__(name: str) -> Any:
        """Import a lazily loaded public name on first access (PEP 562)."""
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value


def __dir__() -> list[str]:
    """The public API (loaded or not) and the module's own dunder names, not its imports."""
    return sorted(set(__all__) | {name for name in globals() if name.startswith("__")})
