"""Failed Run Command invocations: which joins and removes to send again, and which to give up.

SSM reports a failed (timed out, cancelled) invocation of DomainJoin-Join on the joining instance, and of
DomainJoin-Remove on the tools host.  A failure that matches what the ledger last sent is sent again, as
a new claim that names the failed command, until ``max_attempts`` commands have failed; then the record
becomes JOIN_FAILED / REMOVE_FAILED.  A failure the ledger has moved past is stale.

Pure: the orchestrator reads the ledger and command items, these functions decide, and it then claims,
sends and writes.  A remove's failure names only the tools host, so it is split into one *piece* per
computer of the command (``piece``), each keyed (instance id, the failure's ``state``).

Public API (stable names)::

    Resend                          the failed command a claim sends again, and the attempt it will be
    resend_for(failure, entry, ...) that Resend, or None when the ledger has moved past the failure
    ResendDecision                  what a batch's failures call for
    decide_failed_joins(...)        for DomainJoin-Join failures
    decide_failed_removes(...)      for DomainJoin-Remove failures (with their command items)
    piece(failure, instance_id, entry)   a failure as a change of one instance
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .contract import JOIN_DOCUMENT
from .decisions import (
    JOIN_FAILED_OUTCOME,
    REMOVE_FAILED_OUTCOME,
    STALE_COMMAND_STATUS,
    ChangeKey,
    Outcome,
    Settled,
    key_of,
)
from .events import CommandStatusChange, InstanceStateChange, StateChange
from .model import (
    JOIN_FAILED,
    JOIN_SENT,
    JOINING,
    REMOVE_FAILED,
    REMOVE_SENT,
    REMOVING,
    CommandRecord,
    LedgerEntry,
)


@dataclass(frozen=True, slots=True)
class Resend:
    """A claim that sends ``command_id`` again; it will be attempt number ``attempts``."""

    command_id: str
    attempts: int


def resend_for(
    failure: CommandStatusChange, entry: LedgerEntry | None, sent: str, claim: str
) -> Resend | None:
    """The resend a failure calls for, or None when the ledger has moved past the failed command.

    ``sent``/``claim``: JOIN_SENT/JOINING for a join, REMOVE_SENT/REMOVING for a remove.  A join's failure
    comes from the instance's own account; a remove's from the hub (the tools host).  A claim of this
    message's earlier receive is a resend under way whose final write failed: carry on.
    """
    if entry is None or (claim == JOINING and entry.account != failure.account):
        return None
    if entry.status == claim and entry.claimed_by_earlier_receive(failure.message_id, failure.receive_count):
        return Resend(failure.command_id, entry.attempts)
    current = entry.join_command_id if claim == JOINING else entry.remove_command_id
    if entry.status == sent and current == failure.command_id:
        return Resend(failure.command_id, max(entry.attempts, 1) + 1)
    return None


def piece(failure: CommandStatusChange, instance_id: str, entry: LedgerEntry | None) -> InstanceStateChange:
    """The failure as a change of one instance, keyed (instance id, the failure's "state")."""
    return InstanceStateChange(
        account=entry.account if entry else failure.account,
        region=entry.region if entry else failure.region,
        instance_id=instance_id,
        state=failure.state,
        event_time=failure.event_time,
        event_id=failure.event_id,
        message_id=failure.message_id,
        receive_count=failure.receive_count,
    )


def stale(failure: CommandStatusChange, entry: LedgerEntry | None) -> Outcome:
    if entry is None:
        return Outcome(STALE_COMMAND_STATUS, detail=f"nothing recorded for command {failure.command_id}")
    current = entry.join_command_id if failure.document_name == JOIN_DOCUMENT else entry.remove_command_id
    return Outcome(STALE_COMMAND_STATUS, detail=f"ledger is {entry.status}, command {current or '-'}")


def given_up(code: str, failure: CommandStatusChange, entry: LedgerEntry) -> Outcome:
    detail = f"{failure.document_name} {failure.status} after {max(entry.attempts, 1)} attempts"
    return Outcome(code, detail=detail)


@dataclass(frozen=True, slots=True)
class ResendDecision:
    """What a batch's failures of one document call for.

    Parameters:
        to_send: the joins (removals) to send again, as changes of one instance each.
        resends: instance id -> the Resend its claim makes.
        settled: the failures (pieces) settled now, with their outcome: stale, or given up.
        given_up: the records to write as JOIN_FAILED / REMOVE_FAILED, with their failure (piece).
        parts: a remove failure's key -> the keys of its pieces (empty for joins).
    """

    to_send: tuple[InstanceStateChange, ...] = ()
    resends: Mapping[str, Resend] = field(default_factory=dict)
    settled: tuple[Settled, ...] = ()
    given_up: tuple[tuple[StateChange, LedgerEntry], ...] = ()
    parts: Mapping[ChangeKey, tuple[ChangeKey, ...]] = field(default_factory=dict)


def decide_failed_joins(
    failures: Sequence[CommandStatusChange], ledger: Mapping[str, LedgerEntry], max_attempts: int, now: int
) -> ResendDecision:
    """Joins to send again (as running events keyed like their failure events); gives up the rest."""
    to_send: list[InstanceStateChange] = []
    resends: dict[str, Resend] = {}
    settled: list[Settled] = []
    failed: list[tuple[StateChange, LedgerEntry]] = []
    for failure in failures:
        entry = ledger.get(failure.instance_id)
        resend = resend_for(failure, entry, JOIN_SENT, JOINING)
        if entry is None or resend is None or failure.instance_id in resends:  # one claim per record
            settled.append((failure, stale(failure, entry)))
        elif resend.attempts > max_attempts:
            failed.append((failure, entry.settled(JOIN_FAILED, now)))
            settled.append((failure, given_up(JOIN_FAILED_OUTCOME, failure, entry)))
        else:
            to_send.append(piece(failure, failure.instance_id, entry))
            resends[failure.instance_id] = resend
    return ResendDecision(tuple(to_send), resends, tuple(settled), tuple(failed))


def decide_failed_removes(
    failures: Sequence[tuple[CommandStatusChange, CommandRecord]],
    ledger: Mapping[str, LedgerEntry],
    max_attempts: int,
    now: int,
) -> ResendDecision:
    """Removals to send again, one piece per computer of each failed command; gives up the rest."""
    to_send: list[InstanceStateChange] = []
    resends: dict[str, Resend] = {}
    settled: list[Settled] = []
    failed: list[tuple[StateChange, LedgerEntry]] = []
    parts: dict[ChangeKey, tuple[ChangeKey, ...]] = {}
    for failure, record in failures:
        pieces: list[ChangeKey] = []
        for instance_id in record.instance_ids:
            entry = ledger.get(instance_id)
            one = piece(failure, instance_id, entry)
            pieces.append(key_of(one))
            resend = resend_for(failure, entry, REMOVE_SENT, REMOVING)
            if entry is None or resend is None or instance_id in resends:  # one claim per record
                settled.append((one, stale(failure, entry)))
            elif resend.attempts > max_attempts:
                failed.append((one, entry.settled(REMOVE_FAILED, now)))
                settled.append((one, given_up(REMOVE_FAILED_OUTCOME, failure, entry)))
            else:
                to_send.append(one)
                resends[instance_id] = resend
        parts[key_of(failure)] = tuple(pieces)
    return ResendDecision(tuple(to_send), resends, tuple(settled), tuple(failed), parts)
