"""``ec2-domain-join retry INSTANCE_ID``: put a failed record back on the join queue.

A ``JOIN_FAILED`` record gets a synthetic ``running`` event, a ``REMOVE_FAILED`` record a synthetic
``terminated`` event, built by the handler's own builder (``events.instance_state_event``) and sent to
the hub's join queue without delivery delay, so the record takes the normal path again (claims, readiness,
prestage and join; or the stamp-checked removal).  Every other state is refused with its reason.

Idempotent: before sending, the record is stamped ``retriedAt`` with a condition (still the same status
and ``updatedAt``, and not re-queued within ``REQUEUE_WINDOW_SECONDS``).  Run twice, the second run finds
the stamp and sends nothing; the handler's next claim of the record drops the stamp, so a join that
fails again can be retried again.  ``--force`` sends even while a stamp is fresh.  If the event cannot be
sent, the stamp is taken back.

Exit: 0 re-queued (or already re-queued); 1 refused (the state says why); 4 no ledger record.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from typing import Final, Literal

from handlers.domain_join import events, settings
from handlers.domain_join.errors import DomainJoinError
from handlers.domain_join.model import JOIN_FAILED, JOIN_SENT, JOINING, REMOVE_FAILED, REMOVE_SENT, REMOVING

from .aws import LedgerView, OperatorAws
from .output import EXIT_FAILED, EXIT_NOT_FOUND, Failed, ago, out, when

# A queued retry is picked up (the handler's claim drops the stamp) or dead-lettered within the handler's
# readiness deadline: until then a second retry would only send a duplicate.
REQUEUE_WINDOW_SECONDS: Final = int(settings.READINESS_DEADLINE_SECONDS.default or 3600)
EVENT_FOR: Final = {JOIN_FAILED: events.RUNNING, REMOVE_FAILED: events.TERMINATED}
_REFUSALS: Final = {
    JOINING: "a join holds the ledger claim: the handler is joining it now",
    JOIN_SENT: "joined: the join command was sent and did not fail",
    REMOVING: "a removal holds the ledger claim: the handler is removing it now",
    REMOVE_SENT: "removed: the remove command was sent and did not fail",
}
_ATTEMPTS: Final = 2  # a record that changes between our read and our stamp is read (and decided) again


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """``requeue`` (send ``state``), ``queued`` (a fresh retry is on its way: send nothing) or ``refused``."""

    kind: Literal["requeue", "queued", "refused"]
    reason: str
    state: str = ""


def decide_retry(view: LedgerView, now: int, force: bool = False) -> RetryDecision:
    """What ``retry`` does with this record at ``now``."""
    entry = view.entry
    state = EVENT_FOR.get(entry.status)
    if state is None:
        reason = _REFUSALS.get(entry.status, f"{entry.status or 'no status'}: not a failed record")
        return RetryDecision("refused", f"{entry.instance_id} is {entry.status}: {reason}")
    if view.retried_at and now - view.retried_at < REQUEUE_WINDOW_SECONDS and not force:
        return RetryDecision(
            "queued",
            f"{entry.instance_id} was re-queued {ago(now - view.retried_at)} and the handler has not taken "
            "it up yet: nothing sent (--force sends again)",
        )
    return RetryDecision("requeue", f"{entry.instance_id} is {entry.status}", state)


def event_body(view: LedgerView, state: str, now: int) -> str:
    """The synthetic event's queue body: the handler's own event builder, serialized."""
    entry = view.entry
    event = events.instance_state_event(
        entry.account,
        entry.region,
        entry.instance_id,
        state,
        event_id=f"retry-{entry.instance_id}-{now}",
        time=events.event_time(now),
    )
    return json.dumps(event, sort_keys=True)


def run(aws: OperatorAws, instance_id: str, force: bool) -> None:
    for _ in range(_ATTEMPTS):
        now = int(time.time())
        view = aws.ledger_record(instance_id)
        if view is None:
            raise Failed([f"no ledger record for {instance_id} in {aws.hub.ledger_table}"], EXIT_NOT_FOUND)
        decision = decide_retry(view, now, force)
        if decision.kind == "refused":
            raise Failed(
                [f"{decision.reason}; retry re-queues only {JOIN_FAILED} and {REMOVE_FAILED} records"],
                EXIT_FAILED,
            )
        if decision.kind == "queued":
            out.print(f"already re-queued: {decision.reason}", markup=False)
            return
        if aws.mark_retried(view.entry, now, None if force else now - REQUEUE_WINDOW_SECONDS):
            _send(aws, view, decision.state, now)
            return
    raise Failed([f"the ledger record of {instance_id} keeps changing: nothing sent, try again"], EXIT_FAILED)


def _send(aws: OperatorAws, view: LedgerView, state: str, now: int) -> None:
    try:
        message_id = aws.send_to_join_queue(event_body(view, state, now))
    except (DomainJoinError, Failed):
        # If even that fails, the stamp expires after REQUEUE_WINDOW_SECONDS; --force overrides it.
        with contextlib.suppress(DomainJoinError):
            aws.unmark_retried(view.entry.instance_id, now)
        raise
    entry = view.entry
    out.print(
        f"re-queued {entry.instance_id} ({entry.status} since {when(entry.updated_at)}): a synthetic "
        f"{state} event on {aws.hub.join_queue_name}, message {message_id}",
        markup=False,
    )
