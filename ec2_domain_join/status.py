"""``ec2-domain-join status INSTANCE_ID``: the ledger record of one instance and its last commands.

The record comes from the hub's ledger (operator's credentials, hub Region).  Its commands:

* ``prestage`` and ``remove`` ran on the AD tools host: hub account and Region (``ssm:ListCommands``);
* ``join`` ran on the instance, in its account and Region (``ssm:GetCommandInvocation``): with the
  operator's credentials when they are of that account; else through ``--spoke-role`` (a role name in
  that account, or a role ARN, that the operator may assume; assumed as the handler assumes spokes).
  Without either, the join command's status is shown as not checked, with the reason.

A lookup that fails (access denied, throttled) is shown in its row, the others are still shown, and
the command exits 3 after printing everything.

Exit: 0 shown; 3 a lookup failed; 4 no ledger record (or one of another account/Region than asked).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from rich.table import Table

from handlers.domain_join import arns
from handlers.domain_join.errors import DomainJoinError
from handlers.domain_join.model import CLAIMS, LedgerEntry

from .aws import CommandStatus, LedgerView, OperatorAws
from .errors import describe
from .output import EXIT_AWS, EXIT_NOT_FOUND, Failed, ago, out, when

NOT_CHECKED: Final = "not checked"


@dataclass(frozen=True, slots=True)
class JoinLookup:
    """How the join command's status is read: ``role_arn`` ("" : the operator's own credentials), or
    ``skip`` (the reason it is not read)."""

    role_arn: str = ""
    skip: str = ""


def location_problem(entry: LedgerEntry, account: str | None, region: str | None) -> str | None:
    """Why the record is not the one asked for (``--account``/``--region``), or None."""
    if account and entry.account != account:
        return f"the ledger record of {entry.instance_id} is of account {entry.account}, not {account}"
    if region and entry.region != region:
        return f"the ledger record of {entry.instance_id} is in {entry.region}, not {region}"
    return None


def join_lookup(entry: LedgerEntry, caller_account: str, spoke_role: str, partition: str) -> JoinLookup:
    """Decide where the join command is read: a given role, the operator's own account, or not at all."""
    if spoke_role:
        role_arn = (
            spoke_role
            if spoke_role.startswith("arn:")
            else arns.role_arn(partition, entry.account, spoke_role)
        )
        return JoinLookup(role_arn=role_arn)
    if caller_account == entry.account:
        return JoinLookup()
    return JoinLookup(
        skip=f"{NOT_CHECKED}: it ran in account {entry.account}, the credentials are of {caller_account} "
        "(give --spoke-role, or run with credentials of that account)"
    )


def run(aws: OperatorAws, instance_id: str, account: str | None, region: str | None, spoke_role: str) -> None:
    view = aws.ledger_record(instance_id)
    if view is None:
        raise Failed(
            [
                f"no ledger record for {instance_id} in {aws.hub.ledger_table} ({aws.hub.region}): the hub "
                "has never joined it (not running since enrolment, opted out, not yet processed, or "
                "another hub)"
            ],
            EXIT_NOT_FOUND,
        )
    problem = location_problem(view.entry, account, region)
    if problem is not None:
        raise Failed([problem], EXIT_NOT_FOUND)
    now = time.time()
    _print_record(view, now)
    rows, failures = _command_rows(aws, view.entry, spoke_role)
    if rows:
        table = Table("command", "id", "where", "status", box=None, pad_edge=False)
        for row in rows:
            table.add_row(*row)
        out.print(table)
    else:
        out.print("commands:       none sent yet", markup=False)
    if failures:
        raise Failed(failures, EXIT_AWS)


def _print_record(view: LedgerView, now: float) -> None:
    entry = view.entry
    lines = [
        ("instance", entry.instance_id),
        ("account", entry.account),
        ("region", entry.region),
        ("state", entry.status),
        ("computer name", entry.computer_name or "-"),
        ("domain", entry.domain or "-"),
        ("platform", entry.platform or "-"),
        ("created", when(entry.created_at, now)),
        ("updated", when(entry.updated_at, now)),
        ("attempts", str(entry.attempts)),
    ]
    if entry.status in CLAIMS:
        lease = f"until {when(entry.lease_expires_at)} ({ago(int(now) - entry.lease_expires_at)})"
        lines.append(("claim", f"{lease}, by message {entry.claimed_by or '-'}"))
    if view.retried_at:
        lines.append(("re-queued", when(view.retried_at, now)))
    if entry.expires_at:
        lines.append(("record expires", when(entry.expires_at, now)))
    for label, value in lines:
        out.print(f"{label + ':':<15} {value}", markup=False)


def _command_rows(
    aws: OperatorAws, entry: LedgerEntry, spoke_role: str
) -> tuple[list[tuple[str, ...]], list[str]]:
    rows: list[tuple[str, ...]] = []
    failures: list[str] = []
    hub = f"hub {aws.hub.region}"
    if entry.prestage_command_id:
        status = _status(lambda: aws.tools_command_status(entry.prestage_command_id), failures)
        rows.append(("prestage", entry.prestage_command_id, hub, status))
    if entry.join_command_id:
        where = f"{entry.account} {entry.region}"
        try:
            lookup = join_lookup(entry, aws.caller_account(), spoke_role, aws.partition)
        except DomainJoinError as error:
            failures.append(_failure(error))
            lookup = JoinLookup(skip=f"{NOT_CHECKED}: {error}")
        if lookup.skip:
            status = lookup.skip
        else:
            status = _status(
                lambda: aws.join_command_status(
                    entry.join_command_id, entry.instance_id, entry.account, entry.region, lookup.role_arn
                ),
                failures,
            )
        rows.append(("join", entry.join_command_id, where, status))
    if entry.remove_command_id:
        status = _status(lambda: aws.tools_command_status(entry.remove_command_id), failures)
        rows.append(("remove", entry.remove_command_id, hub, status))
    return rows, failures


def _status(lookup: Callable[[], CommandStatus], failures: list[str]) -> str:
    try:
        found = lookup()
    except DomainJoinError as error:
        failures.append(_failure(error))
        return f"{NOT_CHECKED}: {error}"
    return (
        f"{found.status} ({found.detail})" if found.detail and found.detail != found.status else found.status
    )


def _failure(error: DomainJoinError) -> str:
    return describe(error)[0]
