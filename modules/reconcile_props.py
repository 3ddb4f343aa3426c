"""The reconciliation's typed inputs (the landing zone's ``reconciliation:`` section), without cdktf: the
landing-zone reader imports it; modules/reconcile.py builds the resources from it (docs/reconcile.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from handlers.domain_join import settings

from . import cdk
from .cdk import is_token
from .patterns import ROLE_ARN
from .validation import PropsError, check_each, check_range, check_setting, check_unique

SCHEDULE_PREFIXES = ("rate(", "cron(")


@dataclass(frozen=True, kw_only=True)
class ReconcileProps:
    """The landing zone's ``reconciliation:`` section (docs/reconcile.md "Settings").  The tunables shared
    with the workers take defaults and ranges from ``settings.RECONCILE_SETTINGS``."""

    enabled: bool = True
    """False: the schedule is disabled (the functions stay, for `ec2-domain-join reconcile`)."""
    schedule: str = str(settings.RECONCILE_SCHEDULE.default)
    """settings.RECONCILE_SCHEDULE: an EventBridge rate(...) or cron(...) expression.  Default hourly."""
    dry_run: bool = False
    """settings.RECONCILE_DRY_RUN: report only, change nothing."""
    max_removals: int = int(settings.RECONCILE_MAX_REMOVALS.default or 0)
    """settings.RECONCILE_MAX_REMOVALS."""
    max_removal_percent: int = int(settings.RECONCILE_MAX_REMOVAL_PERCENT.default or 0)
    """settings.RECONCILE_MAX_REMOVAL_PERCENT."""
    retry_period_seconds: int = int(settings.RECONCILE_RETRY_PERIOD_SECONDS.default or 0)
    """settings.RECONCILE_RETRY_PERIOD_SECONDS."""
    quarantine_days: int = int(settings.RECONCILE_QUARANTINE_DAYS.default or 0)
    """settings.RECONCILE_QUARANTINE_DAYS: 0 deletes orphans at once."""
    worker_concurrency: int = 20
    """Reserved concurrency of the worker (and the queue's most pollers), 2-1000.  Default 20."""
    function_timeout_seconds: int = 300
    """Timeout of planner and worker, 30-900 s.  Default 300."""
    inventory_retention_days: int = 30
    """Days the inventory output is kept (versions too), 1-3650.  Default 30."""
    orphan_alarm_runs: int = 3
    """Consecutive runs with orphans before the orphans alarm, 1-24.  Default 3."""
    orphan_alarm_period_seconds: int = 3600
    """Length of one run in the orphans alarm (the schedule's period), 60-86400 and a multiple of 60."""
    reader_principal_arns: Sequence[str] = ()
    """Role ARNs (e.g. the operators') that every spoke's reconcile reader role trusts beside the worker,
    for `ec2-domain-join reconcile --dry-run --spoke-role <name>-reconcile-reader`.  Default: none."""

    def __post_init__(self) -> None:
        if not all(isinstance(v, bool) or is_token(v) for v in (self.enabled, self.dry_run)):
            raise PropsError("enabled/dry_run", "must be true or false")
        check_setting(settings.RECONCILE_SCHEDULE, self.schedule)
        if not is_token(self.schedule) and not (
            self.schedule.startswith(SCHEDULE_PREFIXES) and self.schedule.endswith(")")
        ):
            raise PropsError("schedule", "must be rate(...) or cron(...)")
        for setting in (
            settings.RECONCILE_MAX_REMOVALS,
            settings.RECONCILE_MAX_REMOVAL_PERCENT,
            settings.RECONCILE_RETRY_PERIOD_SECONDS,
            settings.RECONCILE_QUARANTINE_DAYS,
        ):
            check_setting(setting, getattr(self, setting.name))
        check_range("worker_concurrency", self.worker_concurrency, 2, 1000)
        check_range("function_timeout_seconds", self.function_timeout_seconds, 30, 900)
        check_range("inventory_retention_days", self.inventory_retention_days, 1, 3650)
        check_range("orphan_alarm_runs", self.orphan_alarm_runs, 1, 24)
        check_range("orphan_alarm_period_seconds", self.orphan_alarm_period_seconds, 60, 86400)
        if not is_token(self.orphan_alarm_period_seconds) and self.orphan_alarm_period_seconds % 60:
            raise PropsError("orphan_alarm_period_seconds", "must be a multiple of 60")
        if isinstance(self.reader_principal_arns, str) or not isinstance(
            self.reader_principal_arns, Sequence
        ):
            raise PropsError("reader_principal_arns", "must be a list of IAM role ARNs")
        object.__setattr__(self, "reader_principal_arns", tuple(self.reader_principal_arns))
        check_each("reader_principal_arns", self.reader_principal_arns, ROLE_ARN, "an IAM role ARN")
        check_unique("reader_principal_arns", self.reader_principal_arns)

    def environment(self) -> dict[str, str]:
        """The workers' tunables as their environment variables (a plain module's: Terraform expressions)."""
        dry_run: Any = (
            cdk.Token.as_string(cdk.Fn.conditional(self.dry_run, "true", "false"))
            if is_token(self.dry_run)
            else ("true" if self.dry_run else "false")
        )
        return {
            str(settings.RECONCILE_DRY_RUN.env): dry_run,
            str(settings.RECONCILE_MAX_REMOVALS.env): _text(self.max_removals),
            str(settings.RECONCILE_MAX_REMOVAL_PERCENT.env): _text(self.max_removal_percent),
            str(settings.RECONCILE_RETRY_PERIOD_SECONDS.env): _text(self.retry_period_seconds),
            str(settings.RECONCILE_QUARANTINE_DAYS.env): _text(self.quarantine_days),
        }


def _text(value: Any) -> str:
    """An environment value: a number's text, or a Terraform number kept as a reference (not a float)."""
    return cdk.Token.as_string(value) if is_token(value) else str(value)
