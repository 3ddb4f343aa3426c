"""The retry schedule (backoff.py): pure, no AWS."""

from __future__ import annotations

import pytest

from handlers.domain_join import backoff
from handlers.domain_join import settings as S


def test_visibility_timeout_doubles_from_a_minute_and_is_capped_at_fifteen() -> None:
    # The documented schedule (docs/handler.md): 60 s, 120 s, 240 s, 480 s, then 900 s
    assert [backoff.visibility_timeout(n) for n in (1, 2, 3, 4, 5, 6, 40, 10_000)] == [
        60,
        120,
        240,
        480,
        900,
        900,
        900,
        900,
    ]
    assert backoff.visibility_timeout(0) == backoff.BASE_SECONDS  # a missing receive count counts as 1


def test_retry_delay_never_waits_past_the_deadline() -> None:
    # GIVEN a record on its 5th receive (900 s step) with 100 s left before its deadline
    # THEN it comes back right after the deadline, not 900 s later
    assert backoff.retry_delay(5, 100) == 101
    assert backoff.retry_delay(5, 5000) == backoff.visibility_timeout(5)
    assert backoff.retry_delay(1, -30) == 1  # deadline already over: back at once


@pytest.mark.parametrize("deadline", [60, 899, 900, 901, 3600, 7200, 10_000, 43_200, 86_400])
def test_receives_within_counts_the_receives_a_never_ready_record_gets(deadline: int) -> None:
    # GIVEN the receives a never-ready record gets before its deadline (the dead-lettering one last)
    receives = backoff.receives_within(deadline)
    # THEN the hidden time of all but the last receive reaches the deadline, and one receive fewer would not
    waited = sum(backoff.visibility_timeout(n) for n in range(1, receives))
    assert waited >= deadline
    assert waited - backoff.visibility_timeout(receives - 1) < deadline


def test_max_receive_count_outlasts_the_schedule_for_every_allowed_deadline() -> None:
    # GIVEN every deadline the settings table allows (in 60 s steps, both ends included)
    low = int(S.READINESS_DEADLINE_SECONDS.low or 0)
    high = int(S.READINESS_DEADLINE_SECONDS.high or 0)
    for deadline in [*range(low, high, 60), high]:
        # THEN SQS never dead-letters before the handler does, with two receives to spare
        assert backoff.max_receive_count(deadline) >= backoff.receives_within(deadline) + 2, deadline
        assert backoff.max_receive_count(deadline) >= backoff.MIN_RECEIVE_COUNT
