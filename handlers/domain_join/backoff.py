"""The retry schedule of the join queue: one definition for the handler, the hub and the tests.

A record that may succeed later (instance not ready, config missing, AWS throttled...) is failed back to
SQS with a visibility timeout of ``BASE_SECONDS * 2^(n-1)``, at most ``CAP_SECONDS``, where ``n`` is its
receive count, and never past the readiness deadline.  Once the deadline has passed the handler itself
dead-letters the record with a reason.  SQS's own redrive (``maxReceiveCount``) must therefore never come
first: ``max_receive_count(deadline)`` leaves ``RECEIVE_COUNT_MARGIN - 4`` receives to spare beyond what
the schedule needs (``receives_within``), for invocations that failed outright.

Pure functions; the hub module imports them at synth time (and writes the same rule as a Terraform
expression from ``CAP_SECONDS``, ``RECEIVE_COUNT_MARGIN`` and ``MIN_RECEIVE_COUNT`` in the plain module).

Public API (stable names)::

    BASE_SECONDS, CAP_SECONDS, MIN_RECEIVE_COUNT, RECEIVE_COUNT_MARGIN
    visibility_timeout(receive_count) -> int          the backoff step of the n-th receive
    retry_delay(receive_count, seconds_left) -> int   that step, clipped to the deadline (at least 1 s)
    receives_within(deadline_seconds) -> int          receives of a never-ready record, the last included
    max_receive_count(deadline_seconds) -> int        the join queue's maxReceiveCount for that deadline

Example::

    >>> [visibility_timeout(n) for n in (1, 2, 3, 4, 5, 6)]
    [60, 120, 240, 480, 900, 900]
    >>> receives_within(3600), max_receive_count(3600)
    (8, 10)
"""

from __future__ import annotations

import math
from typing import Final

BASE_SECONDS: Final = 60
CAP_SECONDS: Final = 900
# The smallest maxReceiveCount the queue gets, whatever the deadline.
MIN_RECEIVE_COUNT: Final = 10
# ceil(deadline / CAP_SECONDS) + 4 receives are what the schedule needs (its four short steps fill the first
# CAP_SECONDS), so a margin of 6 leaves two receives for invocations that failed outright.
RECEIVE_COUNT_MARGIN: Final = 6
_MAX_EXPONENT: Final = 10  # 60 * 2^10 is far past the cap already; keeps the arithmetic small


def visibility_timeout(receive_count: int) -> int:
    """Seconds a record stays hidden after its ``receive_count``-th receive failed: 60, 120, 240 ... 900."""
    exponent = min(max(receive_count, 1) - 1, _MAX_EXPONENT)
    return int(min(BASE_SECONDS * 2**exponent, CAP_SECONDS))


def retry_delay(receive_count: int, seconds_left: float) -> int:
    """``visibility_timeout(receive_count)``, but never past the deadline (``seconds_left`` from now).

    The record then comes back right when the deadline is over, and that receive dead-letters it.
    """
    return max(1, min(visibility_timeout(receive_count), int(seconds_left) + 1))


def receives_within(deadline_seconds: int) -> int:
    """How many times a record that is never ready is received, the last (dead-lettering) one included."""
    waited, receives = 0, 0
    while waited < deadline_seconds:
        receives += 1
        waited += visibility_timeout(receives)
    return receives + 1


def max_receive_count(deadline_seconds: int) -> int:
    """The join queue's maxReceiveCount: more receives than ``receives_within(deadline_seconds)``."""
    return max(MIN_RECEIVE_COUNT, math.ceil(deadline_seconds / CAP_SECONDS) + RECEIVE_COUNT_MARGIN)
