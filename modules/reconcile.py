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
from .cdk import Fn, is_token
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


class Reconciliation(Construct):
    """Planner, worker, reconcile queue and DLQ, inventory bucket, schedule and alarms, wired into ``hub``.

    Attributes: ``planner``, ``worker`` (``Function``), ``queue``, ``dlq`` (``Queue``), ``bucket``
    (``S3Bucket``), ``rule`` (the schedule), ``threshold_alarm``, ``orphans_alarm``.
    """

    def __init__(self, scope: Construct, construct_id: str, hub: Hub, props: ReconcileProps) -> None:
        super().__init__(scope, construct_id)
        self.hub, self.props = hub, props
        hp = hub.props
        self.partition, name = hub.partition, hp.name
        self.tags = dict(hub.tags)
        if not any(is_token(v) for v in (name, hp.account_id, hp.region)):
            problem = naming.name_problem(
                naming.S3_BUCKET, naming.inventory_bucket_name(name, hp.account_id, hp.region)
            )
            if problem is not None:
                raise PropsError("name", f"inventory bucket: {problem}")
        self.bucket_name = naming.inventory_bucket_name(name, hp.account_id, hp.region)
        self.bucket_arn = f"arn:{self.partition}:s3:::{self.bucket_name}"
        self.queue_arn = hub._arn("sqs", naming.reconcile_queue_name(name))
        self.dlq_arn = hub._arn("sqs", naming.reconcile_dead_letter_queue_name(name))
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
            topic_arn=hp.alarm_topic_arn,
            tags=self.tags,
        )

    # --- parts -----------------------------------------------------------------------
    def _role(self, construct_id: str, role_name: str, what: str) -> ServiceRole:
        hp = self.hub.props
        return ServiceRole(
            self,
            f"{construct_id}-role",
            ServiceRoleProps(
                name=role_name,
                description=f"ec2-domain-join reconciliation: {what}",
                service=self.hub._principal("lambda"),
                trust_sid="LambdaAssumesRole",
                account_id=hp.account_id,
                policy_name=role_name,
                tags=self.tags,
            ),
        )

    def _queues(self) -> tuple[Queue, Queue]:
        name = self.hub.props.name
        key = self.hub.key.arn
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
                visibility_timeout_seconds=WORKER_VISIBILITY_FACTOR * self.props.function_timeout_seconds,
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

    def _bucket(self) -> S3Bucket:
        """The inventory bucket: versioned, KMS-encrypted (the hub's key), private, TLS and account only."""
        hp = self.hub.props
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
                            sse_algorithm="aws:kms", kms_master_key_id=self.hub.key.arn
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
        self.tools_host_role_arn = hp.tools_host_role_arn or arns.role_arn(
            self.partition, hp.account_id, tools_host_role_name(hp.name)
        )
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
                    conditions={"StringNotEquals": {"aws:PrincipalAccount": hp.account_id}},
                    effect="Deny",
                ),
            ]
        )
        S3BucketPolicy(self, "bucket-policy", bucket=bucket.id, policy=iam.to_json(policy))
        return bucket

    def _grant(self) -> None:
        """Least privilege: the planner reads, plans and asks for the inventory; the worker acts."""
        hub, hp, partition = self.hub, self.hub.props, self.partition
        config_arn = hub._arn("dynamodb", f"table/{hp.config_table_name}")
        ledger_arn = hub._arn("dynamodb", f"table/{hp.ledger_table_name}")
        planner_log = naming.log_group_name(naming.reconcile_planner_name(hp.name))
        worker_log = naming.log_group_name(naming.reconcile_worker_name(hp.name))
        # The hub key encrypts the queues, the tables and the bucket: its ARN is known only after apply (the
        # policies stay plain JSON), so keys of this account, used only through those services.
        via = [f"{service}.{hp.region}.{hp.partition_dns_suffix}" for service in ("sqs", "dynamodb", "s3")]
        use_key = iam.statement(
            "UseHubKeyThroughServices",
            ["kms:Decrypt", "kms:GenerateDataKey"],
            hub._arn("kms", "key/*"),
            conditions={"StringEquals": {"kms:ViaService": via}},
        )
        tools_host = (hp.tools_host_tag_key, hp.tools_host_tag_value)
        self.planner_role.add_to_policy(
            *grants.grant_logs_write(partition, hp.account_id, hp.region, planner_log),
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
                [hub._arn("ssm", f"document/{contract.INVENTORY_DOCUMENT}")],
                hp.account_id,
                hp.region,
                *tools_host,
            ),
        )
        self.worker_role.add_to_policy(
            *grants.grant_logs_write(partition, hp.account_id, hp.region, worker_log),
            *grants.grant_xray_write(),
            *grants.grant_queue_consume(self.queue_arn),
            iam.statement("SendSyntheticEvents", ["sqs:SendMessage"], hub.queue_arn),
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
                [hub._arn("ssm", f"document/{contract.REMOVE_DOCUMENT}")],
                hp.account_id,
                hp.region,
                *tools_host,
            ),
            # Only the spokes' describe-only reader role, never their execution role.
            *(
                {**assume, "Sid": "AssumeSpokeReaderRole"}
                for assume in grants.grant_assume_spoke_role(
                    partition,
                    naming.reconcile_reader_role_name(hp.name),
                    hp.organization_id,
                    hp.principal_account_ids,
                )
            ),
        )

    def _environment(self) -> dict[str, str]:
        hub, hp = self.hub, self.hub.props
        regions: Any = [hp.region, *hp.forwarder_regions] if not is_token(hp.forwarder_regions) else None
        hub_regions = (
            ",".join(regions)
            if regions is not None
            else Fn.join(",", Fn.concat([[hp.region], hp.forwarder_regions]))
        )
        return {
            **hub.handler_environment,
            **self.props.environment(),
            contract.ENV_JOIN_QUEUE_URL: hub.queue_url,
            contract.ENV_RECONCILE_QUEUE_URL: self.queue.url,
            contract.ENV_INVENTORY_BUCKET: self.bucket_name,
            contract.ENV_HUB_REGIONS: hub_regions,
            str(settings.RECONCILE_READER_ROLE_NAME.env): naming.reconcile_reader_role_name(hp.name),
        }

    def _function(self, construct_id: str, handler: str, function_name: str, concurrency: int) -> Function:
        hub, hp = self.hub, self.hub.props
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
                kms_key_arn=hub.key.arn,
                environment=self._environment(),
                layers=[hp.powertools_layer_arn],
                timeout_seconds=self.props.function_timeout_seconds,
                # The planner holds the whole ledger and inventory of a run (~150 MB at 170,000 instances).
                memory_mib=PLANNER_MEMORY_MIB if construct_id == "planner" else WORKER_MEMORY_MIB,
                reserved_concurrency=concurrency,
                log_retention_days=hp.log_retention_days,
                depends_on=[role.policy],
                tags=self.tags,
            ),
        )

    def _schedule(self) -> CloudwatchEventRule:
        hp = self.hub.props
        rule = CloudwatchEventRule(
            self,
            "schedule",
            name=naming.reconcile_schedule_rule_name(hp.name),
            description="ec2-domain-join: start the reconciliation of fleet, ledger and directory",
            schedule_expression=self.props.schedule,
            state="ENABLED" if self.props.enabled else "DISABLED",
            tags=self.tags or None,
        )
        CloudwatchEventTarget(
            self,
            "schedule-target",
            rule=rule.name,
            target_id="reconcile-planner",
            arn=self.planner.arn,
            input=json.dumps({"dryRun": self.props.dry_run}),
        )
        LambdaPermission(
            self,
            "schedule-permission",
            statement_id="ScheduleInvokesPlanner",
            action="lambda:InvokeFunction",
            function_name=self.planner.function.function_name,
            principal=self.hub._principal("events"),
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
            alarm_name=naming.reconcile_alarm_name(self.hub.props.name, what),
            description=description,
            namespace=self.hub.metrics_namespace,
            metric_name=metric,
            dimensions=self.hub.metric_dimensions,
            statistic="Sum",
            period=period,
            threshold=0,
            evaluation_periods=evaluation_periods,
            topic_arn=self.hub.props.alarm_topic_arn,
            tags=self.tags or None,
        )
