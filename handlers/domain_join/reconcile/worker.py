"""The reconciliation's orchestrator: reads through a ``ReconcilePort``, asks ``plan``, acts, reports.

``Reconciler.plan`` is the planner's work (once per run: the config items, one ledger scan, the latest
inventories -> one ``WorkItem`` per (enrolled account, Region), plus reports of stamps nobody enrolled);
``Reconciler.fan_out`` queues the items and asks the tools host for the next inventory;
``Reconciler.run`` is one worker's work on one item.  Every decision is logged with its reason and counted
(``METRIC_BY_KIND``); ``dry_run`` logs and counts but changes nothing.

Example::

    reconciler = build_reconciler(settings)            # adapter/reconcile.py
    plan = reconciler.plan(accounts={"111111111111"})  # PlanResult(items, reports)
    report = reconciler.run(plan.items[0], dry_run=True)
    [a.kind for a in report.actions]                   # ['backfill', 'remove', ...]
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Protocol

from .. import events
from ..contract import (
    ENV_HUB_REGIONS,
    ENV_INVENTORY_BUCKET,
    ENV_JOIN_QUEUE_URL,
    ENV_RECONCILE_QUEUE_URL,
    ENV_RECONCILE_READER_ROLE_NAME,
    REMOVE_ACTION_DELETE,
    REMOVE_ACTION_DISABLE,
)
from ..settings import RECONCILE_READER_ROLE_NAME, Settings, parse
from .inventory import Inventory
from .plan import (
    BACKFILL,
    FROM_DIRECTORY,
    FROM_LEDGER,
    QUARANTINE,
    REMOVE,
    REPORT,
    RETRY,
    SKIP,
    FleetInstance,
    InventoryObject,
    LedgerRecord,
    ReconcileAction,
    ReconcileSettings,
    WorkItem,
    apply_threshold,
    decide_backfill,
    decide_directory_orphans,
    decide_ledger_orphans,
    decide_unenrolled,
    is_threshold_skip,
    plan_work,
)

# Metric names (CloudWatch, namespace of the function): one count per decision.
BACKFILLED: Final = "Backfilled"
RETRIED: Final = "Retried"
ORPHANED: Final = "Orphaned"  # every orphan found (removed, quarantined or skipped)
REMOVED: Final = "Removed"
QUARANTINED_METRIC: Final = "Quarantined"
SKIPPED_BY_THRESHOLD: Final = "SkippedByThreshold"
REPORTED: Final = "Reported"
WORK_ITEMS: Final = "WorkItems"
METRIC_NAMES: Final = (
    BACKFILLED,
    RETRIED,
    ORPHANED,
    REMOVED,
    QUARANTINED_METRIC,
    SKIPPED_BY_THRESHOLD,
    REPORTED,
    WORK_ITEMS,
)


class ReconcilePort(Protocol):
    """The AWS operations of the reconciliation; ``adapter.reconcile.ReconcileGateway`` is the real one."""

    def load_config_items(self) -> dict[str, Mapping[str, Any]]:
        """Every config item, by account id (one Scan of the config table)."""
        ...

    def scan_ledger(self, accounts: Collection[str] | None = None) -> list[LedgerRecord]:
        """Every instance record of the ledger (of ``accounts`` only, when given)."""
        ...

    def latest_inventories(self) -> list[Inventory]:
        """The newest successful inventory of each domain (empty when none was taken yet)."""
        ...

    def request_inventories(self, configs: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """Send ``DomainJoin-Inventory`` to the tools host, once per domain; the command ids."""
        ...

    def send_work_items(self, items: Sequence[WorkItem]) -> int:
        """Queue the items on the reconcile queue; the number SQS refused."""
        ...

    def describe_fleet(self, item: WorkItem) -> list[FleetInstance]:
        """Every instance of the account and Region (through its execution role)."""
        ...

    def send_join_events(self, bodies: Sequence[str]) -> int:
        """Put event bodies on the join queue; the number SQS refused."""
        ...

    def mark_retried(self, records: Sequence[LedgerRecord], now: int) -> None:
        """Record when failed records were re-queued (only while each is still as read: status and
        ``updatedAt``)."""
        ...

    def remove_computers(self, item: WorkItem, actions: Sequence[ReconcileAction], remove_action: str) -> str:
        """One stamp-checked DomainJoin-Remove (``delete``/``disable``) on the tools host; its command id."""
        ...

    def mark_quarantined(self, item: WorkItem, actions: Sequence[ReconcileAction], now: int) -> None:
        """Write QUARANTINED ledger records for the computers just disabled."""
        ...


@dataclass(frozen=True, slots=True)
class PlanResult:
    """What the planner found: the work items, and the stamps no work item covers (reports)."""

    items: tuple[WorkItem, ...]
    reports: tuple[ReconcileAction, ...]


@dataclass(slots=True)
class ReconcileReport:
    """The actions of one run over one work item (or of the planner), and what was carried out."""

    item: WorkItem | None
    dry_run: bool
    actions: list[ReconcileAction] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    work_items: int = 0  # the planner's: messages queued

    def count(self, kind: str) -> int:
        return sum(1 for a in self.actions if a.kind == kind)

    def metrics(self) -> dict[str, int]:
        """The decisions as metric counts (``METRIC_NAMES``)."""
        orphans = [a for a in self.actions if a.origin in (FROM_LEDGER, FROM_DIRECTORY)]
        counts = {
            BACKFILLED: self.count(BACKFILL),
            RETRIED: self.count(RETRY),
            ORPHANED: sum(1 for a in orphans if a.kind in (REMOVE, QUARANTINE) or is_threshold_skip(a)),
            REMOVED: self.count(REMOVE),
            QUARANTINED_METRIC: self.count(QUARANTINE),
            SKIPPED_BY_THRESHOLD: sum(1 for a in self.actions if is_threshold_skip(a)),
            REPORTED: self.count(REPORT),
        }
        return {name: value for name, value in counts.items() if value}


Logger = Callable[[str, Mapping[str, Any]], None]


def no_log(message: str, extra: Mapping[str, Any]) -> None:
    """The default ``Logger``: says nothing."""
    return None


@dataclass(frozen=True, slots=True)
class ReconcilerConfig:
    """Everything the reconciler's adapter needs: the join path's settings (tables, tools host, spoke
    role), the workers' tunables, the two queues, the inventory bucket, the hub's Regions and the spokes'
    reconcile reader role.

    ``from_env`` reads the Lambda environment modules/reconcile.py sets; the CLI may build one directly.
    """

    handler: Settings
    tunables: ReconcileSettings = field(default_factory=ReconcileSettings)
    join_queue_url: str = ""
    reconcile_queue_url: str = ""
    inventory_bucket: str = ""
    hub_regions: tuple[str, ...] = ()
    reader_role_name: str = str(RECONCILE_READER_ROLE_NAME.default)
    """The spoke role the worker describes the fleet with (``settings.RECONCILE_READER_ROLE_NAME``)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ReconcilerConfig:
        """Raises ``settings.SettingError`` naming a missing or invalid variable."""
        regions = tuple(r.strip() for r in env.get(ENV_HUB_REGIONS, "").split(",") if r.strip())
        return cls(
            handler=Settings.from_env(env),
            tunables=ReconcileSettings.from_env(env),
            join_queue_url=env.get(ENV_JOIN_QUEUE_URL, "").strip(),
            reconcile_queue_url=env.get(ENV_RECONCILE_QUEUE_URL, "").strip(),
            inventory_bucket=env.get(ENV_INVENTORY_BUCKET, "").strip(),
            hub_regions=regions or (env.get("AWS_REGION", "").strip(),),
            reader_role_name=str(
                parse(RECONCILE_READER_ROLE_NAME, env.get(ENV_RECONCILE_READER_ROLE_NAME))
                or RECONCILE_READER_ROLE_NAME.default
            ),
        )


class Reconciler:
    """Plans and runs the reconciliation.

    Parameters:
        port: the AWS operations (``adapter.reconcile.ReconcileGateway``, or a fake).
        settings: the workers' tunables.
        hub_regions: the Regions of accounts whose config item names none.
        clock: seconds since the epoch.
        log: called with (message, fields) for every decision (Powertools' logger in Lambda).
    """

    def __init__(
        self,
        port: ReconcilePort,
        settings: ReconcileSettings,
        hub_regions: Sequence[str] = (),
        clock: Callable[[], float] = time.time,
        log: Logger = no_log,
    ) -> None:
        self._port = port
        self.settings = settings
        self._hub_regions = tuple(hub_regions)
        self._clock = clock
        self._log = log

    # --- planner --------------------------------------------------------------------
    def plan(
        self, accounts: Collection[str] | None = None, regions: Collection[str] | None = None
    ) -> PlanResult:
        """The work items of one run (only ``accounts`` / ``regions`` when given), each with its ledger
        records and inventory objects, and the reports of stamps no enrolled (account, Region) covers."""
        return self._plan(self._port.load_config_items(), accounts, regions)

    def _plan(
        self,
        configs: Mapping[str, Mapping[str, Any]],
        accounts: Collection[str] | None = None,
        regions: Collection[str] | None = None,
    ) -> PlanResult:
        if accounts is not None:
            configs = {a: c for a, c in configs.items() if a in accounts}
        items = plan_work(configs, self._hub_regions)
        if regions is not None:
            items = [i for i in items if i.region in regions]
        inventories = self._port.latest_inventories()
        objects: dict[tuple[str, str], list[InventoryObject]] = {}
        taken: dict[str, int] = {}
        for inventory in inventories:  # a domain's inventory may come in parts (OUs): the oldest counts
            domain = inventory.domain.lower()
            taken[domain] = min(taken.get(domain, inventory.taken_at), inventory.taken_at)
            for obj in inventory.objects:
                objects.setdefault((obj.stamp_account, obj.stamp_region), []).append(obj)
        records: dict[tuple[str, str], list[LedgerRecord]] = {}
        for record in self._port.scan_ledger(configs.keys() if accounts is not None else None):
            records.setdefault((record.account, record.region), []).append(record)
        planned = tuple(
            replace(
                item,
                inventory=tuple(objects.get((item.account_id, item.region), ())),
                inventory_taken_at=taken.get(item.domain.lower(), 0),
                ledger=tuple(records.get((item.account_id, item.region), ())),
            )
            for item in items
        )
        every_object = [o for inventory in inventories for o in inventory.objects]
        reports = decide_unenrolled(every_object, planned) if accounts is None and regions is None else []
        return PlanResult(planned, tuple(reports))

    def fan_out(self, *, dry_run: bool) -> ReconcileReport:
        """The planner's run: queue one message per work item, log the reports, ask for the next inventory.

        Even in dry run the items are queued, marked so (the workers then only report), but no inventory is
        requested.
        """
        configs = self._port.load_config_items()
        result = self._plan(configs)
        if dry_run:
            result = replace(result, items=tuple(replace(i, dry_run=True) for i in result.items))
        report = ReconcileReport(None, dry_run, list(result.reports), work_items=len(result.items))
        for action in result.reports:
            self._decided(action, dry_run)
        refused = self._port.send_work_items(result.items)
        if refused:
            report.errors.append(f"reconcile queue refused {refused} of {len(result.items)} work items")
        if not dry_run:
            try:
                self._port.request_inventories(configs)
            except Exception as exc:  # the work items are queued; the next run reads an older inventory
                report.errors.append(f"inventory not requested: {type(exc).__name__}: {exc}")
        self._log(
            "reconciliation planned",
            {"work_items": len(result.items), "reports": len(result.reports), "dry_run": dry_run},
        )
        return report

    # --- worker ---------------------------------------------------------------------
    def run(self, item: WorkItem, *, dry_run: bool) -> ReconcileReport:
        """Reconcile one (account, Region); ``dry_run`` (or the settings', or the item's own): decide and
        report, change nothing."""
        dry_run = dry_run or self.settings.dry_run or item.dry_run
        now = int(self._clock())
        fleet = self._port.describe_fleet(item)
        ledger_records = (
            item.ledger if item.ledger is not None else tuple(self._port.scan_ledger({item.account_id}))
        )
        ledger = {
            r.instance_id: r
            for r in ledger_records
            if (r.account, r.region) == (item.account_id, item.region)
        }
        s = self.settings
        actions = decide_backfill(item, fleet, ledger, now, s.retry_period_seconds, s.settle_seconds)
        removals = decide_ledger_orphans(item, fleet, ledger)
        if item.inventory_taken_at:
            removals += decide_directory_orphans(item, fleet, ledger, item.inventory, now, s.quarantine_days)
        # The population the threshold is a share of: every instance the directory or the ledger knows.
        base = len({o.stamp_instance_id for o in item.inventory} | set(ledger))
        actions += apply_threshold(removals, base, s.max_removals, s.max_removal_percent)
        report = ReconcileReport(item, dry_run, actions)
        for action in actions:
            self._decided(action, dry_run)
        if not dry_run:
            self._act(item, actions, ledger, now, report)
        return report

    def _act(
        self,
        item: WorkItem,
        actions: Sequence[ReconcileAction],
        ledger: Mapping[str, LedgerRecord],
        now: int,
        report: ReconcileReport,
    ) -> None:
        stamp = events.event_time(now)
        bodies: list[str] = []
        retried: list[LedgerRecord] = []
        for action in actions:
            if action.instance_id is None:
                continue
            if action.kind in (BACKFILL, RETRY):
                state = events.RUNNING
            elif action.kind == REMOVE and action.origin == FROM_LEDGER:
                state = events.TERMINATED
            else:
                continue
            event = events.instance_state_event(
                item.account_id,
                item.region,
                action.instance_id,
                state,
                event_id=f"reconcile-{now}-{action.instance_id}-{state}",
                time=stamp,
            )
            bodies.append(_json(event))
            if action.kind == RETRY and action.instance_id in ledger:
                retried.append(ledger[action.instance_id])
        if bodies:
            refused = self._port.send_join_events(bodies)
            if refused:
                report.errors.append(f"join queue refused {refused} of {len(bodies)} events")
        if retried:
            self._port.mark_retried(retried, now)
        deletes = [a for a in actions if a.kind == REMOVE and a.origin == FROM_DIRECTORY]
        disables = [a for a in actions if a.kind == QUARANTINE]
        if deletes:
            self._port.remove_computers(item, deletes, REMOVE_ACTION_DELETE)
        if disables:
            self._port.remove_computers(item, disables, REMOVE_ACTION_DISABLE)
            self._port.mark_quarantined(item, disables, now)

    def _decided(self, action: ReconcileAction, dry_run: bool) -> None:
        if action.kind == SKIP and not is_threshold_skip(action) and "opted out" not in action.reason:
            message = "reconcile: left alone"
        else:
            message = f"reconcile: {action.kind}"
        self._log(
            message,
            {
                "kind": action.kind,
                "origin": action.origin,
                "account": action.account_id,
                "region": action.region,
                "instance_id": action.instance_id,
                "computer_name": action.computer_name,
                "reason": action.reason,
                "dry_run": dry_run,
            },
        )


def _json(value: Mapping[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))
