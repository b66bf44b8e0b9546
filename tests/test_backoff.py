"""The one back-off rule: grows by its factor to the ceiling, jittered downwards only."""

from __future__ import annotations

import pytest

from wot_labthing._backoff import JITTER, backoff_delay


@pytest.mark.parametrize(
    ("attempt", "expected"), [(0, 0.1), (1, 0.2), (2, 0.4), (3, 0.8), (4, 1.0), (10_000, 1.0)]
)
def test_the_delay_doubles_up_to_the_ceiling_less_at_most_the_jitter(
    attempt: int, expected: float
) -> None:
    delays = [backoff_delay(attempt, first=0.1, maximum=1.0) for _ in range(200)]
    assert all(expected * (1 - JITTER) <= d <= expected for d in delays)
    assert len(set(delays)) > 1, "jittered: many clients do not retry in step"


def test_without_jitter_the_sequence_is_exact_and_the_factor_is_honoured() -> None:
    delays = [backoff_delay(n, first=0.05, maximum=1.0, factor=1.5, jitter=0) for n in range(3)]
    assert delays == pytest.approx([0.05, 0.075, 0.1125])


def test_a_zero_first_delay_means_no_waiting() -> None:
    assert backoff_delay(5, first=0, maximum=10) == 0.0
