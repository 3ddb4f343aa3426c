"""Pure decisions of the reconciliation: frozen values in, actions out (no AWS, no clock).

The reconciliation compares three views of one (account, Region): the fleet (DescribeInstances in the
spoke), the ledger (the hub's table) and the directory (the stamped computer objects the
``DomainJoin-Inventory`` document listed).  Each ``decide_*`` function below compares two of them and
answers with ``ReconcileAction`` values; ``apply_threshold`` then caps the removals.  The worker
(``worker.Reconciler``) only reads, asks these functions and carries the actions out.

Public API (stable names; the operator CLI builds on them)::

    WorkItem                        one (account, Region) to reconcile, as the planner queues it
    FleetInstance                   one instance as DescribeInstances saw it
    LedgerRecord                    the reconciler's view of one ledger record
    InventoryObject                 one stamped computer object of the directory
    ReconcileAction                 one decision: kind, where, what, and why (``reason``)
    ActionKind                      "backfill" | "retry" | "remove" | "quarantine" | "report" | "skip"
    BACKFILL, RETRY, REMOVE, QUARANTINE, REPORT, SKIP           the kinds
    FROM_FLEET, FROM_LEDGER, FROM_DIRECTORY, FROM_INVENTORY     ``ReconcileAction.origin`` values
    ReconcileSettings               the workers' tunables (settings.RECONCILE_SETTINGS)
    plan_work(configs, hub_regions) -> list[WorkItem]
    decide_backfill(item, fleet, ledger, now, retry_period_seconds, settle_seconds) -> list[ReconcileAction]
    decide_ledger_orphans(item, fleet, ledger) -> list[ReconcileAction]
    decide_directory_orphans(item, fleet, ledger, inventory, now, quarantine_days) -> list[ReconcileAction]
    decide_unenrolled(inventory, items) -> list[ReconcileAction]  stamps outside every work item: report
    apply_threshold(actions, inventory_size, max_removals, max_percent) -> list[ReconcileAction]
    removal_limit(inventory_size, max_removals, max_percent) -> int

Example::

    >>> item = WorkItem("111111111111", "eu-west-1")
    >>> fleet = [FleetInstance("i-0123456789abcdef0", "running", opted_out=False, launch_time=0)]
    >>> [a.kind for a in decide_backfill(item, fleet, {}, now=10_000, retry_period_seconds=86400)]
    ['backfill']
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final, Literal

from .. import settings as S
from ..contract import CONFIG_DNS_NAME, CONFIG_REGIONS
from ..model import JOIN_FAILED, JOIN_SENT, JOINING, REMOVE_FAILED, REMOVING
from ..naming import ownership_stamp

ActionKind = Literal["backfill", "retry", "remove", "quarantine", "report", "skip"]
BACKFILL: Final = "backfill"  # a synthetic `running` event on the join queue (the normal join path)
RETRY: Final = "retry"  # the same, for a JOIN_FAILED record whose retry period is over
REMOVE: Final = "remove"  # ledger: a synthetic `terminated` event; directory: a stamp-checked remove command
QUARANTINE: Final = "quarantine"  # directory: a stamp-checked disable; deleted quarantine_days later
REPORT: Final = "report"  # logged and counted, never acted on (stamps of accounts not enrolled)
SKIP: Final = "skip"  # would have acted, but must not (opted out, threshold, recent launch, quarantine)

# Where a decision comes from; the worker acts on REMOVE by origin (ledger: event; directory: command).
FROM_FLEET: Final = "fleet"
FROM_LEDGER: Final = "ledger"
FROM_DIRECTORY: Final = "directory"
FROM_INVENTORY: Final = "inventory"

# Ledger status the reconciler writes for a computer object it disabled (quarantine); ``updated_at`` is
# the time it was disabled.
QUARANTINED: Final = "QUARANTINED"
LIVE_STATES: Final = frozenset({"pending", "running"})
GONE_STATES: Final = frozenset({"shutting-down", "terminated"})
# Ledger statuses whose instance, once gone, the ledger pass removes through a synthetic terminated event.
REMOVABLE_STATUSES: Final = frozenset({JOIN_SENT, REMOVE_FAILED})
# A claim in force: the join path is at work on it, the reconciler stays away.
CLAIM_STATUSES: Final = frozenset({JOINING, REMOVING})
# An instance launched less than this ago has its own running event on the way (the join queue's delay).
DEFAULT_SETTLE_SECONDS: Final = 900
DAY_SECONDS: Final = 86400


@dataclass(frozen=True, slots=True)
class InventoryObject:
    """One computer object that carries our stamp (``description`` =
    ``ec2-domain-join:<stamp_account>/<stamp_region>/<stamp_instance_id>``)."""

    computer_name: str
    dn: str
    stamp_account: str
    stamp_region: str
    stamp_instance_id: str

    @property
    def stamp(self) -> str:
        return ownership_stamp(self.stamp_account, self.stamp_region, self.stamp_instance_id)


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One (enrolled account, Region) to reconcile: one message of the reconcile queue.

    Parameters:
        account_id, region: where.
        role_arn: a role to describe the fleet with instead of the account's reconcile reader role (the
            CLI's ``--spoke-role``); "" : the reader role (``settings.RECONCILE_READER_ROLE_NAME``).  Never
            the execution role: the reconciler only describes.
        domain: the account's domain (config item ``dnsName``), for directory removals.
        inventory: the stamped objects naming this account and Region (from the latest inventory).
        inventory_taken_at: when that inventory was taken (epoch seconds; 0: no inventory, so no
            directory pass).
        ledger: the ledger records of this account and Region (the planner reads the ledger once per run);
            ``None``: the worker reads them itself.
        dry_run: the planner ran in dry run: the worker only reports, whatever its own settings say.
    """

    account_id: str
    region: str
    role_arn: str = ""
    domain: str = ""
    inventory: tuple[InventoryObject, ...] = ()
    inventory_taken_at: int = 0
    ledger: tuple[LedgerRecord, ...] | None = None
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class FleetInstance:
    """One instance of the spoke as DescribeInstances reports it.

    ``launch_time``: epoch seconds (0 when unknown); ``opted_out``: its ``autoadjoin`` tag says false.
    """

    instance_id: str
    state: str
    opted_out: bool
    launch_time: int = 0


@dataclass(frozen=True, slots=True)
class LedgerRecord:
    """What the reconciler needs of one ledger record (``model.LedgerEntry`` has the rest).

    ``retried_at``: when the reconciler last re-queued this JOIN_FAILED record (0: never).
    """

    instance_id: str
    account: str
    region: str
    status: str
    computer_name: str = ""
    updated_at: int = 0
    retried_at: int = 0


@dataclass(frozen=True, slots=True)
class ReconcileAction:
    """One decision of the reconciliation; ``reason`` says why, in words (logged with it)."""

    kind: ActionKind
    account_id: str
    region: str
    instance_id: str | None
    computer_name: str | None
    reason: str
    origin: str = ""


@dataclass(frozen=True, slots=True)
class ReconcileSettings:
    """The workers' tunables (``settings.RECONCILE_SETTINGS``: defaults, ranges, meanings)."""

    dry_run: bool = S.RECONCILE_DRY_RUN.default == "true"
    max_removals: int = int(S.RECONCILE_MAX_REMOVALS.default or 0)
    max_removal_percent: int = int(S.RECONCILE_MAX_REMOVAL_PERCENT.default or 0)
    retry_period_seconds: int = int(S.RECONCILE_RETRY_PERIOD_SECONDS.default or 0)
    quarantine_days: int = int(S.RECONCILE_QUARANTINE_DAYS.default or 0)
    settle_seconds: int = DEFAULT_SETTLE_SECONDS

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ReconcileSettings:
        """Raises ``settings.SettingError`` naming the variable of a value out of range."""

        def value(setting: S.Setting) -> S.SettingValue | None:
            return S.parse(setting, env.get(setting.env or ""))

        return cls(
            dry_run=value(S.RECONCILE_DRY_RUN) == "true",
            max_removals=int(value(S.RECONCILE_MAX_REMOVALS) or 0),
            max_removal_percent=int(value(S.RECONCILE_MAX_REMOVAL_PERCENT) or 0),
            retry_period_seconds=int(value(S.RECONCILE_RETRY_PERIOD_SECONDS) or 0),
            quarantine_days=int(value(S.RECONCILE_QUARANTINE_DAYS) or 0),
        )


def plan_work(configs: Mapping[str, Mapping[str, object]], hub_regions: Sequence[str]) -> list[WorkItem]:
    """One work item per (enrolled account, Region), ordered by account so that one worker batch tends to
    hold one account's Regions (one AssumeRole for them all).

    ``configs``: raw config items by account id; an item's ``regions`` (a set or list of Region names)
    wins, else ``hub_regions``.  The domain is copied from the item (``dnsName``) when present; its
    execution role (``assumeRoleARN``) is not: the worker describes through the reader role.
    """
    items: list[WorkItem] = []
    for account in sorted(configs):
        config = configs[account]
        raw = config.get(CONFIG_REGIONS)
        regions = (
            sorted({str(r) for r in raw if str(r).strip()})
            if isinstance(raw, Iterable) and not isinstance(raw, str | bytes)
            else []
        )
        domain = str(config.get(CONFIG_DNS_NAME) or "")
        for region in regions or sorted(set(hub_regions)):
            items.append(WorkItem(account, region, domain=domain))
    return items


def decide_backfill(
    item: WorkItem,
    fleet: Sequence[FleetInstance],
    ledger: Mapping[str, LedgerRecord],
    now: int,
    retry_period_seconds: int,
    settle_seconds: int = DEFAULT_SETTLE_SECONDS,
) -> list[ReconcileAction]:
    """Fleet -> ledger: every pending/running instance that is not opted out and has no ledger record is
    backfilled; a JOIN_FAILED one is retried once its retry period is over (counted from the later of its
    last change and the reconciler's last retry)."""
    actions: list[ReconcileAction] = []
    for instance in sorted(fleet, key=lambda i: i.instance_id):
        if instance.state not in LIVE_STATES:
            continue
        record = ledger.get(instance.instance_id)
        verdict = _backfill_verdict(instance, record, now, retry_period_seconds, settle_seconds)
        if verdict is not None:
            kind, reason = verdict
            name = record.computer_name if record is not None and record.computer_name else None
            actions.append(
                ReconcileAction(
                    kind, item.account_id, item.region, instance.instance_id, name, reason, FROM_FLEET
                )
            )
    return actions


def _backfill_verdict(
    instance: FleetInstance, record: LedgerRecord | None, now: int, retry_period: int, settle_seconds: int
) -> tuple[ActionKind, str] | None:
    if instance.opted_out:
        return (SKIP, "opted out (autoadjoin=false): never joined") if record is None else None
    if record is None:
        age = now - instance.launch_time
        if instance.launch_time and age < settle_seconds:
            return SKIP, f"launched {age} s ago: its own running event is on the way"
        return BACKFILL, f"{instance.state} and not in the ledger"
    if record.status != JOIN_FAILED:
        return None
    last = max(record.updated_at, record.retried_at)
    if now - last >= retry_period:
        return RETRY, f"JOIN_FAILED since {record.updated_at}; retry period over"
    return SKIP, f"JOIN_FAILED; next retry after {last + retry_period}"


def decide_ledger_orphans(
    item: WorkItem, fleet: Sequence[FleetInstance], ledger: Mapping[str, LedgerRecord]
) -> list[ReconcileAction]:
    """Ledger -> fleet: JOIN_SENT / REMOVE_FAILED records whose instance is gone or terminated get a
    synthetic terminated event (the normal, stamp-checked removal)."""
    by_id = {i.instance_id: i for i in fleet}
    actions: list[ReconcileAction] = []
    for instance_id in sorted(ledger):
        record = ledger[instance_id]
        if record.account != item.account_id or record.region != item.region:
            continue
        if record.status not in REMOVABLE_STATUSES:
            continue
        instance = by_id.get(instance_id)
        if instance is not None and instance.state not in GONE_STATES:
            continue
        where = "gone" if instance is None else instance.state
        actions.append(
            ReconcileAction(
                REMOVE,
                item.account_id,
                item.region,
                instance_id,
                record.computer_name or None,
                f"ledger {record.status}, instance {where}: terminated event lost or removal failed",
                FROM_LEDGER,
            )
        )
    return actions


def decide_directory_orphans(
    item: WorkItem,
    fleet: Sequence[FleetInstance],
    ledger: Mapping[str, LedgerRecord],
    inventory: Sequence[InventoryObject],
    now: int,
    quarantine_days: int = 0,
) -> list[ReconcileAction]:
    """Directory -> fleet: stamped objects of this account and Region whose instance does not exist (or is
    terminated) are removed with a stamp-checked remove command (disabled first when quarantine is on).

    Left alone: objects whose record the ledger pass removes (JOIN_SENT, REMOVE_FAILED), whose record is
    claimed (JOINING, REMOVING), or whose record changed after the inventory was taken (a removal in flight).
    """
    by_id = {i.instance_id: i for i in fleet}
    actions: list[ReconcileAction] = []
    for obj in sorted(inventory, key=lambda o: (o.stamp_instance_id, o.computer_name)):
        if obj.stamp_account != item.account_id or obj.stamp_region != item.region:
            continue
        instance = by_id.get(obj.stamp_instance_id)
        if instance is not None and instance.state not in GONE_STATES:
            continue
        where = "gone" if instance is None else instance.state
        record = ledger.get(obj.stamp_instance_id)
        verdict = _orphan_verdict(where, record, item.inventory_taken_at, now, quarantine_days)
        if verdict is not None:
            kind, reason = verdict
            actions.append(
                ReconcileAction(
                    kind,
                    item.account_id,
                    item.region,
                    obj.stamp_instance_id,
                    obj.computer_name,
                    reason,
                    FROM_DIRECTORY,
                )
            )
    return actions


def _orphan_verdict(
    where: str, record: LedgerRecord | None, taken_at: int, now: int, quarantine_days: int
) -> tuple[ActionKind, str] | None:
    if record is not None and record.status in REMOVABLE_STATUSES:
        return None  # the ledger pass sends its terminated event
    if record is not None and record.status in CLAIM_STATUSES:
        return SKIP, f"orphan (instance {where}) but the ledger holds a {record.status} claim"
    if record is not None and record.status != QUARANTINED and record.updated_at >= taken_at:
        return SKIP, f"orphan (instance {where}) but its ledger record changed after the inventory"
    if quarantine_days <= 0:
        return REMOVE, f"stamped object of instance {where}: orphaned"
    if record is None or record.status != QUARANTINED:
        return (
            QUARANTINE,
            f"stamped object of instance {where}: orphaned; disabled for {quarantine_days} days",
        )
    if now - record.updated_at >= quarantine_days * DAY_SECONDS:
        return REMOVE, f"quarantined since {record.updated_at}: {quarantine_days} days over"
    return SKIP, f"quarantined; deleted after {record.updated_at + quarantine_days * DAY_SECONDS}"


def decide_unenrolled(
    inventory: Iterable[InventoryObject], items: Collection[WorkItem]
) -> list[ReconcileAction]:
    """Stamps naming an (account, Region) no work item covers: reported, never removed."""
    covered = {(i.account_id, i.region) for i in items}
    accounts = {i.account_id for i in items}
    actions: list[ReconcileAction] = []
    for obj in sorted(inventory, key=lambda o: (o.stamp_account, o.stamp_region, o.stamp_instance_id)):
        if (obj.stamp_account, obj.stamp_region) in covered:
            continue
        reason = (
            f"stamp of Region {obj.stamp_region}, not reconciled for this account"
            if obj.stamp_account in accounts
            else f"stamp of account {obj.stamp_account}, which is not enrolled"
        )
        actions.append(
            ReconcileAction(
                REPORT,
                obj.stamp_account,
                obj.stamp_region,
                obj.stamp_instance_id,
                obj.computer_name,
                reason,
                FROM_INVENTORY,
            )
        )
    return actions


def removal_limit(inventory_size: int, max_removals: int, max_percent: int) -> int:
    """The most removals allowed: ``max_removals`` or ``max_percent`` % of ``inventory_size`` (rounded up,
    so one stamped object may go), whichever is smaller."""
    return min(max_removals, math.ceil(inventory_size * max_percent / 100))


def apply_threshold(
    actions: Sequence[ReconcileAction],
    inventory_size: int,
    max_removals: int = int(S.RECONCILE_MAX_REMOVALS.default or 0),
    max_percent: int = int(S.RECONCILE_MAX_REMOVAL_PERCENT.default or 0),
) -> list[ReconcileAction]:
    """All removals and quarantines as they are, or, when there are more than ``removal_limit`` of them,
    every one of them turned into a SKIP (nothing is removed: many orphans at once point at a fault).

    ``inventory_size``: the stamped objects of the (account, Region), or its ledger records when more.
    """
    removals = [a for a in actions if a.kind in (REMOVE, QUARANTINE)]
    limit = removal_limit(inventory_size, max_removals, max_percent)
    if len(removals) <= limit:
        return list(actions)
    why = (
        f"threshold: {len(removals)} removals > limit {limit} "
        f"({max_removals} or {max_percent}% of {inventory_size})"
    )
    return [
        replace(a, kind=SKIP, reason=f"{why}; would {a.kind}: {a.reason}")
        if a.kind in (REMOVE, QUARANTINE)
        else a
        for a in actions
    ]


def is_threshold_skip(action: ReconcileAction) -> bool:
    """A removal ``apply_threshold`` turned into a skip."""
    return action.kind == SKIP and action.reason.startswith("threshold:")
