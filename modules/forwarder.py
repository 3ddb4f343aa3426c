"""Region forwarder: the security account's bus in one extra Region, relayed to the home queue.

EventBridge cannot target an SQS queue in another Region, so the bus feeds an
encrypted SNS topic that the home Region's join queue subscribes to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cdktf_cdktf_provider_aws.sns_topic import SnsTopic
from cdktf_cdktf_provider_aws.sns_topic_policy import SnsTopicPolicy
from cdktf_cdktf_provider_aws.sns_topic_subscription import SnsTopicSubscription
from constructs import Construct

from handlers.domain_join import contract

from . import arns, iam, naming
from .bus import OrganizationBus, OrganizationBusProps, Route, flow_rule_arns, route_flow_events
from .cdk import is_token
from .key import EncryptionKey, EncryptionKeyProps, service_user
from .patterns import ACCOUNT_ID, REGION, RESOURCE_NAME
from .queue import MAX_RETENTION_SECONDS, Queue, QueueProps, SendPermission
from .rules import Delivery
from .validation import (
    PropsError,
    check_partition,
    check_pattern,
    check_principals,
    check_range,
    check_same_partition,
)

# Both buses relay EC2 state changes and join failures (of spokes' instances on the bus, of this account's
# own on the default bus) to the home Region.
FORWARDER_ROUTE = Route(
    command_documents=(contract.JOIN_DOCUMENT,),
    state_description="EC2 instances entering running or terminated: relay to the home Region",
    command_description="Run Command failures of DomainJoin-Join: relay to the home Region",
)


@dataclass(frozen=True, kw_only=True)
class RegionForwarderProps:
    """Inputs of one Region forwarder (same account as the hub)."""

    account_id: str
    """Security account id.  Required."""
    region: str
    """The extra Region this forwarder serves.  Required."""
    home_region: str
    """The hub's Region (where the join queue is), in the same partition.  Required."""
    partition: str | None = None
    """ARN partition.  Default None: the Region's (botocore's data); a plain module passes
    `data.aws_partition`."""
    organization_id: str | None = None
    """Organization allowed on the bus.  Give it or `principal_account_ids`."""
    principal_account_ids: Sequence[str] = ()
    """Alternative to `organization_id`: the exact account list.  Default: none."""
    name: str = naming.DEFAULT_NAME
    """Must equal the hub's `name`: queue and topic names derive from it.  Default domain-join."""
    dlq_retention_seconds: int = MAX_RETENTION_SECONDS
    """How long failed deliveries are kept, 60 s-14 days.  Default 14 days."""
    kms_key_deletion_window_days: int = 30
    """7-30 days.  Default 30."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags of every resource.  Default: none."""

    def __post_init__(self) -> None:
        check_pattern("account_id", self.account_id, ACCOUNT_ID, "a 12-digit account id")
        check_pattern("region", self.region, REGION, "an AWS Region name")
        check_pattern("home_region", self.home_region, REGION, "an AWS Region name")
        if not is_token(self.region) and self.region == self.home_region:
            raise PropsError("region", "a forwarder is for an extra Region, not the home Region")
        check_principals(self.organization_id, self.principal_account_ids)
        check_pattern("name", self.name, RESOURCE_NAME, "a resource name")
        check_range("dlq_retention_seconds", self.dlq_retention_seconds, 60, MAX_RETENTION_SECONDS)
        check_range("kms_key_deletion_window_days", self.kms_key_deletion_window_days, 7, 30)
        if self.partition is None:
            check_same_partition("home_region", [self.home_region], check_partition("region", self.region))

    @property
    def arn_partition(self) -> str:
        return self.partition if self.partition is not None else arns.partition_of(self.region)


class RegionForwarder(Construct):
    def __init__(self, scope: Construct, construct_id: str, props: RegionForwarderProps) -> None:
        super().__init__(scope, construct_id)
        p = props
        partition, account, region, name = p.arn_partition, p.account_id, p.region, p.name
        tags = dict(p.tags)
        events, sns = arns.service_principal("events"), arns.service_principal("sns")
        self.bus_arn = naming.bus_arn(partition, account, region, name)
        self.topic_arn = naming.forwarder_topic_arn(partition, account, region, name)
        self.home_queue_arn = naming.join_queue_arn(partition, account, p.home_region, name)
        self.dead_letter_queue_arn = arns.arn(
            partition, "sqs", region, account, naming.forwarder_dead_letter_queue_name(name)
        )
        rule_arns = flow_rule_arns(partition, account, region, name)

        key = EncryptionKey(
            self,
            "key",
            EncryptionKeyProps(
                account_root_arn=arns.account_root_arn(partition, account),
                alias=naming.forwarder_key_alias(name),
                description=f"ec2-domain-join forwarder topic ({region})",
                deletion_window_days=p.kms_key_deletion_window_days,
                users=[
                    service_user(
                        "EventBridgePublishesToTopic",
                        events,
                        ["kms:Decrypt", "kms:GenerateDataKey"],
                        {"StringEquals": {"aws:SourceAccount": account}},
                    )
                ],
                tags=tags,
            ),
        )

        self.topic = SnsTopic(
            self,
            "topic",
            name=naming.forwarder_topic_name(name),
            kms_master_key_id=key.arn,
            tags=tags or None,
        )
        self.topic_policy_document = iam.policy_document(
            [
                iam.resource_statement(
                    "EventBridgeRulesPublish",
                    {"Service": events},
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
        dlq = Queue(
            self,
            "dead-letter-queue",
            QueueProps(
                name=naming.forwarder_dead_letter_queue_name(name),
                arn=self.dead_letter_queue_arn,
                message_retention_seconds=p.dlq_retention_seconds,
                senders=[
                    SendPermission(
                        sid="FailedDeliveriesLandHere",
                        services=[events, sns],
                        source_arns=[*rule_arns, self.topic_arn],
                    )
                ],
                tags=tags,
            ),
        )
        self.dead_letter_queue_policy_document = dlq.policy_document

        self.subscription = SnsTopicSubscription(
            self,
            "home-queue-subscription",
            topic_arn=self.topic.arn,
            protocol="sqs",
            endpoint=self.home_queue_arn,
            raw_message_delivery=True,
            redrive_policy=iam.to_json({"deadLetterTargetArn": self.dead_letter_queue_arn}),
            depends_on=[dlq.queue],
        )

        organization_bus = OrganizationBus(
            self,
            "bus",
            OrganizationBusProps(
                name=name,
                arn=self.bus_arn,
                partition=partition,
                organization_id=p.organization_id,
                principal_account_ids=p.principal_account_ids,
                tags=tags,
            ),
        )
        self.bus = organization_bus.bus
        self.bus_policy_document = organization_bus.policy_document
        route_flow_events(
            self,
            bus=organization_bus,
            routes={"bus": FORWARDER_ROUTE, "default": FORWARDER_ROUTE},
            delivery=Delivery(target_id="forwarder-topic", arn=self.topic.arn, dead_letter_arn=dlq.queue.arn),
        )
