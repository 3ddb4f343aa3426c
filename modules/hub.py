"""Hub: everything of ec2-domain-join that lives in the security account's home Region.

Bus (organization-scoped) and rules -> join queue (delay, DLQ) -> Lambda handler,
with its config and ledger tables, the tools-host documents and a DLQ alarm.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cdktf_cdktf_provider_aws.appautoscaling_policy import (
    AppautoscalingPolicy,
    AppautoscalingPolicyTargetTrackingScalingPolicyConfiguration,
    AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecification,
)
from cdktf_cdktf_provider_aws.appautoscaling_target import AppautoscalingTarget
from cdktf_cdktf_provider_aws.cloudwatch_event_bus import CloudwatchEventBus
from cdktf_cdktf_provider_aws.cloudwatch_event_bus_policy import CloudwatchEventBusPolicy
from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from cdktf_cdktf_provider_aws.dynamodb_table import (
    DynamodbTable,
    DynamodbTableAttribute,
    DynamodbTablePointInTimeRecovery,
    DynamodbTableServerSideEncryption,
    DynamodbTableTtl,
)
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.lambda_event_source_mapping import (
    LambdaEventSourceMapping,
    LambdaEventSourceMappingScalingConfig,
)
from cdktf_cdktf_provider_aws.lambda_function import (
    LambdaFunction,
    LambdaFunctionEnvironment,
    LambdaFunctionLoggingConfig,
    LambdaFunctionTracingConfig,
)
from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue
from cdktf_cdktf_provider_aws.sqs_queue_policy import SqsQueuePolicy
from cdktf_cdktf_provider_aws.ssm_document import SsmDocument
from constructs import Construct

from handlers.domain_join import contract

from . import documents, iam, naming
from .artifact import LocalArtifact, S3Artifact
from .cdk import Fn, Op, TerraformAsset, Token, is_token
from .events import command_failure_pattern_json, ec2_state_change_pattern_json
from .grants import (
    grant_assume_spoke_role,
    grant_dynamodb_read,
    grant_ledger_write,
    grant_logs_write,
    grant_queue_consume,
    grant_queue_send,
    grant_send_command_to_tools_host,
    grant_tools_host_discovery,
    grant_xray_write,
)
from .patterns import ACCOUNT_ID, REGION, RESOURCE_NAME, ROLE_NAME, TAG_KEY
from .rules import Delivery, rule_with_target
from .validation import PropsError, check_each, check_pattern, check_principals, check_range, check_unique

POWERTOOLS_LAYER_ACCOUNT = "017000801446"
POWERTOOLS_LAYER_NAME = "AWSLambdaPowertoolsPythonV3-python313-x86_64"
LAMBDA_HANDLER = "domain_join.app.lambda_handler"
LAMBDA_RUNTIME = "python3.13"
VISIBILITY_TIMEOUT_FACTOR = 6  # AWS guidance for SQS event sources
LEDGER_LEASE_FACTOR = 2  # >= 1 invocation, < the visibility timeout
# The handler keeps a message that waits for readiness by raising its visibility (60 s * 2^(n-1), at most
# HANDLER_BACKOFF_CAP_SECONDS) until READINESS_DEADLINE_SECONDS, then dead-letters it itself, with a reason.
# SQS must not get there first: the backoff needs ceil(deadline / cap) + 4 receives (its four short steps
# fill the first 900 s), so RECEIVE_COUNT_MARGIN = 6 leaves two for failed invocations.
HANDLER_BACKOFF_CAP_SECONDS = 900
RECEIVE_COUNT_MARGIN = 6
MIN_RECEIVE_COUNT = 10
BILLING_MODES = ("PAY_PER_REQUEST", "PROVISIONED")
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557)


@dataclass(frozen=True)
class HubProps:
    """Inputs of the hub.  Defaults are the secure, recommended ones."""

    account_id: str
    """Security account id (12 digits): the hub's own account."""
    region: str
    """Home Region: where the queue, handler and tables live."""
    artifact: LocalArtifact | S3Artifact
    """The handler zip: built at synth (`LocalArtifact`) or already in S3."""
    organization_id: str | None = None
    """Organization whose accounts may put events on the bus and whose spoke roles the handler may assume."""
    principal_account_ids: Sequence[str] = ()
    """Alternative to `organization_id`: the exact account list."""
    name: str = naming.DEFAULT_NAME
    forwarder_regions: Sequence[str] = ()
    """Extra Regions whose forwarder topics may send to the join queue."""
    join_delay_seconds: int = 300
    function_timeout_seconds: int = 120
    function_memory_mib: int = 256
    reserved_concurrency: int = 5
    batch_size: int = 10
    maximum_batching_window_seconds: int = 5
    log_retention_days: int = 365
    dlq_retention_seconds: int = 14 * 24 * 3600
    powertools_layer_version: int = 36
    tools_host_tag_key: str = "ADToolsHost"
    tools_host_tag_value: str = "true"
    spoke_role_name: str = contract.DEFAULT_SPOKE_ROLE_NAME
    spoke_role_external_id: str | None = None
    readiness_deadline_seconds: int = 3600
    max_command_attempts: int = 3
    """How many times the handler sends a failed join or remove before the ledger marks it failed."""
    config_cache_ttl_seconds: int = 300
    create_config_table: bool = True
    config_table_name: str = "domain-join-config"
    config_table_billing_mode: str = "PAY_PER_REQUEST"
    config_table_min_capacity: int = 5
    config_table_max_capacity: int = 50
    ledger_table_name: str = "domain-join-ledger"
    alarm_topic_arn: str | None = None
    kms_key_deletion_window_days: int = 30
    scripts_dir: Path = documents.SCRIPTS_DIR
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_pattern("account_id", self.account_id, ACCOUNT_ID, "a 12-digit account id")
        check_pattern("region", self.region, REGION, "an AWS Region name")
        check_principals(self.organization_id, self.principal_account_ids)
        check_pattern("name", self.name, RESOURCE_NAME, "a resource name")
        check_each("forwarder_regions", self.forwarder_regions, REGION, "an AWS Region name")
        check_unique("forwarder_regions", self.forwarder_regions)
        if not is_token(self.forwarder_regions) and self.region in self.forwarder_regions:
            raise PropsError("forwarder_regions", f"must not contain the home Region {self.region}")
        check_range("join_delay_seconds", self.join_delay_seconds, 0, 900)
        check_range("function_timeout_seconds", self.function_timeout_seconds, 10, 900)
        check_range("function_memory_mib", self.function_memory_mib, 128, 10240)
        check_range("reserved_concurrency", self.reserved_concurrency, 2, 1000)
        check_range("batch_size", self.batch_size, 1, 10)
        check_range("maximum_batching_window_seconds", self.maximum_batching_window_seconds, 0, 300)
        if not is_token(self.log_retention_days) and self.log_retention_days not in LOG_RETENTION_DAYS:
            raise PropsError(
                "log_retention_days", f"{self.log_retention_days!r} is not one CloudWatch accepts"
            )
        check_range("dlq_retention_seconds", self.dlq_retention_seconds, 60, 1209600)
        check_range("powertools_layer_version", self.powertools_layer_version, 1, 10000)
        check_pattern("tools_host_tag_key", self.tools_host_tag_key, TAG_KEY, "a tag key")
        check_pattern("spoke_role_name", self.spoke_role_name, ROLE_NAME, "an IAM role name")
        check_range("readiness_deadline_seconds", self.readiness_deadline_seconds, 60, 86400)
        check_range("max_command_attempts", self.max_command_attempts, 1, 10)
        check_range("config_cache_ttl_seconds", self.config_cache_ttl_seconds, 0, 3600)
        check_pattern("config_table_name", self.config_table_name, RESOURCE_NAME, "a table name")
        check_pattern("ledger_table_name", self.ledger_table_name, RESOURCE_NAME, "a table name")
        if self.config_table_billing_mode not in BILLING_MODES:
            raise PropsError("config_table_billing_mode", f"must be one of {', '.join(BILLING_MODES)}")
        check_range("config_table_min_capacity", self.config_table_min_capacity, 1, 40000)
        check_range("config_table_max_capacity", self.config_table_max_capacity, 1, 40000)
        check_range("kms_key_deletion_window_days", self.kms_key_deletion_window_days, 7, 30)

    @property
    def ledger_lease_seconds(self) -> Any:
        """How long a ledger claim shuts out other invocations: outlives one invocation, not a redelivery."""
        return _times(LEDGER_LEASE_FACTOR, self.function_timeout_seconds)

    @property
    def max_receive_count(self) -> Any:
        """Receives before SQS dead-letters a message: more than the handler's backoff needs to reach its own
        readiness deadline, so an expired message reaches the DLQ from the handler, with a reason."""
        deadline = self.readiness_deadline_seconds
        if is_token(deadline):  # plain module: a Terraform expression of the variable
            receives = Op.add(Fn.ceil(Op.div(deadline, HANDLER_BACKOFF_CAP_SECONDS)), RECEIVE_COUNT_MARGIN)
            return Token.as_number(Fn.max([MIN_RECEIVE_COUNT, receives]))
        receives = math.ceil(deadline / HANDLER_BACKOFF_CAP_SECONDS) + RECEIVE_COUNT_MARGIN
        return max(MIN_RECEIVE_COUNT, receives)

    @property
    def visibility_timeout_seconds(self) -> Any:
        """6x the function timeout: a message is never redelivered while in flight, and comes back only
        after the lease (2x) of a container that died is over."""
        return _times(VISIBILITY_TIMEOUT_FACTOR, self.function_timeout_seconds)


def _as_text(number: Any) -> str:
    """Environment values are strings; a number token must stay a reference, not a float literal."""
    return Token.as_string(number) if is_token(number) else str(number)


def _times(factor: int, seconds: Any) -> Any:
    """factor x seconds; a Terraform expression when the seconds are a variable (plain module)."""
    if is_token(seconds):
        return Token.as_number(Op.mul(factor, seconds))
    return factor * seconds


class Hub(Construct):
    """The hub of one landing zone (DESIGN.md "Deployment units")."""

    def __init__(self, scope: Construct, construct_id: str, props: HubProps) -> None:
        super().__init__(scope, construct_id)
        self.props = props
        p = props
        account, region, name = p.account_id, p.region, p.name
        tags = dict(p.tags) or None

        self.bus_name = name
        self.bus_arn = naming.bus_arn(account, region, name)
        self.queue_arn = naming.join_queue_arn(account, region, name)
        self.dead_letter_queue_arn = f"arn:aws:sqs:{region}:{account}:{name}-dlq"
        self.function_name = name
        self.lambda_role_arn = naming.handler_role_arn(account, name)
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.config_table_name = p.config_table_name
        self.ledger_table_name = p.ledger_table_name
        config_table_arn = f"arn:aws:dynamodb:{region}:{account}:table/{p.config_table_name}"
        ledger_table_arn = f"arn:aws:dynamodb:{region}:{account}:table/{p.ledger_table_name}"
        document_arns = [
            f"arn:aws:ssm:{region}:{account}:document/{doc}"
            for doc in (contract.PRESTAGE_DOCUMENT, contract.REMOVE_DOCUMENT)
        ]
        rule_sources = {"bus": name, "default": "default"}
        # Run Command failures: spokes forward their joins' to the bus; the default bus sees this account's
        # own commands (tools-host prestage/remove, and the joins of its own instances).
        command_documents = {
            "bus": (contract.JOIN_DOCUMENT,),
            "default": (contract.PRESTAGE_DOCUMENT, contract.REMOVE_DOCUMENT, contract.JOIN_DOCUMENT),
        }
        rule_arns = [
            naming.bus_rule_arn(account, region, bus, rule_name(name, source))
            for source, bus in rule_sources.items()
            for rule_name in (naming.rule_name, naming.command_rule_name)
        ]

        # --- handler role (created first: the key policy names it) ---
        self.lambda_role = IamRole(
            self,
            "handler-role",
            name=naming.handler_role_name(name),
            description="ec2-domain-join handler: join/leave orchestration",
            assume_role_policy=iam.service_trust_policy("LambdaAssumesRole", "lambda.amazonaws.com", account),
            tags=tags,
        )
        self.lambda_policy_document = iam.policy_document(
            [
                *grant_logs_write(account, region, self.log_group_name),
                *grant_xray_write(),
                *grant_queue_consume(self.queue_arn),
                *grant_queue_send([self.dead_letter_queue_arn]),
                *grant_dynamodb_read([config_table_arn, ledger_table_arn]),
                *grant_ledger_write(ledger_table_arn),
                *grant_tools_host_discovery(),
                *grant_send_command_to_tools_host(
                    document_arns, account, region, p.tools_host_tag_key, p.tools_host_tag_value
                ),
                *grant_assume_spoke_role(p.spoke_role_name, p.organization_id, p.principal_account_ids),
            ]
        )
        role_policy = IamRolePolicy(
            self,
            "handler-policy",
            name="domain-join-handler",
            role=self.lambda_role.name,
            policy=iam.to_json(self.lambda_policy_document),
        )

        # --- one customer managed key for queues, tables, logs and environment ---
        self.key_policy_document = iam.policy_document(
            [
                iam.resource_statement(
                    "AccountAdministersKey", {"AWS": f"arn:aws:iam::{account}:root"}, ["kms:*"], "*"
                ),
                iam.resource_statement(
                    "HandlerUsesKey",
                    {"AWS": self.lambda_role_arn},
                    ["kms:Decrypt", "kms:GenerateDataKey"],
                    "*",
                ),
                iam.resource_statement(
                    "ProducersEncryptQueueMessages",
                    {"Service": ["events.amazonaws.com", "sns.amazonaws.com"]},
                    ["kms:Decrypt", "kms:GenerateDataKey"],
                    "*",
                    conditions={"StringEquals": {"aws:SourceAccount": account}},
                ),
                iam.resource_statement(
                    "LogsEncryptHandlerLogs",
                    {"Service": f"logs.{region}.amazonaws.com"},
                    [
                        "kms:Encrypt",
                        "kms:Decrypt",
                        "kms:ReEncrypt*",
                        "kms:GenerateDataKey*",
                        "kms:DescribeKey",
                    ],
                    "*",
                    conditions={
                        "ArnEquals": {
                            "kms:EncryptionContext:aws:logs:arn": (
                                f"arn:aws:logs:{region}:{account}:log-group:{self.log_group_name}"
                            )
                        }
                    },
                ),
            ]
        )
        self.key = KmsKey(
            self,
            "key",
            description="ec2-domain-join: join queue, DLQ, tables, handler logs and environment",
            enable_key_rotation=True,
            deletion_window_in_days=p.kms_key_deletion_window_days,
            policy=iam.to_json(self.key_policy_document),
            depends_on=[self.lambda_role],
            tags=tags,
        )
        KmsAlias(self, "key-alias", name=f"alias/{name}", target_key_id=self.key.key_id)
        self.kms_key_arn = self.key.arn

        # --- queues ---
        self.dead_letter_queue = SqsQueue(
            self,
            "dead-letter-queue",
            name=f"{name}-dlq",
            kms_master_key_id=self.key.arn,
            kms_data_key_reuse_period_seconds=3600,
            message_retention_seconds=p.dlq_retention_seconds,
            redrive_allow_policy=iam.to_json(
                {"redrivePermission": "byQueue", "sourceQueueArns": [self.queue_arn]}
            ),
            tags=tags,
        )
        self.queue = SqsQueue(
            self,
            "join-queue",
            name=naming.join_queue_name(name),
            delay_seconds=p.join_delay_seconds,
            visibility_timeout_seconds=p.visibility_timeout_seconds,
            message_retention_seconds=4 * 24 * 3600,
            receive_wait_time_seconds=20,
            kms_master_key_id=self.key.arn,
            kms_data_key_reuse_period_seconds=3600,
            redrive_policy=iam.to_json(
                {"deadLetterTargetArn": self.dead_letter_queue_arn, "maxReceiveCount": p.max_receive_count}
            ),
            depends_on=[self.dead_letter_queue],
            tags=tags,
        )
        self.queue_url = self.queue.url
        if is_token(p.forwarder_regions):  # plain module: Regions known only at plan
            forwarder_topics = [naming.forwarder_topic_arn(account, "*", name)]
            topic_condition = "ArnLike"
        else:
            forwarder_topics = [naming.forwarder_topic_arn(account, r, name) for r in p.forwarder_regions]
            topic_condition = "ArnEquals"
        queue_statements = [
            iam.deny_insecure_transport(self.queue_arn, "sqs:*"),
            iam.resource_statement(
                "EventBridgeRulesSend",
                {"Service": "events.amazonaws.com"},
                ["sqs:SendMessage"],
                self.queue_arn,
                conditions={"ArnEquals": {"aws:SourceArn": rule_arns}},
            ),
        ]
        if forwarder_topics:
            queue_statements.append(
                iam.resource_statement(
                    "ForwarderTopicsSend",
                    {"Service": "sns.amazonaws.com"},
                    ["sqs:SendMessage"],
                    self.queue_arn,
                    conditions={topic_condition: {"aws:SourceArn": forwarder_topics}},
                )
            )
        self.queue_policy_document = iam.policy_document(queue_statements)
        SqsQueuePolicy(
            self,
            "join-queue-policy",
            queue_url=self.queue.url,
            policy=iam.to_json(self.queue_policy_document),
        )
        self.dead_letter_queue_policy_document = iam.policy_document(
            [
                iam.deny_insecure_transport(self.dead_letter_queue_arn, "sqs:*"),
                iam.resource_statement(
                    "EventBridgeRulesDeadLetter",
                    {"Service": "events.amazonaws.com"},
                    ["sqs:SendMessage"],
                    self.dead_letter_queue_arn,
                    conditions={"ArnEquals": {"aws:SourceArn": rule_arns}},
                ),
            ]
        )
        SqsQueuePolicy(
            self,
            "dead-letter-queue-policy",
            queue_url=self.dead_letter_queue.url,
            policy=iam.to_json(self.dead_letter_queue_policy_document),
        )

        # --- bus, its organization-scoped policy, and the rules feeding the queue ---
        self.bus = CloudwatchEventBus(self, "bus", name=name, tags=tags)
        self.bus_policy_document = bus_policy_document(
            self.bus_arn, p.organization_id, p.principal_account_ids
        )
        CloudwatchEventBusPolicy(
            self, "bus-policy", event_bus_name=self.bus.name, policy=iam.to_json(self.bus_policy_document)
        )
        self.rules: dict[str, CloudwatchEventRule] = {}
        self.command_rules: dict[str, CloudwatchEventRule] = {}
        delivery = Delivery(
            target_id="join-queue", arn=self.queue.arn, dead_letter_arn=self.dead_letter_queue.arn
        )
        for source in rule_sources:
            bus_name = self.bus.name if source == "bus" else "default"
            self.rules[source] = rule_with_target(
                self,
                f"rule-{source}",
                name=naming.rule_name(name, source),
                description="EC2 instances entering running or terminated: join or leave the domain",
                event_bus_name=bus_name,
                event_pattern=ec2_state_change_pattern_json(),
                tags=tags,
                delivery=delivery,
            )
            self.command_rules[source] = rule_with_target(
                self,
                f"command-rule-{source}",
                name=naming.command_rule_name(name, source),
                description="Run Command failures of the domain-join documents: retry or give up",
                event_bus_name=bus_name,
                event_pattern=command_failure_pattern_json(command_documents[source]),
                tags=tags,
                delivery=delivery,
            )

        # --- tables ---
        if is_token(p.create_config_table):  # plain module: decided at plan through count
            self.config_table: DynamodbTable | None = self._table(
                "config-table", p.config_table_name, contract.CONFIG_TABLE_KEY, tags, ttl=False
            )
            self.config_table.count = Token.as_number(Fn.conditional(p.create_config_table, 1, 0))
        elif p.create_config_table:
            self.config_table = self._table(
                "config-table", p.config_table_name, contract.CONFIG_TABLE_KEY, tags, ttl=False
            )
            if p.config_table_billing_mode == "PROVISIONED":
                self._autoscale(self.config_table)
        else:
            self.config_table = None
        self.ledger_table = self._table(
            "ledger-table", p.ledger_table_name, contract.LEDGER_TABLE_KEY, tags, ttl=True, on_demand=True
        )

        # --- tools-host documents ---
        self.documents = {
            spec.name: SsmDocument(
                self,
                f"document-{spec.name}",
                name=spec.name,
                document_type="Command",
                document_format="JSON",
                target_type="/AWS::EC2::Instance",
                content=documents.terraform_literal(documents.document_json(spec, p.scripts_dir)),
                tags=tags,
            )
            for spec in (documents.PRESTAGE, documents.REMOVE)
        }

        # --- the handler ---
        self.log_group = CloudwatchLogGroup(
            self,
            "log-group",
            name=self.log_group_name,
            retention_in_days=p.log_retention_days,
            kms_key_id=self.key.arn,
            tags=tags,
        )
        code: dict[str, Any]
        if isinstance(p.artifact, LocalArtifact):
            asset = TerraformAsset(self, "artifact", path=str(p.artifact.path))
            code = {"filename": asset.path, "source_code_hash": p.artifact.source_code_hash}
        else:
            code = {"s3_bucket": p.artifact.bucket, "s3_key": p.artifact.key}
            if p.artifact.object_version:
                code["s3_object_version"] = p.artifact.object_version
        environment = {
            contract.ENV_CONFIG_TABLE: p.config_table_name,
            contract.ENV_LEDGER_TABLE: p.ledger_table_name,
            contract.ENV_DEAD_LETTER_QUEUE_URL: self.dead_letter_queue.url,
            contract.ENV_TOOLS_HOST_TAG_KEY: p.tools_host_tag_key,
            contract.ENV_TOOLS_HOST_TAG_VALUE: p.tools_host_tag_value,
            contract.ENV_READINESS_DEADLINE_SECONDS: _as_text(p.readiness_deadline_seconds),
            contract.ENV_SPOKE_ROLE_NAME: p.spoke_role_name,
            contract.ENV_MAX_COMMAND_ATTEMPTS: _as_text(p.max_command_attempts),
            contract.ENV_CONFIG_CACHE_TTL_SECONDS: str(p.config_cache_ttl_seconds),
            contract.ENV_LEDGER_LEASE_SECONDS: _as_text(p.ledger_lease_seconds),
            "POWERTOOLS_SERVICE_NAME": "ec2-domain-join",
            "POWERTOOLS_METRICS_NAMESPACE": "Ec2DomainJoin",
        }
        if p.spoke_role_external_id:
            environment[contract.ENV_SPOKE_ROLE_EXTERNAL_ID] = p.spoke_role_external_id
        self.function = LambdaFunction(
            self,
            "handler",
            function_name=self.function_name,
            description="ec2-domain-join: joins EC2 instances to AD, removes them on termination",
            role=self.lambda_role.arn,
            handler=LAMBDA_HANDLER,
            runtime=LAMBDA_RUNTIME,
            architectures=["x86_64"],
            timeout=p.function_timeout_seconds,
            memory_size=p.function_memory_mib,
            reserved_concurrent_executions=p.reserved_concurrency,
            layers=[
                f"arn:aws:lambda:{region}:{POWERTOOLS_LAYER_ACCOUNT}:layer:"
                f"{POWERTOOLS_LAYER_NAME}:{p.powertools_layer_version}"
            ],
            tracing_config=LambdaFunctionTracingConfig(mode="Active"),
            logging_config=LambdaFunctionLoggingConfig(log_format="JSON", log_group=self.log_group.name),
            environment=LambdaFunctionEnvironment(variables=environment),
            kms_key_arn=self.key.arn,
            depends_on=[self.log_group, role_policy],
            tags=tags,
            **code,
        )
        self.lambda_function_arn = self.function.arn
        self.event_source_mapping = LambdaEventSourceMapping(
            self,
            "queue-trigger",
            event_source_arn=self.queue.arn,
            function_name=self.function.arn,
            batch_size=p.batch_size,
            maximum_batching_window_in_seconds=p.maximum_batching_window_seconds,
            function_response_types=["ReportBatchItemFailures"],
            scaling_config=LambdaEventSourceMappingScalingConfig(maximum_concurrency=p.reserved_concurrency),
            depends_on=[role_policy],
        )

        # --- alarm: anything in the DLQ needs a human ---
        alarm_actions: Any = None
        if is_token(p.alarm_topic_arn):
            alarm_actions = Fn.compact([str(p.alarm_topic_arn)])  # plain module: "" means no topic
        elif p.alarm_topic_arn:
            alarm_actions = [p.alarm_topic_arn]
        CloudwatchMetricAlarm(
            self,
            "dlq-alarm",
            alarm_name=f"{name}-dead-letters",
            alarm_description="ec2-domain-join: dead-lettered messages (malformed, expired, failing)",
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": self.dead_letter_queue.name},
            statistic="Maximum",
            period=300,
            evaluation_periods=1,
            threshold=0,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=alarm_actions,
            ok_actions=alarm_actions,
            tags=tags,
        )

    def _table(
        self,
        construct_id: str,
        table_name: str,
        key: str,
        tags: dict[str, str] | None,
        *,
        ttl: bool,
        on_demand: bool = False,
    ) -> DynamodbTable:
        provisioned = not on_demand and self.props.config_table_billing_mode == "PROVISIONED"
        capacity = self.props.config_table_min_capacity
        return DynamodbTable(
            self,
            construct_id,
            name=table_name,
            hash_key=key,
            attribute=[DynamodbTableAttribute(name=key, type="S")],
            billing_mode="PROVISIONED" if provisioned else "PAY_PER_REQUEST",
            read_capacity=capacity if provisioned else None,
            write_capacity=capacity if provisioned else None,
            point_in_time_recovery=DynamodbTablePointInTimeRecovery(enabled=True),
            server_side_encryption=DynamodbTableServerSideEncryption(enabled=True, kms_key_arn=self.key.arn),
            ttl=DynamodbTableTtl(enabled=True, attribute_name=contract.LEDGER_TTL_ATTRIBUTE) if ttl else None,
            deletion_protection_enabled=True,
            tags=tags,
        )

    def _autoscale(self, table: DynamodbTable) -> None:
        for dimension, metric in (
            ("Read", "DynamoDBReadCapacityUtilization"),
            ("Write", "DynamoDBWriteCapacityUtilization"),
        ):
            target = AppautoscalingTarget(
                self,
                f"config-table-{dimension.lower()}-target",
                service_namespace="dynamodb",
                resource_id=f"table/{table.name}",
                scalable_dimension=f"dynamodb:table:{dimension}CapacityUnits",
                min_capacity=self.props.config_table_min_capacity,
                max_capacity=self.props.config_table_max_capacity,
            )
            AppautoscalingPolicy(
                self,
                f"config-table-{dimension.lower()}-policy",
                name=f"{table.name}-{dimension.lower()}",
                policy_type="TargetTrackingScaling",
                service_namespace=target.service_namespace,
                resource_id=target.resource_id,
                scalable_dimension=target.scalable_dimension,
                target_tracking_scaling_policy_configuration=AppautoscalingPolicyTargetTrackingScalingPolicyConfiguration(
                    target_value=70,
                    predefined_metric_specification=AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecification(
                        predefined_metric_type=metric
                    ),
                ),
            )


def bus_policy_document(
    bus_arn: str, organization_id: str | None, principal_account_ids: Sequence[str]
) -> dict[str, Any]:
    """Who may put events on a domain-join bus: the organization, or the listed accounts."""
    if organization_id:
        allow = iam.resource_statement(
            "OrganizationPutsEvents",
            "*",
            ["events:PutEvents"],
            bus_arn,
            conditions={"StringEquals": {"aws:PrincipalOrgID": organization_id}},
        )
    else:
        principals: Any = (
            principal_account_ids
            if is_token(principal_account_ids)
            else [f"arn:aws:iam::{a}:root" for a in principal_account_ids]
        )
        allow = iam.resource_statement(
            "AccountsPutEvents", {"AWS": principals}, ["events:PutEvents"], bus_arn
        )
    return iam.policy_document([allow])
