"""The ledger's claim state machine, declared once.

A claim (JOINING or REMOVING) is written before any command is sent, with a condition on the record it
replaces; ``TRANSITIONS`` says, for each kind of claim, from which records it may be taken.  The adapter
derives the DynamoDB ``ConditionExpression`` of every claim from this table
(``adapter.ledger.claim_condition``), and ``allows`` evaluates the same table in Python (for unit tests
and for reasoning), so the two cannot drift apart.

Pure data and functions (no boto3).

Public API (stable names)::

    FREE, ALWAYS, SAME_COMMAND      the guards a source state may carry
    Source                          one allowed source: a status (None: no record) and its guard
    ClaimRule                       the sources of one kind of claim, and whether the account must match
    TRANSITIONS                     Mapping[ClaimKind, ClaimRule]; ClaimKind = (claim status, resend?)
    rule_for(entry, resend_of)      the rule a claim entry is written under
    allows(rule, current, ...)      whether a record (or none) may be replaced by the claim

Example::

    >>> rule = TRANSITIONS[(JOINING, False)]
    >>> [s.status for s in rule.sources]
    [None, 'JOIN_FAILED', 'JOINING']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from .model import JOIN_FAILED, JOIN_SENT, JOINING, REMOVE_FAILED, REMOVE_SENT, REMOVING, LedgerEntry

ALWAYS: Final = "always"
# The record's claim is over: its lease has expired, or it was made by an earlier receive of the message
# that claims now (whose invocation has ended).
FREE: Final = "free"
# The record still holds the very command the claim sends again (a resend of a failed command).
SAME_COMMAND: Final = "same-command"

ClaimKind = tuple[str, bool]  # (the claim's status, whether it sends a failed command again)


@dataclass(frozen=True, slots=True)
class Source:
    """A record a claim may replace: ``status`` (``None``: no record at all) under ``guard``."""

    status: str | None
    guard: str = ALWAYS


@dataclass(frozen=True, slots=True)
class ClaimRule:
    """The records one kind of claim may replace.

    Parameters:
        sources: the allowed records (any one of them).
        same_account: the record must belong to the claim's account (a removal never acts on a record
            another account's event cannot own).
        command_field: for resends, the ``LedgerEntry`` field that holds the command sent last (the ledger
            adapter maps it to its attribute).
    """

    sources: tuple[Source, ...]
    same_account: bool
    command_field: str = ""


TRANSITIONS: Final[Mapping[ClaimKind, ClaimRule]] = MappingProxyType(
    {
        # A first join: no record yet, a join given up (a restart joins afresh), or a join claim that
        # is over (its container died).
        (JOINING, False): ClaimRule(
            (Source(None), Source(JOIN_FAILED), Source(JOINING, FREE)), same_account=False
        ),
        # A removal: a joined record, a join given up, a removal given up (re-queued by an operator or the
        # reconciler), or a join/removal claim that is over.
        (REMOVING, False): ClaimRule(
            (
                Source(JOIN_SENT),
                Source(JOIN_FAILED),
                Source(REMOVE_FAILED),
                Source(JOINING, FREE),
                Source(REMOVING, FREE),
            ),
            same_account=True,
        ),
        # A failed join sent again: the record still holds that join, or its resend claim is over.
        (JOINING, True): ClaimRule(
            (Source(JOIN_SENT, SAME_COMMAND), Source(JOINING, FREE)),
            same_account=True,
            command_field="join_command_id",
        ),
        # A failed remove sent again: likewise.
        (REMOVING, True): ClaimRule(
            (Source(REMOVE_SENT, SAME_COMMAND), Source(REMOVING, FREE)),
            same_account=True,
            command_field="remove_command_id",
        ),
    }
)


def rule_for(entry: LedgerEntry, resend_of: str) -> ClaimRule:
    """The rule of the claim ``entry`` (JOINING or REMOVING); ``resend_of``: the command sent again."""
    rule = TRANSITIONS.get((entry.status, bool(resend_of)))
    if rule is None:
        raise ValueError(f"{entry.status} is not a claim")
    return rule


def allows(
    rule: ClaimRule, claim: LedgerEntry, current: LedgerEntry | None, now: int, resend_of: str = ""
) -> bool:
    """Whether ``claim`` may replace ``current`` (``None``: no record) at ``now``, under ``rule``."""
    if current is None:
        return any(s.status is None for s in rule.sources)
    if rule.same_account and current.account != claim.account:
        return False
    for source in rule.sources:
        if source.status is None or source.status != current.status:
            continue
        if source.guard == ALWAYS:
            return True
        if source.guard == FREE and _free(claim, current, now):
            return True
        if source.guard == SAME_COMMAND and _command_of(rule, current) == resend_of:
            return True
    return False


def _free(claim: LedgerEntry, current: LedgerEntry, now: int) -> bool:
    lease_over = current.lease_expires_at <= now  # 0 (no lease attribute) is over
    earlier_receive = bool(claim.claimed_by) and (
        current.claimed_by == claim.claimed_by and current.claim_receive_count < claim.claim_receive_count
    )
    return lease_over or earlier_receive


def _command_of(rule: ClaimRule, entry: LedgerEntry) -> str:
    return str(getattr(entry, rule.command_field))
