"""wot-labthing: a W3C Web of Things servient for laboratory instruments.

``import wot_labthing as wl``; declare a :class:`Thing` subclass with
:func:`property`, :func:`action` and :func:`event`, and serve it with
:class:`HttpServer` or the ``wot-labthing serve`` command.
"""

from ._affordances import action, event
from ._affordances import thing_property as property
from ._consumed import (
    ActionHandle,
    ConsumedThing,
    Credentials,
    Subscription,
    SyncActionHandle,
    SyncConsumedThing,
    SyncSubscription,
    consume,
    consume_sync,
)
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
from ._discovery import DiscoveredThing, discover, discover_sync
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
from ._http import HttpServer
from ._invocations import Invocation
from ._schema import Constraints
from ._servient import Servient, ServientSettings
from ._td import validate_td
from ._thing import Thing
from ._transport import SerialTransport, find_serial_port

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
    "DiscoveredThing",
    "HttpServer",
    "InputError",
    "InstrumentError",
    "InstrumentTimeoutError",
    "Invocation",
    "InvocationCancelled",
    "NotAllowedError",
    "NotFiniteError",
    "NotFoundError",
    "RemoteError",
    "SerialTransport",
    "Servient",
    "ServientSettings",
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
    "discover_sync",
    "event",
    "find_serial_port",
    "property",
    "raise_if_cancelled",
    "update_task_data",
    "update_task_progress",
    "validate_td",
]
