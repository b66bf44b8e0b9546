"""One table per concept: each exception class carries its problem slug, title and status."""

from __future__ import annotations

import asyncio

import pytest

import wot_labthing as wl
from wot_labthing._problems import http_status, problem_for, problem_type


@pytest.mark.parametrize(
    ("error", "slug", "status"),
    [
        (wl.InputError("bad", pointer="/x"), "invalid-input", 400),
        (wl.NotFoundError("gone"), "not-found", 404),
        (wl.NotAllowedError("no"), "not-allowed", 405),
        (wl.BusyError("busy"), "busy", 503),
        (wl.DisconnectedError("unplugged"), "disconnected", 503),
        (wl.InstrumentTimeoutError("slow"), "instrument-timeout", 504),
        (wl.InstrumentError("odd"), "instrument-error", 502),
        (wl.ActionTimeoutError("late"), "action-timeout", 504),
        (wl.NotFiniteError("nan"), "not-finite", 500),
        (wl.InvocationCancelled("stop"), "cancelled", 409),
        (asyncio.CancelledError(), "cancelled", 409),
        (wl.ConfigError("wrong"), "internal-error", 500),
        (RuntimeError("boom"), "internal-error", 500),
    ],
)
def test_problem_and_status_come_from_the_class(
    error: BaseException, slug: str, status: int
) -> None:
    problem = problem_for(error)
    assert problem["type"] == problem_type(slug)
    assert http_status(error) == status
    cls = wl.InvocationCancelled if isinstance(error, asyncio.CancelledError) else type(error)
    if hasattr(cls, "problem_slug"):
        assert (cls.problem_slug, cls.problem_title, cls.http_status) == (  # type: ignore[attr-defined]
            slug,
            problem["title"],
            status,
        )
    assert ("exception" in problem) == (slug == "internal-error")


def test_a_subclass_without_its_own_entry_inherits_its_parent_s() -> None:
    class Overheated(wl.InstrumentError):
        """A driver's own error."""

    assert problem_for(Overheated("hot"))["type"] == problem_type("instrument-error")
    assert http_status(Overheated("hot")) == 502
