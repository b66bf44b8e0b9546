"""Consuming Things: a client for any WoT servient, driven from Thing Descriptions alone.

``await consume(url)`` (or ``consume_sync(url)`` in scripts and notebooks)
returns a Thing whose properties, actions and events are used through the
forms of its TD. Modules: ``thing`` (the consumed Thing), ``forms`` (choosing
forms, defaults, URI templates), ``security`` (nosec/basic/bearer),
``transport`` (requests and error mapping), ``actions`` (runs and their
handles), ``observe`` (SSE and long polling), ``sync`` (the blocking facade),
``directory`` (what a URL or a name offers, and searching it:
:func:`search_things`).
"""

from .actions import ActionHandle
from .directory import FoundThing, search_things
from .observe import Subscription
from .security import Credentials
from .sync import (
    SyncActionHandle,
    SyncConsumedThing,
    SyncSubscription,
    consume_sync,
    search_things_sync,
)
from .thing import ConsumedThing, consume

__all__ = [
    "ActionHandle",
    "ConsumedThing",
    "Credentials",
    "FoundThing",
    "Subscription",
    "SyncActionHandle",
    "SyncConsumedThing",
    "SyncSubscription",
    "consume",
    "consume_sync",
    "search_things",
    "search_things_sync",
]
