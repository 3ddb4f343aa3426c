"""``ec2-domain-join reconcile``: the reconciliation's plan (and, with ``--yes``, its run), from a laptop.

It runs the reconciliation's own code with the operator's credentials: ``build_reconciler`` (the
adapter's ``ReconcileGateway``), ``Reconciler.plan`` (the planner's work items, or only those of
``--account`` / ``--region``) and ``Reconciler.run(item, dry_run=...)`` for each item, exactly what a
worker does with a message of the reconcile queue.  The decisions are printed as a table: backfill,
retry, remove, quarantine, report, skip, each with its reason.

* ``--dry-run``: decide and report, change nothing.  The hub's names come from the options
  (``target.py``), the spokes' reader role from ``--name`` (``naming.reconcile_reader_role_name``), the
  thresholds from the settings table's defaults.
* a real run needs ``--yes`` (without it, and without ``--dry-run``: exit 2, nothing done).  It reads
  the deployed worker's own environment (``lambda:GetFunctionConfiguration`` of
  ``naming.reconcile_worker_name``) so tables, queues, bucket, thresholds, tools-host pin and external
  id are the worker's; its actions are the worker's (events on the join queue, stamp-checked removals on
  the tools host).  A worker configured ``dry_run`` stays a dry run.

The spoke execution roles trust only the hub's handler roles: an operator describes the fleets through
``--spoke-role NAME``, a role of that name in every enrolled account (e.g. a read-only audit role).

Exit: 0 done; 2 a real run without ``--yes``; 3 an (account, Region) could not be read (the others are
still shown); 4 the worker function (real run) or a table was not found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Final

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from handlers.domain_join import arns
from handlers.domain_join.adapter.reconcile import build_reconciler
from handlers.domain_join.errors import DomainJoinError
from handlers.domain_join.reconcile.plan import (
    BACKFILL,
    QUARANTINE,
    REMOVE,
    REPORT,
    RETRY,
    SKIP,
    ReconcileAction,
    ReconcileSettings,
    WorkItem,
)
from handlers.domain_join.reconcile.worker import Reconciler, ReconcilerConfig
from handlers.domain_join.settings import SettingError, Settings
from modules import naming

from .aws import OperatorAws
from .errors import describe
from .output import EXIT_AWS, EXIT_FAILED, EXIT_USAGE, Failed, err, out

KINDS: Final = (BACKFILL, RETRY, REMOVE, QUARANTINE, REPORT, SKIP)  # the table's order


def dry_run_config(
    aws: OperatorAws, hub_regions: Sequence[str], inventory_bucket: str | None, directory: bool
) -> ReconcilerConfig:
    """The reconciler's configuration from the hub's names (no deployed worker needed)."""
    hub = aws.hub
    bucket = ""
    if directory:
        bucket = inventory_bucket or naming.inventory_bucket_name(hub.name, aws.caller_account(), hub.region)
    handler = Settings(
        home_region=hub.region,
        config_table=hub.config_table,
        ledger_table=hub.ledger_table,
        dead_letter_queue_url="",  # the reconciler never dead-letters
        spoke_role_name=hub.spoke_role_name,
    )
    return ReconcilerConfig(
        handler=handler,
        tunables=ReconcileSettings(dry_run=True),
        inventory_bucket=bucket,
        hub_regions=tuple(hub_regions) or (hub.region,),
        reader_role_name=naming.reconcile_reader_role_name(hub.name),  # the spokes' role of this hub's name
    )


def worker_config(aws: OperatorAws) -> ReconcilerConfig:
    """The deployed worker's own configuration (its environment), for a real run."""
    name = naming.reconcile_worker_name(aws.hub.name)
    environment = aws.function_environment(name) | {"AWS_REGION": aws.hub.region}
    try:
        return ReconcilerConfig.from_env(environment)
    except SettingError as error:
        raise Failed([f"the environment of {name}: {error}"], EXIT_FAILED) from error


def with_role(item: WorkItem, spoke_role: str, partition: str) -> WorkItem:
    """The item described through ``spoke_role`` (a role name in its account, or an ARN) instead of the
    execution role of its config item."""
    if not spoke_role:
        return item
    role_arn = (
        spoke_role if spoke_role.startswith("arn:") else arns.role_arn(partition, item.account_id, spoke_role)
    )
    return replace(item, role_arn=role_arn)


def run(
    aws: OperatorAws,
    *,
    accounts: Sequence[str],
    regions: Sequence[str],
    dry_run: bool,
    yes: bool,
    spoke_role: str,
    hub_regions: Sequence[str],
    inventory_bucket: str | None,
    directory: bool,
) -> None:
    if not dry_run and not yes:
        raise Failed(
            [
                "a real run changes the fleet (join events, directory removals): give --dry-run to see the "
                "plan, or --yes to carry it out"
            ],
            EXIT_USAGE,
        )
    config = dry_run_config(aws, hub_regions, inventory_bucket, directory) if dry_run else worker_config(aws)
    reconciler = build_reconciler(config, client_factory=aws.client_factory)
    with err.status("planning: config items, ledger, latest inventories"):
        plan = reconciler.plan(accounts=set(accounts) or None, regions=set(regions) or None)
    items = [with_role(i, spoke_role, aws.partition) for i in plan.items]
    actions: list[ReconcileAction] = list(plan.reports)
    failures: list[str] = []
    codes: list[int] = []
    carried_out = _run_items(reconciler, items, dry_run, actions, failures, codes)
    _print_plan(actions)
    counts = ", ".join(f"{sum(1 for a in actions if a.kind == kind)} {kind}" for kind in KINDS)
    verdict = "carried out" if carried_out else "dry run: nothing changed"
    out.print(f"{len(items)} work item(s): {counts}; {verdict}", markup=False)
    if failures:
        raise Failed(failures, max(codes, default=EXIT_AWS))


def _run_items(
    reconciler: Reconciler,
    items: Sequence[WorkItem],
    dry_run: bool,
    actions: list[ReconcileAction],
    failures: list[str],
    codes: list[int],
) -> bool:
    """Run every item (a progress bar on a terminal); True when any of them acted for real."""
    carried_out = False
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("reconciling", total=len(items))
        for item in items:
            progress.update(task, description=f"{item.account_id} {item.region}")
            try:
                report = reconciler.run(item, dry_run=dry_run)
            except DomainJoinError as error:
                line, code = describe(error)
                failures.append(f"{item.account_id} {item.region}: {line}")
                codes.append(code)
            else:
                actions.extend(report.actions)
                failures.extend(f"{item.account_id} {item.region}: {e}" for e in report.errors)
                codes.extend(EXIT_AWS for _ in report.errors)
                carried_out = carried_out or not report.dry_run
            progress.advance(task)
    return carried_out


def _print_plan(actions: Sequence[ReconcileAction]) -> None:
    if not actions:
        out.print("nothing to do: fleet, ledger and directory agree", markup=False)
        return
    table = Table(
        "action", "account", "region", "instance", "computer", "from", "reason", box=None, pad_edge=False
    )
    order = {kind: n for n, kind in enumerate(KINDS)}
    for a in sorted(
        actions, key=lambda a: (order.get(a.kind, 99), a.account_id, a.region, a.instance_id or "")
    ):
        table.add_row(
            a.kind,
            a.account_id,
            a.region,
            a.instance_id or "-",
            a.computer_name or "-",
            a.origin or "-",
            a.reason,
        )
    out.print(table)
