"""Lambda entry point: SQS batch in, partial batch response out.

Thin wiring around ``engine.Engine`` (what to do with each instance) and
``aws.AwsGateway`` (how to reach AWS).  The engine decides per group, so the
outcomes are computed first; the Powertools batch processor then reports
exactly the records whose outcome is a retry.  Records that can never succeed
(malformed, past their deadline) go to the DLQ with their reason and count as
processed, so they never hold back a batch or loop.

The reconciliation's two functions use the same artifact with their own entry points, ``planner_handler``
(the schedule's target) and ``reconcile_handler`` (the reconcile queue's consumer): docs/reconcile.md.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Final

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from . import settings as S
from .adapter import AwsGateway, ClientFactory, boto3_client_factory
from .adapter.reconcile import build_reconciler
from .decisions import DEAD_LETTER, DEADLINE_EXCEEDED, RETRY, Outcome, RecordVerdict, decide_record, key_of
from .engine import Engine
from .errors import MalformedMessageError
from .events import StateChange, parse_body
from .reconcile.inventory import decode_work_item
from .reconcile.worker import WORK_ITEMS, Reconciler, ReconcilerConfig, ReconcileReport
from .settings import Settings

# Metric names of the batch layer (the engine's outcome codes are metrics too).
DEAD_LETTERED: Final = "DeadLettered"
MALFORMED: Final = "Malformed"
RETRY_SCHEDULED: Final = "RetryScheduled"

logger = Logger()
metrics = Metrics()


class RetryLaterError(Exception):
    """Marks a record as failed, so the ESM hands it back after its visibility timeout."""


class DomainJoinApp:
    """One container's handler: parses a batch, lets the engine decide, then settles every record.

    Parameters:
        settings: from ``Settings.from_env``.
        gateway: the adapter (``adapter.AwsGateway``); also used for the DLQ and visibility timeouts.
        clock: seconds since the epoch.

    Example::

        app = DomainJoinApp(Settings.from_env(os.environ), AwsGateway(gateway_settings))
        response = app.handle(sqs_event, lambda_context)  # {"batchItemFailures": [...]}
    """

    def __init__(
        self, settings: Settings, gateway: AwsGateway, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.gateway = gateway
        self._clock = clock
        self._engine = Engine(
            gateway,
            clock,
            settings.spoke_role_name,
            settings.max_command_attempts,
            partition=gateway.partition,
        )

    def handle(self, event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
        records = [SQSRecord(raw) for raw in event.get("Records", [])]
        changes: dict[str, StateChange] = {}
        malformed: dict[str, str] = {}
        for record in records:
            try:
                changes[record.message_id] = replace(
                    parse_body(record.body),
                    message_id=record.message_id,
                    receive_count=int(record.attributes.approximate_receive_count or 1),
                )
            except MalformedMessageError as exc:
                malformed[record.message_id] = exc.reason

        try:
            by_key = self._engine.process(changes.values(), self._lease_seconds(context))
        except Exception as exc:  # a bug must not lose the batch: everything is retried
            logger.exception("engine failed")
            by_key = {
                key_of(c): Outcome("UnexpectedError", retry=True, detail=type(exc).__name__)
                for c in changes.values()
            }

        failed = self._settle(records, changes, malformed, by_key)

        def record_handler(record: SQSRecord) -> None:
            if record.message_id in failed:
                raise RetryLaterError(failed[record.message_id])

        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )

    def _lease_seconds(self, context: LambdaContext) -> int:
        """The configured lease, or ``settings.ledger_lease_seconds`` of this invocation's own timeout
        (the time it may still run, read at its start)."""
        if self.settings.ledger_lease_seconds:
            return self.settings.ledger_lease_seconds
        timeout = int(S.FUNCTION_TIMEOUT_SECONDS.high or 900)  # when the context cannot say: the maximum
        try:
            remaining = math.ceil(context.get_remaining_time_in_millis() / 1000)
        except (AttributeError, TypeError):
            remaining = 0
        return S.ledger_lease_seconds(remaining if remaining > 0 else timeout)

    def _settle(
        self,
        records: list[SQSRecord],
        changes: Mapping[str, StateChange],
        malformed: Mapping[str, str],
        by_key: Mapping[tuple[str, str], Outcome],
    ) -> dict[str, str]:
        """Dead-letter what can never succeed, back off what may; returns the failed message ids."""
        now = self._clock()
        to_dead_letter: list[tuple[str, dict[str, Any], str]] = []
        retries: list[tuple[SQSRecord, RecordVerdict]] = []
        for record in records:
            message_id = record.message_id
            if message_id in malformed:
                metrics.add_metric(name=MALFORMED, unit=MetricUnit.Count, value=1)
                logger.warning(
                    "malformed message", extra={"message_id": message_id, "reason": malformed[message_id]}
                )
                to_dead_letter.append(self._dead_letter_body(record, MALFORMED, malformed[message_id]))
                continue
            change = changes[message_id]
            outcome = by_key.get(key_of(change), Outcome("UnexpectedError", retry=True, detail="no outcome"))
            metrics.add_metric(name=outcome.code, unit=MetricUnit.Count, value=1)
            sent_ms = record.attributes.sent_timestamp
            verdict = decide_record(
                outcome,
                int(sent_ms) / 1000 if sent_ms else now,
                int(record.attributes.approximate_receive_count or 1),
                now,
                self.settings.readiness_deadline_seconds,
            )
            if verdict.action == DEAD_LETTER:
                if verdict.code == DEADLINE_EXCEEDED:
                    logger.warning(
                        "deadline passed",
                        extra={
                            "message_id": message_id,
                            "instance_id": change.instance_id,
                            "account": change.account,
                            "region": change.region,
                            "reason": verdict.reason,
                        },
                    )
                to_dead_letter.append(self._dead_letter_body(record, verdict.code, verdict.reason))
            elif verdict.action == RETRY:
                retries.append((record, verdict))

        failed: dict[str, str] = {}
        if to_dead_letter:
            refused = self.gateway.dead_letter(to_dead_letter)
            for message_id, body, _ in to_dead_letter:
                if message_id in refused:
                    failed[message_id] = "DLQ refused the message"
                else:
                    metrics.add_metric(name=DEAD_LETTERED, unit=MetricUnit.Count, value=1)
                    logger.info("dead-lettered", extra={"message_id": message_id, "reason": body["reason"]})
        if retries:
            self._schedule_retries(retries)
            for record, verdict in retries:
                failed[record.message_id] = verdict.reason
                metrics.add_metric(name=RETRY_SCHEDULED, unit=MetricUnit.Count, value=1)
        return failed

    def _schedule_retries(self, retries: list[tuple[SQSRecord, RecordVerdict]]) -> None:
        by_queue: dict[str, list[tuple[str, int]]] = {}
        for record, verdict in retries:
            queue_url = self.gateway.queue_url(record.event_source_arn)
            by_queue.setdefault(queue_url, []).append((record.receipt_handle, verdict.delay))
            logger.info(
                "retry scheduled",
                extra={
                    "message_id": record.message_id,
                    "receive_count": record.attributes.approximate_receive_count,
                    "visibility_timeout": verdict.delay,
                    "reason": verdict.reason,
                },
            )
        for queue_url, timeouts in by_queue.items():
            try:
                refused = self.gateway.change_visibility(queue_url, timeouts)
            except Exception:
                logger.exception("could not change visibility; the queue's default applies")
                continue
            if refused:
                logger.warning("SQS refused visibility changes", extra={"refused": refused})

    def _dead_letter_body(self, record: SQSRecord, code: str, reason: str) -> tuple[str, dict[str, Any], str]:
        body = {
            "reasonCode": code,
            "reason": reason,
            "messageId": record.message_id,
            "receiveCount": record.attributes.approximate_receive_count,
            "sentTimestamp": record.attributes.sent_timestamp,
            "eventSourceArn": record.event_source_arn,
            "originalBody": record.body,
        }
        return (record.message_id, body, code)


_app: DomainJoinApp | None = None


def build_app(
    context: LambdaContext,
    env: Mapping[str, str] | None = None,
    client_factory: ClientFactory = boto3_client_factory,
    clock: Callable[[], float] = time.time,
) -> DomainJoinApp:
    settings = Settings.from_env(os.environ if env is None else env)
    gateway = AwsGateway(
        settings,
        client_factory=client_factory,
        clock=clock,
    )
    return DomainJoinApp(settings, gateway, clock)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    global _app
    if _app is None:  # once per container: clients and caches then live across warm invocations
        _app = build_app(context)
    return _app.handle(event, context)


# --- reconciliation (docs/reconcile.md): same artifact, own functions and roles -------------------------
_reconciler: Reconciler | None = None


def _reconcile_log(message: str, fields: Mapping[str, Any]) -> None:
    logger.info(message, extra=dict(fields))


def _build_reconciler() -> Reconciler:
    global _reconciler
    if _reconciler is None:  # once per container
        _reconciler = build_reconciler(ReconcilerConfig.from_env(os.environ), log=_reconcile_log)
    return _reconciler


def _count(report: ReconcileReport) -> None:
    for name, value in report.metrics().items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def planner_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The schedule's target: one message per (enrolled account, Region) on the reconcile queue, reports
    of stamps no enrolled account covers, and the next ``DomainJoin-Inventory`` request.

    ``event`` is ignored except ``{"dryRun": true}`` (the schedule sets it when the landing zone says so).
    Returns ``{"workItems": N, "reports": N, "errors": [...]}``.
    """
    reconciler = _build_reconciler()
    dry_run = bool(event.get("dryRun")) or reconciler.settings.dry_run
    report = reconciler.fan_out(dry_run=dry_run)
    _count(report)
    metrics.add_metric(name=WORK_ITEMS, unit=MetricUnit.Count, value=report.work_items)
    return {"workItems": report.work_items, "reports": report.count("report"), "errors": report.errors}


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def reconcile_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The reconcile queue's consumer: each record is one work item (``reconcile.inventory`` format),
    reconciled by ``Reconciler.run``; a record that fails is reported in ``batchItemFailures`` (retried,
    then dead-lettered by the queue's redrive policy)."""
    reconciler = _build_reconciler()
    failures: list[dict[str, str]] = []
    for raw in event.get("Records", []):
        record = SQSRecord(raw)
        try:
            report = reconciler.run(decode_work_item(record.body), dry_run=reconciler.settings.dry_run)
        except Exception:  # one item must not hold back the others; the queue retries it
            logger.exception("work item failed", extra={"message_id": record.message_id})
            failures.append({"itemIdentifier": record.message_id})
            continue
        _count(report)
        if report.errors:
            logger.warning("work item partly failed", extra={"errors": report.errors})
            failures.append({"itemIdentifier": record.message_id})
    return {"batchItemFailures": failures}
