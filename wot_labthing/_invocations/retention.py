"""Which finished invocation records are kept, and which go first.

Finished records are kept ``action_retention`` seconds. Beyond
``action_max_records`` records, finished records a client has already read go
first, then the oldest finished ones (logged once, since a client may still
want them); pending and running ones are never evicted. Both are O(1) amortised
per invocation. The bookkeeping lives here, apart from the manager that starts
and ends runs, so the eviction order can be read (and tested) on its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from datetime import datetime
from typing import TYPE_CHECKING

from .._errors import NotFoundError
from .record import Invocation, _now

if TYPE_CHECKING:
    from .._servient import ServientSettings

__all__ = ["SWEEP_INTERVAL", "RecordStore"]

_log = logging.getLogger(__name__)

#: Seconds between retention sweeps at most (tests patch it).
SWEEP_INTERVAL = 5.0


class RecordStore:
    """Every invocation record of one servient, in invocation order, and their retention."""

    def __init__(self, settings: ServientSettings) -> None:
        self.settings = settings
        self.records: dict[str, Invocation] = {}
        #: Finished records in the order they finished (for retention).
        self.finished: OrderedDict[str, Invocation] = OrderedDict()
        #: Finished records a client has read, in the order they were read (evicted first).
        self.read: OrderedDict[str, None] = OrderedDict()
        self._warned_unread = False

    def get(self, invocation_id: str) -> Invocation:
        """The record ``invocation_id``, or :class:`NotFoundError` (unknown or expired)."""
        try:
            return self.records[invocation_id]
        except KeyError:
            raise NotFoundError(
                f"no invocation {invocation_id!r} (unknown or expired)",
                kind="invocation",
                name=invocation_id,
            ) from None

    def mark_read(self, record: Invocation) -> None:
        """Note that a client has seen ``record`` finished: it may be evicted first."""
        if record.is_finished and record.id not in self.read and record.id in self.finished:
            self.read[record.id] = None

    def list(
        self, *, thing: str | None = None, action: str | None = None, status: str | None = None
    ) -> list[Invocation]:
        """Invocations newest first, optionally filtered."""
        records = [
            record
            for record in self.records.values()
            if (thing is None or record.thing_name == thing)
            and (action is None or record.action == action)
            and (status is None or record.status == status)
        ]
        records.reverse()  # the dict keeps invocation order
        return records

    def drop(self, invocation_id: str) -> None:
        """Forget the record ``invocation_id`` (removed, expired or evicted)."""
        self.records.pop(invocation_id, None)
        self.finished.pop(invocation_id, None)
        self.read.pop(invocation_id, None)

    def expire(self, now: datetime | None = None) -> int:
        """Drop finished records older than the retention time; returns how many.

        Records finish in time order, so this pops from the front: O(expired).
        """
        now = now or _now()
        retention = self.settings.action_retention
        count = 0
        while self.finished:
            invocation_id, record = next(iter(self.finished.items()))
            ended = record.time_ended
            if ended is not None and (now - ended).total_seconds() < retention:
                break
            self.drop(invocation_id)
            count += 1
        return count

    def enforce_max_count(self) -> None:
        """Keep at most ``action_max_records``: read records go first, then the oldest."""
        limit = self.settings.action_max_records
        while len(self.records) > limit:
            if self.read:
                invocation_id, _ = self.read.popitem(last=False)
            elif self.finished:
                invocation_id = next(iter(self.finished))
                if not self._warned_unread:
                    self._warned_unread = True
                    _log.warning(
                        "more than action_max_records=%d invocation records: evicting "
                        "finished records no client has read yet (raise action_max_records "
                        "to keep them for action_retention)",
                        limit,
                    )
            else:
                return  # only pending and running records: never evicted
            self.drop(invocation_id)

    async def sweep_forever(self) -> None:
        """Expire old records every few seconds, until cancelled."""
        while True:
            await asyncio.sleep(min(SWEEP_INTERVAL, max(0.05, self.settings.action_retention / 4)))
            self.expire()
