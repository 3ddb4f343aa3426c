"""An SQS queue, encrypted, with its resource policy, its optional dead-letter queue and alarm."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue
from cdktf_cdktf_provider_aws.sqs_queue_policy import SqsQueuePolicy
from constructs import Construct

from . import grants, iam
from .alarms import metric_alarm
from .cdk import MAIN_RESOURCE_ID, is_token, keep_address
from .iam import Statement
from .validation import PropsError, check_range

MAX_RETENTION_SECONDS = 14 * 24 * 3600  # SQS's longest
KMS_DATA_KEY_REUSE_SECONDS = 3600  # one KMS call per hour and producer, not per message


@dataclass(frozen=True, kw_only=True)
class SendPermission:
    """AWS services (EventBridge rules, SNS topics) that may send to the queue, from these sources only."""

    sid: str
    """Statement id.  Required."""
    services: str | Sequence[str]
    """Service principal(s), e.g. `arns.service_principal("events")`.  Required."""
    source_arns: Sequence[str]
    """The rules or topics (`aws:SourceArn`); with `match="ArnLike"` they may hold wildcards.  Required."""
    match: str = "ArnEquals"
    """ArnEquals or ArnLike.  Default ArnEquals."""

    def __post_init__(self) -> None:
        if not self.sid:
            raise PropsError("sid", "must not be empty")
        if self.match not in ("ArnEquals", "ArnLike"):
            raise PropsError("match", f"{self.match!r} is not ArnEquals or ArnLike")


@dataclass(frozen=True, kw_only=True)
class DeadLetterQueue:
    """Where SQS moves a message after `max_receive_count` receives."""

    arn: str
    """The dead-letter queue's ARN.  Required."""
    max_receive_count: Any
    """Receives before a message moves there, 1-1000 (checked by `QueueProps`).  Required."""


@dataclass(frozen=True, kw_only=True)
class QueueProps:
    """Inputs of a `Queue`.  `None` leaves a value at SQS's default."""

    name: str
    """Queue name.  Required."""
    arn: str
    """Its ARN, built from the name (policies need it before the queue exists).  Required."""
    kms_key_arn: str | None = None
    """Customer managed key of the messages.  Default None: SQS-managed encryption (SSE-SQS)."""
    senders: Sequence[SendPermission] = ()
    """Who may send, besides the TLS-only guard every queue policy carries.  Default: nobody."""
    dead_letter_queue: DeadLetterQueue | None = None
    """Redrive target.  Default None: no redrive."""
    redrive_sources: Sequence[str] = ()
    """ARNs of the queues that may use this one as their dead-letter queue.  Default: any of the account."""
    message_retention_seconds: Any = None
    """60 s to 14 days.  Default None: 4 days."""
    delay_seconds: Any = None
    """Delivery delay, 0-900 s.  Default None: 0."""
    visibility_timeout_seconds: Any = None
    """0-43200 s.  Default None: 30 s."""
    receive_wait_time_seconds: int | None = None
    """Long polling, 0-20 s.  Default None: 0."""
    depends_on: Sequence[Any] = ()
    """Resources the queue is created after (e.g. its dead-letter queue).  Default: none."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags of the resources.  Default: none (the provider's default tags still apply)."""

    def __post_init__(self) -> None:
        if not is_token(self.name) and not self.name:
            raise PropsError("name", "must not be empty")
        for name, value, low, high in (
            ("message_retention_seconds", self.message_retention_seconds, 60, MAX_RETENTION_SECONDS),
            ("delay_seconds", self.delay_seconds, 0, 900),
            ("visibility_timeout_seconds", self.visibility_timeout_seconds, 0, 43200),
            ("receive_wait_time_seconds", self.receive_wait_time_seconds, 0, 20),
        ):
            if value is not None:
                check_range(name, value, low, high)
        if self.dead_letter_queue is not None:
            check_range(
                "dead_letter_queue.max_receive_count", self.dead_letter_queue.max_receive_count, 1, 1000
            )


class Queue(Construct):
    """An SQS queue and its policy (TLS only; `senders`).

    The queue keeps the address of a resource with this construct's id; the policy that of `<id>-policy`.
    """

    def __init__(self, scope: Construct, construct_id: str, props: QueueProps) -> None:
        super().__init__(scope, construct_id)
        self.props = props
        self.arn = props.arn
        encryption: dict[str, Any] = (
            {
                "kms_master_key_id": props.kms_key_arn,
                "kms_data_key_reuse_period_seconds": KMS_DATA_KEY_REUSE_SECONDS,
            }
            if props.kms_key_arn
            else {"sqs_managed_sse_enabled": True}
        )
        dlq = props.dead_letter_queue
        self.queue = SqsQueue(
            self,
            MAIN_RESOURCE_ID,
            name=props.name,
            delay_seconds=props.delay_seconds,
            visibility_timeout_seconds=props.visibility_timeout_seconds,
            message_retention_seconds=props.message_retention_seconds,
            receive_wait_time_seconds=props.receive_wait_time_seconds,
            redrive_policy=(
                iam.to_json({"deadLetterTargetArn": dlq.arn, "maxReceiveCount": dlq.max_receive_count})
                if dlq
                else None
            ),
            redrive_allow_policy=(
                iam.to_json({"redrivePermission": "byQueue", "sourceQueueArns": list(props.redrive_sources)})
                if props.redrive_sources
                else None
            ),
            depends_on=list(props.depends_on) or None,
            tags=dict(props.tags) or None,
            **encryption,
        )
        self.url: str = self.queue.url
        self.policy_document = iam.policy_document(
            [
                iam.deny_insecure_transport(self.arn, "sqs:*"),
                *(self._send_statement(sender) for sender in props.senders),
            ]
        )
        self.policy = SqsQueuePolicy(
            self, "policy", queue_url=self.queue.url, policy=iam.to_json(self.policy_document)
        )
        keep_address(self.policy, f"{construct_id}-policy")

    def _send_statement(self, sender: SendPermission) -> Statement:
        services = sender.services if isinstance(sender.services, str) else list(sender.services)
        return iam.resource_statement(
            sender.sid,
            {"Service": services},
            ["sqs:SendMessage"],
            self.arn,
            conditions={sender.match: {"aws:SourceArn": list(sender.source_arns)}},
        )

    def grant_consume(self) -> list[Statement]:
        """For the role of the function this queue triggers."""
        return grants.grant_queue_consume(self.arn)

    def grant_send(self) -> list[Statement]:
        return grants.grant_queue_send([self.arn])

    def alarm_on_messages(
        self, alarm_id: str, *, alarm_name: str, description: str, topic_arn: Any, tags: Mapping[str, str]
    ) -> CloudwatchMetricAlarm:
        """An alarm as soon as any message is visible (for a dead-letter queue: a human must look).

        `topic_arn` is notified on alarm and recovery: None for none; in a plain module a Terraform
        string, "" for none.  The alarm keeps the address of a resource `alarm_id` beside this queue.
        """
        alarm = metric_alarm(
            self,
            "alarm",
            alarm_name=alarm_name,
            description=description,
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": self.queue.name},
            statistic="Maximum",
            period=300,
            threshold=0,
            topic_arn=topic_arn,
            tags=dict(tags) or None,
        )
        keep_address(alarm, alarm_id)
        return alarm
