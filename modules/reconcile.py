"""Reconciliation: the hub's scheduled repair loop (docs/reconcile.md).

A schedule (an EventBridge rule on the default bus; hourly by default, can be disabled) invokes the planner,
which writes one work item per (enrolled account, Region) to the reconcile queue (KMS-encrypted, with a
DLQ); the worker function consumes it in parallel.  Planner and worker are the handler's artifact with
their own entry points (``domain_join.app.planner_handler`` / ``reconcile_handler``) and their own
least-privilege roles.  The inventory bucket holds ``DomainJoin-Inventory``'s Run Command output
(versioned, KMS-encrypted, public access blocked, TLS and account only, expired after
``inventory_retention_days``).  Two alarms: removals skipped by the threshold, and orphans that persist
over ``orphan_alarm_runs`` consecutive runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import CloudwatchEventTarget
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from cdktf_cdktf_provider_aws.lambda_permission import LambdaPermission
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_bucket_lifecycle_configuration import (
    S3BucketLifecycleConfiguration,
    S3BucketLifecycleConfigurationRule,
    S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload,
    S3BucketLifecycleConfigurationRuleExpiration,
    S3BucketLifecycleConfigurationRuleFilter,
    S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration,
)
from cdktf_cdktf_provider_aws.s3_bucket_ownership_controls import (
    S3BucketOwnershipControls,
    S3BucketOwnershipControlsRule,
)
from cdktf_cdktf_provider_aws.s3_bucket_policy import S3BucketPolicy
from cdktf_cdktf_provider_aws.s3_bucket_public_access_block import S3BucketPublicAccessBlock
from cdktf_cdktf_provider_aws.s3_bucket_server_side_encryption_configuration import (
    S3BucketServerSideEncryptionConfigurationA,
    S3BucketServerSideEncryptionConfigurationRuleA,
    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA,
)
from cdktf_cdktf_provider_aws.s3_bucket_versioning import (
    S3BucketVersioningA,
    S3BucketVersioningVersioningConfiguration,
)
from constructs import Construct

from handlers.domain_join import contract, settings
from handlers.domain_join.reconcile.worker import ORPHANED, SKIPPED_BY_THRESHOLD

from . import arns, grants, iam, naming
from .alarms import metric_alarm
from .cdk import Fn, Op, Token, is_token
from .function import Function, FunctionProps, ServiceRole, ServiceRoleProps
from .queue import MAX_RETENTION_SECONDS, DeadLetterQueue, Queue, QueueProps
from .reconcile_props import ReconcileProps
from .tools_host import tools_host_role_name
from .validation import PropsError

if TYPE_CHECKING:
    from .hub import Hub

PLANNER_HANDLER = "domain_join.app.planner_handler"
WORKER_HANDLER = "domain_join.app.reconcile_handler"
WORKER_VISIBILITY_FACTOR = 6  # AWS guidance for SQS event sources
WORKER_MAX_RECEIVE_COUNT = 3
PLANNER_MEMORY_MIB = 1024
WORKER_MEMORY_MIB = 256


@dataclass(frozen=True, kw_only=True)
class HubView:
    """What the reconciliation reads of its hub, and nothing more: names, ARNs and settings it shares.

    Two sources satisfy it: the real `Hub` of a landing zone (`HubView.of(hub)`, Python values and the
    hub's own resources), and the plain `reconciliation` module, whose variables are the plain hub module's
    outputs (`kms_key_arn`, `queue_arn`, `queue_url`, `handler_environment`, `powertools_layer_arn`, the
    table names) and the hub's own inputs (`name`, the enrolled accounts, `forwarder_regions`, the tools
    host's tag, ...), as Terraform values (docs/reconcile.md, "Plain Terraform").
    """

    name: str
    """The hub's `name`: every reconciliation resource name derives from it."""
    account_id: str
    """The security account."""
    region: str
    """The hub's home Region."""
    partition: str
    """ARN partition of the home Region."""
    dns_suffix: str
    """DNS suffix of the partition (service endpoints of `kms:ViaService`, Region-bound principals)."""
    forwarder_regions: Sequence[str]
    """The hub's extra Regions (a work item per enrolled account and each hub Region, when its config item
    lists none)."""
    organization_id: str | None
    """The enrolled organization, or None with `principal_account_ids`."""
    principal_account_ids: Sequence[str]
    """The enrolled accounts instead of an organization."""
    kms_key_arn: str
    """The hub key: the reconcile queues, the inventory bucket, the functions' logs and environment."""
    join_queue_arn: str
    """The join queue (synthetic events go there)."""
    join_queue_url: str
    """Its URL (the workers' environment)."""
    config_table_name: str
    """The config table."""
    ledger_table_name: str
    """The ledger table."""
    handler_environment: Mapping[str, str]
    """The handler's environment (settings, tables, no secret): the functions read the same settings."""
    code: Mapping[str, Any]
    """The handler's artifact (`FunctionProps.code`): planner and worker are its other entry points."""
    runtime: str
    """The handler's Lambda runtime."""
    powertools_layer_arn: str
    """The Powertools layer the handler uses."""
    log_retention_days: int
    """Retention of the functions' log groups (the handler's)."""
    alarm_topic_arn: str | None
    """The SNS topic of the hub's alarms, or None (in a plain module a Terraform string, null for none)."""
    tools_host_tag_key: str
    """The tools host's tag key (SendCommand's instance condition)."""
    tools_host_tag_value: str
    """Its value."""
    tools_host_role_arn: str
    """The one role that may write the inventory (the bucket policy)."""
    metrics_namespace: str
    """CloudWatch namespace of the functions' metrics."""
    metric_dimensions: Mapping[str, str]
    """Dimensions every metric of the service carries."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags of every resource."""

    @classmethod
    def of(cls, hub: Hub) -> HubView:
        """The view of a landing zone's hub (its props and its resources)."""
        p = hub.props
        return cls(
            name=p.name,
            account_id=p.account_id,
            region=p.region,
            partition=hub.partition,
            dns_suffix=p.partition_dns_suffix,
            forwarder_regions=p.forwarder_regions,
            organization_id=p.organization_id,
            principal_account_ids=p.principal_account_ids,
            kms_key_arn=hub.key.arn,
            join_queue_arn=hub.queue_arn,
            join_queue_url=hub.queue_url,
            config_table_name=p.config_table_name,
            ledger_table_name=p.ledger_table_name,
            handler_environment=hub.handler_environment,
            code=hub.code,
            runtime=hub.runtime,
            powertools_layer_arn=p.powertools_layer_arn,
            log_retention_days=p.log_retention_days,
            alarm_topic_arn=p.alarm_topic_arn,
            tools_host_tag_key=p.tools_host_tag_key,
            tools_host_tag_value=p.tools_host_tag_value,
            tools_host_role_arn=p.tools_host_role_arn
            or arns.role_arn(hub.partition, p.account_id, tools_host_role_name(p.name)),
            metrics_namespace=hub.metrics_namespace,
            metric_dimensions=hub.metric_dimensions,
            tags=dict(hub.tags),
        )

    def arn(self, service: str, resource: str) -> str:
        """An ARN of the hub's partition, Region and account."""
        return arns.arn(self.partition, service, self.region, self.account_id, resource)

    def principal(self, service: str) -> str:
        """A service principal as seen from the home Region."""
        return arns.service_principal(service, self.region, self.dns_suffix)


class Reconciliation(Construct):
    """Planner, worker, reconcile queue and DLQ, inventory bucket, schedule and alarms, wired into the hub
    that ``hub`` shows (``HubView.of(hub)`` in a landing zone; the plain module's variables otherwise).

    Attributes: ``planner``, ``worker`` (``Function``), ``queue``, ``dlq`` (``Queue``), ``bucket``
    (``S3Bucket``), ``rule`` (the schedule), ``threshold_alarm``, ``orphans_alarm``.
    """

    def __init__(self, scope: Construct, construct_id: str, hub: HubView, props: ReconcileProps) -> None:
        super().__init__(scope, construct_id)
        self.hub, self.props = hub, props
        self.partition, name = hub.partition, hub.name
        self.tags = dict(hub.tags)
        if not any(is_token(v) for v in (name, hub.account_id, hub.region)):
            problem = naming.name_problem(
                naming.S3_BUCKET, naming.inventory_bucket_name(name, hub.account_id, hub.region)
            )
            if problem is not None:
                raise PropsError("name", f"inventory bucket: {problem}")
        self.bucket_name = naming.inventory_bucket_name(name, hub.account_id, hub.region)
        self.bucket_arn = f"arn:{self.partition}:s3:::{self.bucket_name}"
        self.queue_arn = hub.arn("sqs", naming.reconcile_queue_name(name))
        self.dlq_arn = hub.arn("sqs", naming.reconcile_dead_letter_queue_name(name))
        self.planner_role = self._role(
            "planner", naming.reconcile_planner_name(name), "plans the reconciliation"
        )
        self.worker_role = self._role(
            "worker", naming.reconcile_worker_name(name), "reconciles one account/Region"
        )
        self.dlq, self.queue = self._queues()
        self.bucket = self._bucket()
        self._grant()
        self.planner = self._function("planner", PLANNER_HANDLER, naming.reconcile_planner_name(name), 2)
        self.worker = self._function(
            "worker", WORKER_HANDLER, naming.reconcile_worker_name(name), props.worker_concurrency
        )
        self.trigger = self.worker.add_queue_trigger(
            "worker-trigger",
            queue_arn=self.queue.arn,
            batch_size=10,
            maximum_batching_window_seconds=1,
            depends_on=[self.worker_role.policy],
        )
        self.rule = self._schedule()
        self.threshold_alarm = self._alarm(
            "threshold-alarm",
            "threshold",
            SKIPPED_BY_THRESHOLD,
            "ec2-domain-join: orphan removals skipped by the reconciliation's threshold (too many at once)",
            evaluation_periods=1,
            period=300,
        )
        self.orphans_alarm = self._alarm(
            "orphans-alarm",
            "orphans",
            ORPHANED,
            "ec2-domain-join: orphaned computer objects or ledger records found run after run",
            evaluation_periods=props.orphan_alarm_runs,
            period=props.orphan_alarm_period_seconds,
        )
        self.dlq.alarm_on_messages(
            "dlq-alarm",
            alarm_name=naming.reconcile_alarm_name(name, "dead-letters"),
            description="ec2-domain-join: reconcile work items that failed every attempt",
            topic_arn=hub.alarm_topic_arn,
            tags=self.tags,
        )

    # --- parts -----------------------------------------------------------------------
    def _role(self, construct_id: str, role_name: str, what: str) -> ServiceRole:
        return ServiceRole(
            self,
            f"{construct_id}-role",
            ServiceRoleProps(
                name=role_name,
                description=f"ec2-domain-join reconciliation: {what}",
                service=self.hub.principal("lambda"),
                trust_sid="LambdaAssumesRole",
                account_id=self.hub.account_id,
                policy_name=role_name,
                tags=self.tags,
            ),
        )

    def _queues(self) -> tuple[Queue, Queue]:
        name = self.hub.name
        key = self.hub.kms_key_arn
        dlq = Queue(
            self,
            "dead-letter-queue",
            QueueProps(
                name=naming.reconcile_dead_letter_queue_name(name),
                arn=self.dlq_arn,
                kms_key_arn=key,
                message_retention_seconds=MAX_RETENTION_SECONDS,
                redrive_sources=[self.queue_arn],
                tags=self.tags,
            ),
        )
        queue = Queue(
            self,
            "queue",
            QueueProps(
                name=naming.reconcile_queue_name(name),
                arn=self.queue_arn,
                kms_key_arn=key,
                visibility_timeout_seconds=self._visibility_timeout_seconds(),
                message_retention_seconds=4 * 24 * 3600,
                receive_wait_time_seconds=20,
                dead_letter_queue=DeadLetterQueue(
                    arn=self.dlq_arn, max_receive_count=WORKER_MAX_RECEIVE_COUNT
                ),
                depends_on=[dlq.queue],
                tags=self.tags,
            ),
        )
        return dlq, queue

    def _visibility_timeout_seconds(self) -> Any:
        """The reconcile queue's visibility timeout: WORKER_VISIBILITY_FACTOR x the functions' timeout."""
        timeout = self.props.function_timeout_seconds
        if is_token(timeout):  # plain module: a Terraform expression of the variable
            return Token.as_number(Op.mul(WORKER_VISIBILITY_FACTOR, timeout))
        return WORKER_VISIBILITY_FACTOR * timeout

    def _bucket(self) -> S3Bucket:
        """The inventory bucket: versioned, KMS-encrypted (the hub's key), private, TLS and account only."""
        hub = self.hub
        tags = self.tags or None
        bucket = S3Bucket(self, "bucket", bucket=self.bucket_name, force_destroy=False, tags=tags)
        S3BucketVersioningA(
            self,
            "bucket-versioning",
            bucket=bucket.id,
            versioning_configuration=S3BucketVersioningVersioningConfiguration(status="Enabled"),
        )
        S3BucketServerSideEncryptionConfigurationA(
            self,
            "bucket-encryption",
            bucket=bucket.id,
            rule=[
                S3BucketServerSideEncryptionConfigurationRuleA(
                    apply_server_side_encryption_by_default=(
                        S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                            sse_algorithm="aws:kms", kms_master_key_id=hub.kms_key_arn
                        )
                    ),
                    bucket_key_enabled=True,
                )
            ],
        )
        S3BucketPublicAccessBlock(
            self,
            "bucket-public-access-block",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
        )
        S3BucketOwnershipControls(
            self,
            "bucket-ownership",
            bucket=bucket.id,
            rule=S3BucketOwnershipControlsRule(object_ownership="BucketOwnerEnforced"),
        )
        days = self.props.inventory_retention_days
        S3BucketLifecycleConfiguration(
            self,
            "bucket-lifecycle",
            bucket=bucket.id,
            rule=[
                S3BucketLifecycleConfigurationRule(
                    id="expire-inventory",
                    status="Enabled",
                    filter=[S3BucketLifecycleConfigurationRuleFilter(prefix="")],
                    expiration=[S3BucketLifecycleConfigurationRuleExpiration(days=days)],
                    noncurrent_version_expiration=[
                        S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(noncurrent_days=days)
                    ],
                    abort_incomplete_multipart_upload=[
                        S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(
                            days_after_initiation=1
                        )
                    ],
                )
            ],
        )
        objects = f"{self.bucket_arn}/*"
        # The one writer: the tools host's role (Run Command's output of DomainJoin-Inventory).
        self.tools_host_role_arn = hub.tools_host_role_arn
        policy = iam.policy_document(
            [
                iam.deny_insecure_transport([self.bucket_arn, objects], "s3:*"),
                iam.resource_statement(
                    "DenyWritesButToolsHost",
                    "*",
                    ["s3:PutObject"],
                    objects,
                    conditions={"ArnNotEquals": {"aws:PrincipalArn": self.tools_host_role_arn}},
                    effect="Deny",
                ),
                iam.resource_statement(
                    "DenyOtherAccounts",
                    "*",
                    ["s3:*"],
                    [self.bucket_arn, objects],
                    conditions={"StringNotEquals": {"aws:PrincipalAccount": hub.account_id}},
                    effect="Deny",
                ),
            ]
        )
        S3BucketPolicy(self, "bucket-policy", bucket=bucket.id, policy=iam.to_json(policy))
        return bucket

    def _grant(self) -> None:
        """Least privilege: the planner reads, plans and asks for the inventory; the worker acts."""
        hub, partition = self.hub, self.partition
        config_arn = hub.arn("dynamodb", f"table/{hub.config_table_name}")
        ledger_arn = hub.arn("dynamodb", f"table/{hub.ledger_table_name}")
        planner_log = naming.log_group_name(naming.reconcile_planner_name(hub.name))
        worker_log = naming.log_group_name(naming.reconcile_worker_name(hub.name))
        # The hub key encrypts the queues, the tables and the bucket: its ARN is known only after apply (the
        # policies stay plain JSON), so keys of this account, used only through those services.
        via = [f"{service}.{hub.region}.{hub.dns_suffix}" for service in ("sqs", "dynamodb", "s3")]
        use_key = iam.statement(
            "UseHubKeyThroughServices",
            ["kms:Decrypt", "kms:GenerateDataKey"],
            hub.arn("kms", "key/*"),
            conditions={"StringEquals": {"kms:ViaService": via}},
        )
        tools_host = (hub.tools_host_tag_key, hub.tools_host_tag_value)
        self.planner_role.add_to_policy(
            *grants.grant_logs_write(partition, hub.account_id, hub.region, planner_log),
            *grants.grant_xray_write(),
            iam.statement("ScanConfigAndLedger", ["dynamodb:Scan"], [config_arn, ledger_arn]),
            iam.statement("QueueWorkItems", ["sqs:SendMessage"], self.queue_arn),
            use_key,
            # ListCommands supports no resource-level permissions.
            iam.statement("FindInventoryCommands", ["ssm:ListCommands"], "*"),
            iam.statement(
                "ListInventoryOutput",
                ["s3:ListBucket"],
                self.bucket_arn,
                conditions={"StringLike": {"s3:prefix": [f"{contract.INVENTORY_OUTPUT_PREFIX}*"]}},
            ),
            iam.statement(
                "ReadInventoryOutput",
                ["s3:GetObject"],
                f"{self.bucket_arn}/{contract.INVENTORY_OUTPUT_PREFIX}*",
            ),
            *grants.grant_tools_host_discovery(),
            *grants.grant_send_command_to_tools_host(
                partition,
                [hub.arn("ssm", f"document/{contract.INVENTORY_DOCUMENT}")],
                hub.account_id,
                hub.region,
                *tools_host,
            ),
        )
        self.worker_role.add_to_policy(
            *grants.grant_logs_write(partition, hub.account_id, hub.region, worker_log),
            *grants.grant_xray_write(),
            *grants.grant_queue_consume(self.queue_arn),
            iam.statement("SendSyntheticEvents", ["sqs:SendMessage"], hub.join_queue_arn),
            use_key,
            iam.statement("ReadConfigItems", ["dynamodb:BatchGetItem"], config_arn),
            # A work item too large for one message comes without its ledger records: the worker scans them.
            iam.statement("ScanLedger", ["dynamodb:Scan"], ledger_arn),
            iam.statement(
                "RecordRetriesAndQuarantines", ["dynamodb:UpdateItem", "dynamodb:BatchWriteItem"], ledger_arn
            ),
            *grants.grant_tools_host_discovery(),
            *grants.grant_send_command_to_tools_host(
                partition,
                [hub.arn("ssm", f"document/{contract.REMOVE_DOCUMENT}")],
                hub.account_id,
                hub.region,
                *tools_host,
            ),
            # Only the spokes' describe-only reader role, never their execution role.
            *grants.grant_assume_spoke_role(
                partition,
                naming.reconcile_reader_role_name(hub.name),
                hub.organization_id,
                hub.principal_account_ids,
                sid="AssumeSpokeReaderRole",
            ),
        )

    def _environment(self) -> dict[str, str]:
        hub = self.hub
        regions: Any = [hub.region, *hub.forwarder_regions] if not is_token(hub.forwarder_regions) else None
        hub_regions = (
            ",".join(regions)
            if regions is not None
            else Fn.join(",", Token.as_list(Fn.concat([[hub.region], hub.forwarder_regions])))
        )
        own = {
            **self.props.environment(),
            contract.ENV_JOIN_QUEUE_URL: hub.join_queue_url,
            contract.ENV_RECONCILE_QUEUE_URL: self.queue.url,
            contract.ENV_INVENTORY_BUCKET: self.bucket_name,
            contract.ENV_HUB_REGIONS: hub_regions,
            str(settings.RECONCILE_READER_ROLE_NAME.env): naming.reconcile_reader_role_name(hub.name),
        }
        if not isinstance(hub.handler_environment, Mapping):  # a plain module's map variable
            merged: dict[str, str] = Token.as_string_map(Fn.merge([hub.handler_environment, own]))
            return merged
        return {**hub.handler_environment, **own}

    def _function(self, construct_id: str, handler: str, function_name: str, concurrency: int) -> Function:
        hub = self.hub
        role = self.planner_role if construct_id == "planner" else self.worker_role
        return Function(
            self,
            construct_id,
            FunctionProps(
                name=function_name,
                description=f"ec2-domain-join reconciliation: {construct_id}",
                role_arn=role.arn,
                handler=handler,
                runtime=hub.runtime,
                code=hub.code,
                log_group_name=naming.log_group_name(function_name),
                kms_key_arn=hub.kms_key_arn,
                environment=self._environment(),
                layers=[hub.powertools_layer_arn],
                timeout_seconds=self.props.function_timeout_seconds,
                # The planner holds the whole ledger and inventory of a run (~150 MB at 170,000 instances).
                memory_mib=PLANNER_MEMORY_MIB if construct_id == "planner" else WORKER_MEMORY_MIB,
                reserved_concurrency=concurrency,
                log_retention_days=hub.log_retention_days,
                depends_on=[role.policy],
                tags=self.tags,
            ),
        )

    def _schedule(self) -> CloudwatchEventRule:
        enabled, dry_run = self.props.enabled, self.props.dry_run
        rule = CloudwatchEventRule(
            self,
            "schedule",
            name=naming.reconcile_schedule_rule_name(self.hub.name),
            description="ec2-domain-join: start the reconciliation of fleet, ledger and directory",
            schedule_expression=self.props.schedule,
            state=(
                Token.as_string(Fn.conditional(enabled, "ENABLED", "DISABLED"))
                if is_token(enabled)
                else ("ENABLED" if enabled else "DISABLED")
            ),
            tags=self.tags or None,
        )
        CloudwatchEventTarget(
            self,
            "schedule-target",
            rule=rule.name,
            target_id="reconcile-planner",
            arn=self.planner.arn,
            input=(
                Token.as_string(Fn.jsonencode({"dryRun": dry_run}))
                if is_token(dry_run)
                else json.dumps({"dryRun": dry_run})
            ),
        )
        LambdaPermission(
            self,
            "schedule-permission",
            statement_id="ScheduleInvokesPlanner",
            action="lambda:InvokeFunction",
            function_name=self.planner.function.function_name,
            principal=self.hub.principal("events"),
            source_arn=rule.arn,
        )
        return rule

    def _alarm(
        self,
        construct_id: str,
        what: str,
        metric: str,
        description: str,
        *,
        evaluation_periods: int,
        period: int,
    ) -> CloudwatchMetricAlarm:
        return metric_alarm(
            self,
            construct_id,
            alarm_name=naming.reconcile_alarm_name(self.hub.name, what),
            description=description,
            namespace=self.hub.metrics_namespace,
            metric_name=metric,
            dimensions=self.hub.metric_dimensions,
            statistic="Sum",
            period=period,
            threshold=0,
            evaluation_periods=evaluation_periods,
            topic_arn=self.hub.alarm_topic_arn,
            tags=self.tags or None,
        )
