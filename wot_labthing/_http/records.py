"""Invocation records as the HTTP binding serves them: the core's record plus hrefs.

The core names a run by ``id`` only; this module adds ``href`` (the record's
URL) and ``links`` (``self``; ``events`` while updates are still to come;
``output`` once a completed run has one). Every URL comes from the named routes
(Quart's ``url_for``), so the path layout lives only in the route decorators.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from quart import url_for

from .._invocations import FINISHED, Invocation

__all__ = ["RunLinks", "record_json"]


@dataclass(frozen=True)
class RunLinks:
    """The URLs of one run, resolved once in a request context (streams reuse them)."""

    record: str
    events: str
    output: str
    output_type: str
    has_output: bool

    @classmethod
    def of(cls, invocation: Invocation) -> RunLinks:
        """The absolute URLs of ``invocation`` on the server the current request reached."""
        run = invocation.id
        return cls(
            record=url_for("actions.query", invocation_id=run, _external=True),
            events=url_for("observe.sse_invocation", invocation_id=run, _external=True),
            output=url_for("actions.output", invocation_id=run, _external=True),
            output_type=invocation.affordance.content_type,
            has_output=invocation.affordance.output_schema is not None,
        )

    def apply(self, record: dict[str, Any]) -> dict[str, Any]:
        """``record`` (the core's) with ``href`` and ``links`` for its current status."""
        links: list[dict[str, Any]] = [
            {"rel": "self", "href": self.record, "methods": ["GET", "DELETE"]}
        ]
        status = record.get("status")
        if status not in FINISHED:  # the run's live updates, while there are any to come
            links.append(
                {
                    "rel": "events",
                    "href": self.events,
                    "type": "text/event-stream",
                    "methods": ["GET"],
                }
            )
        if status == "completed" and self.has_output:
            links.append(
                {"rel": "output", "href": self.output, "type": self.output_type, "methods": ["GET"]}
            )
        return {**record, "href": self.record, "links": links}


def record_json(invocation: Invocation) -> dict[str, Any]:
    """The record of ``invocation`` as served over HTTP (call in a request context)."""
    return RunLinks.of(invocation).apply(invocation.as_record())
