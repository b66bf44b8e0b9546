"""wot-labthing: a W3C Web of Things servient for laboratory instruments.

``import wot_labthing as wl``; declare a :class:`Thing` subclass with
:func:`property`, :func:`action` and :func:`event`, and serve it with
:class:`HttpServer` or the ``wot-labthing serve`` command.
"""

from ._affordances import action, event
from ._affordances import thing_property as property
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
from ._schema import Constraints
from ._servient import Servient, ServientSettings
from ._td import validate_td
from ._thing import Thing

__all__ = [
    "ActionTimeoutError",
    "BusyError",
    "ConfigError",
    "Constraints",
    "ConsumerError",
    "DefinitionError",
    "DisconnectedError",
    "HttpServer",
    "InputError",
    "InstrumentError",
    "InstrumentTimeoutError",
    "InvocationCancelled",
    "NotAllowedError",
    "NotFiniteError",
    "NotFoundError",
    "RemoteError",
    "Servient",
    "ServientSettings",
    "TDError",
    "Thing",
    "WotLabthingError",
    "action",
    "event",
    "property",
    "validate_td",
]
