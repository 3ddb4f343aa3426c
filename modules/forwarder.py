"""Region forwarder: the security account's bus in one extra Region, relayed to the home queue.

EventBridge cannot target an SQS queue in another Region, so the bus feeds an
encrypted SNS topic that the home Region's join queue subscribes to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cdktf_cdktf_provider_aws.cloudwatch_event_bus import CloudwatchEventBus
from cdktf_cdktf_provider_aws.cloudwatch_event_bus_policy import CloudwatchEventBusPolicy
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.sns_topic import SnsTopic
from cdktf_cdktf_provider_aws.sns_topic_policy import SnsTopicPolicy
from cdktf_cdktf_provider_aws.sns_topic_subscription import SnsTopicSubscription
from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue
from cdktf_cdktf_provider_aws.sqs_queue_policy import SqsQueuePolicy
from constructs import Construct

from handlers.domain_join import contract

from . import iam, naming
from .cdk import is_token
from .events import command_failure_pattern_json, ec2_state_change_pattern_json
from .hub import bus_policy_document
from .patterns import ACCOUNT_ID, REGION, RESOURCE_NAME
from .rules import Delivery, rule_with_target
from .validation import PropsError, check_pattern, check_principals, check_range


@dataclass(frozen=True)
class RegionForwarderProps:
    """Inputs of one Region forwarder (same account as the hub)."""

    account_id: str
    """Security account id."""
    region: str
    """The extra Region this forwarder serves."""
    home_region: str
    """The hub's Region (where the join queue is)."""
    organization_id: str | None = None
    principal_account_ids: Sequence[str] = ()
    name: str = naming.DEFAULT_NAME
    """Must equal the hub's `name`: queue and topic names derive from it."""
    dlq_retention_seconds: int = 14 * 24 * 3600
    kms_key_deletion_window_days: int = 30
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_pattern("account_id", self.account_id, ACCOUNT_ID, "a 12-digit account id")
        check_pattern("region", self.region, REGION, "an AWS Region name")
        check_pattern("home_region", self.home_region, REGION, "an AWS Region name")
        if not is_token(self.region) and self.region == self.home_region:
            raise PropsError("region", "a forwarder is for an extra Region, not the home Region")
        check_principals(self.organization_id, self.principal_account_ids)
        check_pattern("name", self.name, RESOURCE_NAME, "a resource name")
        check_range("dlq_retention_seconds", self.dlq_retention_seconds, 60, 1209600)
        check_range("kms_key_deletion_window_days", self.kms_key_deletion_window_days, 7, 30)


class RegionForwarder(Construct):
    def __init__(self, scope: Construct, construct_id: str, props: RegionForwarderProps) -> None:
        super().__init__(scope, construct_id)
        p = props
        account, region, name = p.account_id, p.region, p.name
        tags = dict(p.tags) or None
        self.bus_arn = naming.bus_arn(account, region, name)
        self.topic_arn = naming.forwarder_topic_arn(account, region, name)
        self.home_queue_arn = naming.join_queue_arn(account, p.home_region, name)
        self.dead_letter_queue_arn = f"arn:aws:sqs:{region}:{account}:{name}-forwarder-dlq"
        rule_sources = {"bus": name, "default": "default"}
        rule_arns = [
            naming.bus_rule_arn(account, region, bus, rule_name(name, source))
            for source, bus in rule_sources.items()
            for rule_name in (naming.rule_name, naming.command_rule_name)
        ]

        self.key_policy_document = iam.policy_document(
            [
                iam.resource_statement(
                    "AccountAdministersKey", {"AWS": f"arn:aws:iam::{account}:root"}, ["kms:*"], "*"
                ),
                iam.resource_statement(
                    "EventBridgePublishesToTopic",
                    {"Service": "events.amazonaws.com"},
                    ["kms:Decrypt", "kms:GenerateDataKey"],
                    "*",
                    conditions={"StringEquals": {"aws:SourceAccount": account}},
                ),
            ]
        )
        key = KmsKey(
            self,
            "key",
            description=f"ec2-domain-join forwarder topic ({region})",
            enable_key_rotation=True,
            deletion_window_in_days=p.kms_key_deletion_window_days,
            policy=iam.to_json(self.key_policy_document),
            tags=tags,
        )
        KmsAlias(self, "key-alias", name=f"alias/{name}-forwarder", target_key_id=key.key_id)

        self.topic = SnsTopic(
            self, "topic", name=naming.forwarder_topic_name(name), kms_master_key_id=key.arn, tags=tags
        )
        self.topic_policy_document = iam.policy_document(
            [
                iam.resource_statement(
                    "EventBridgeRulesPublish",
                    {"Service": "events.amazonaws.com"},
                    ["sns:Publish"],
                    self.topic_arn,
                    conditions={"ArnEquals": {"aws:SourceArn": rule_arns}},
                ),
                iam.deny_insecure_transport(self.topic_arn, "sns:Publish"),
            ]
        )
        SnsTopicPolicy(
            self, "topic-policy", arn=self.topic.arn, policy=iam.to_json(self.topic_policy_document)
        )

        # Failed deliveries (EventBridge -> topic, topic -> home queue) land here.
        dlq = SqsQueue(
            self,
            "dead-letter-queue",
            name=f"{name}-forwarder-dlq",
            sqs_managed_sse_enabled=True,
            message_retention_seconds=p.dlq_retention_seconds,
            tags=tags,
        )
        self.dead_letter_queue_policy_document = iam.policy_document(
            [
                iam.deny_insecure_transport(self.dead_letter_queue_arn, "sqs:*"),
                iam.resource_statement(
                    "FailedDeliveriesLandHere",
                    {"Service": ["events.amazonaws.com", "sns.amazonaws.com"]},
                    ["sqs:SendMessage"],
                    self.dead_letter_queue_arn,
                    conditions={"ArnEquals": {"aws:SourceArn": [*rule_arns, self.topic_arn]}},
                ),
            ]
        )
        SqsQueuePolicy(
            self,
            "dead-letter-queue-policy",
            queue_url=dlq.url,
            policy=iam.to_json(self.dead_letter_queue_policy_document),
        )

        self.subscription = SnsTopicSubscription(
            self,
            "home-queue-subscription",
            topic_arn=self.topic.arn,
            protocol="sqs",
            endpoint=self.home_queue_arn,
            raw_message_delivery=True,
            redrive_policy=iam.to_json({"deadLetterTargetArn": self.dead_letter_queue_arn}),
            depends_on=[dlq],
        )

        self.bus = CloudwatchEventBus(self, "bus", name=name, tags=tags)
        self.bus_policy_document = bus_policy_document(
            self.bus_arn, p.organization_id, p.principal_account_ids
        )
        CloudwatchEventBusPolicy(
            self, "bus-policy", event_bus_name=self.bus.name, policy=iam.to_json(self.bus_policy_document)
        )
        delivery = Delivery(target_id="forwarder-topic", arn=self.topic.arn, dead_letter_arn=dlq.arn)
        for source in rule_sources:
            bus_name = self.bus.name if source == "bus" else "default"
            rule_with_target(
                self,
                f"rule-{source}",
                name=naming.rule_name(name, source),
                description="EC2 instances entering running or terminated: relay to the home Region",
                event_bus_name=bus_name,
                event_pattern=ec2_state_change_pattern_json(),
                tags=tags,
                delivery=delivery,
            )
            # Join failures: of spokes' instances (bus) and of this account's own (default bus).
            rule_with_target(
                self,
                f"command-rule-{source}",
                name=naming.command_rule_name(name, source),
                description="Run Command failures of DomainJoin-Join: relay to the home Region",
                event_bus_name=bus_name,
                event_pattern=command_failure_pattern_json([contract.JOIN_DOCUMENT]),
                tags=tags,
                delivery=delivery,
            )
