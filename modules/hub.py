"""Hub: everything of ec2-domain-join that lives in the security account's home Region.

Bus (organization-scoped) and rules -> join queue (delay, DLQ) -> Lambda handler,
with its config and ledger tables, the tools-host documents and a DLQ alarm.
Each AWS concept is a building block (`key`, `queue`, `bus`, `table`, `function`); the hub wires them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from cdktf_cdktf_provider_aws.dynamodb_table import DynamodbTable
from cdktf_cdktf_provider_aws.ssm_document import SsmDocument
from constructs import Construct

from handlers.domain_join import backoff, contract, settings
from handlers.domain_join import patterns as shared_patterns
from handlers.domain_join.decisions import JOIN_FAILED_OUTCOME

from . import arns, documents, grants, iam, naming
from .alarms import metric_alarm
from .artifact import LocalArtifact, S3Artifact
from .bus import OrganizationBus, OrganizationBusProps, Route, flow_rule_arns, route_flow_events
from .cdk import Fn, Op, TerraformAsset, Token, is_token
from .function import Function, FunctionProps, ServiceRole, ServiceRoleProps, check_log_retention
from .key import EncryptionKey, EncryptionKeyProps, sealing_statements, service_user
from .patterns import ACCOUNT_ID, REGION, RESOURCE_NAME, ROLE_ARN, ROLE_NAME, TAG_KEY
from .queue import MAX_RETENTION_SECONDS, DeadLetterQueue, Queue, QueueProps, SendPermission
from .reconcile import HubView, Reconciliation
from .reconcile_props import ReconcileProps
from .rules import Delivery
from .table import BILLING_MODES, EncryptedTable, EncryptedTableProps
from .tools_host import tools_host_role_name
from .validation import (
    PropsError,
    check_each,
    check_partition,
    check_pattern,
    check_principals,
    check_range,
    check_same_partition,
    check_setting,
    check_unique,
    int_default,
    str_default,
)

# The public Powertools for AWS Lambda (Python) layer: published by one account per partition (GovCloud:
# per Region).  The version numbers differ between partitions too: set `powertools_layer_version` there.
POWERTOOLS_LAYER_NAME = "AWSLambdaPowertoolsPythonV3-python313-x86_64"
POWERTOOLS_LAYER_ACCOUNT = "017000801446"  # the commercial partition's
POWERTOOLS_LAYER_ACCOUNTS = {
    "cn-north-1": "498634801083",
    "cn-northwest-1": "498634801083",
    "us-gov-west-1": "165093116878",
    "us-gov-east-1": "165087284144",
}
LAMBDA_HANDLER = "domain_join.app.lambda_handler"
LAMBDA_RUNTIME = "python3.13"
VISIBILITY_TIMEOUT_FACTOR = 6  # AWS guidance for SQS event sources
JOIN_QUEUE_RETENTION_SECONDS = 4 * 24 * 3600
LONG_POLL_SECONDS = 20
EVENTS = "events"
SNS = "sns"
# What CloudWatch Logs needs of the key to encrypt the handler's log group.
LOGS_KEY_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey")
# What the hub's rules pass on, per bus: spokes forward their joins' Run Command failures to the bus; the
# default bus sees this account's own commands (tools-host prestage/remove, and its own instances' joins).
# The handler's metrics (Powertools: namespace, and the `service` dimension of every metric).
SERVICE_NAME = "ec2-domain-join"
METRICS_NAMESPACE = "Ec2DomainJoin"
SERVICE_DIMENSION = "service"  # the dimension Powertools adds to every metric, valued POWERTOOLS_SERVICE_NAME
HUB_ROUTES = {
    "bus": Route(
        command_documents=(contract.JOIN_DOCUMENT,),
        state_description="EC2 instances entering running or terminated: join or leave the domain",
        command_description="Run Command failures of the domain-join documents: retry or give up",
    ),
    "default": Route(
        command_documents=(contract.PRESTAGE_DOCUMENT, contract.REMOVE_DOCUMENT, contract.JOIN_DOCUMENT),
        state_description="EC2 instances entering running or terminated: join or leave the domain",
        command_description="Run Command failures of the domain-join documents: retry or give up",
    ),
}


@dataclass(frozen=True, kw_only=True)
class HubProps:
    """Inputs of the hub.  Defaults are the secure, recommended ones; the tunable settings shared with the
    handler take their defaults and ranges from `handlers/domain_join/settings.py`."""

    account_id: str
    """Security account id (12 digits): the hub's own account.  Required."""
    region: str
    """Home Region: where the queue, handler and tables live.  Required."""
    artifact: LocalArtifact | S3Artifact
    """The handler zip: built at synth (`LocalArtifact`) or already in S3.  Required."""
    partition: str | None = None
    """ARN partition.  Default None: the Region's (botocore's data); a plain module passes
    `data.aws_partition`."""
    dns_suffix: str | None = None
    """DNS suffix of the partition (service principals).  Default None: the Region's."""
    organization_id: str | None = None
    """Organization whose accounts may put events on the bus and whose spoke roles the handler may assume.
    Give it or `principal_account_ids`."""
    principal_account_ids: Sequence[str] = ()
    """Alternative to `organization_id`: the exact account list.  Default: none."""
    name: str = naming.DEFAULT_NAME
    """Name every resource name derives from (bus, queues, function, ...).  Default domain-join."""
    forwarder_regions: Sequence[str] = ()
    """Extra Regions whose forwarder topics may send to the join queue (not the home Region).
    Default: none."""
    join_delay_seconds: int = int_default(settings.JOIN_DELAY_SECONDS)
    """settings.JOIN_DELAY_SECONDS: delivery delay of the join queue."""
    function_timeout_seconds: int = int_default(settings.FUNCTION_TIMEOUT_SECONDS)
    """settings.FUNCTION_TIMEOUT_SECONDS; the ledger lease is 2x and the visibility timeout 6x this."""
    function_memory_mib: int = 256
    """128-10240 MiB.  Default 256."""
    reserved_concurrency: int = 5
    """Handler concurrency (and the queue's most pollers), 2-1000.  Default 5."""
    batch_size: int = 10
    """Messages per invocation, 1-10.  Default 10."""
    maximum_batching_window_seconds: int = 5
    """How long the trigger gathers a batch, 0-300 s.  Default 5."""
    log_retention_days: int = 365
    """Handler log retention, a value CloudWatch accepts.  Default 365."""
    dlq_retention_seconds: int = MAX_RETENTION_SECONDS
    """How long dead letters are kept, 60 s-14 days.  Default 14 days (the longest)."""
    powertools_layer_version: int = int_default(settings.POWERTOOLS_LAYER_VERSION)
    """settings.POWERTOOLS_LAYER_VERSION: version of the public Powertools layer."""
    tools_host_tag_key: str = str_default(settings.TOOLS_HOST_TAG_KEY)
    """settings.TOOLS_HOST_TAG_KEY: tag key of the AD tools host."""
    tools_host_tag_value: str = str_default(settings.TOOLS_HOST_TAG_VALUE)
    """settings.TOOLS_HOST_TAG_VALUE: its value."""
    tools_host_instance_profile_arn: str | None = None
    """settings.TOOLS_HOST_INSTANCE_PROFILE_ARN: a tagged instance is the tools host only with this instance
    profile (`ToolsHost.instance_profile_arn`).  Default None: only `tools_host_instance_id` qualifies; with
    neither, the handler sends no tools-host command (docs/handler.md, "The tools host")."""
    tools_host_instance_id: str | None = None
    """settings.TOOLS_HOST_INSTANCE_ID: an instance accepted as the tools host whatever its profile.
    Default None."""
    spoke_role_name: str = str_default(settings.SPOKE_ROLE_NAME)
    """settings.SPOKE_ROLE_NAME: the execution role in spoke accounts."""
    spoke_role_external_id: str | None = None
    """settings.SPOKE_ROLE_EXTERNAL_ID: sts:ExternalId to present (an identifier, not a secret).
    Default None: none."""
    readiness_deadline_seconds: int = int_default(settings.READINESS_DEADLINE_SECONDS)
    """settings.READINESS_DEADLINE_SECONDS; sets the join queue's maxReceiveCount."""
    max_command_attempts: int = int_default(settings.MAX_COMMAND_ATTEMPTS)
    """settings.MAX_COMMAND_ATTEMPTS: sends of a failed join or remove before the ledger marks it failed."""
    config_cache_ttl_seconds: int = int_default(settings.CONFIG_CACHE_TTL_SECONDS)
    """settings.CONFIG_CACHE_TTL_SECONDS: how long a warm handler keeps config items."""
    create_config_table: bool = True
    """Create the config table (False: use an existing one of that name).  Default True."""
    config_table_name: str = naming.DEFAULT_CONFIG_TABLE_NAME
    """Default domain-join-config."""
    config_table_billing_mode: str = "PAY_PER_REQUEST"
    """PAY_PER_REQUEST or PROVISIONED (with autoscaling of read and write capacity).  Default on demand."""
    config_table_min_capacity: int = 5
    """PROVISIONED: capacity units at least, 1-40000.  Default 5."""
    config_table_max_capacity: int = 50
    """PROVISIONED: capacity units at most, 1-40000.  Default 50."""
    ledger_table_name: str = naming.DEFAULT_LEDGER_TABLE_NAME
    """Default domain-join-ledger."""
    alarm_topic_arn: str | None = None
    """SNS topic told when anything reaches the DLQ.  Default None: the alarm notifies nobody."""
    join_failed_alarm_threshold: int = int_default(settings.JOIN_FAILED_ALARM_THRESHOLD)
    """settings.JOIN_FAILED_ALARM_THRESHOLD: given-up joins (the handler's `JoinFailed` metric: a join that
    failed `max_command_attempts` times, ledger JOIN_FAILED) within the period that raise the join-failed
    alarm.  Prestage failures are not reported by design, so this alarm is what catches a tools host (or a
    directory) that stopped prestaging.  Missing data is not breaching."""
    join_failed_alarm_period_minutes: int = int_default(settings.JOIN_FAILED_ALARM_PERIOD_MINUTES)
    """settings.JOIN_FAILED_ALARM_PERIOD_MINUTES: the alarm's period (one evaluation period)."""
    directory_ids: Sequence[str] = ()
    """AWS Directory Service directories (AWS Managed Microsoft AD, `d-` ids) in this account and Region whose
    computers the handler prestages with `ds:CreateComputer` (docs/handler.md, "Two prestage paths"): the
    handler role may call it on exactly these.  Default: none (no Directory Service permission at all)."""
    kms_key_deletion_window_days: int = 30
    """7-30 days.  Default 30."""
    scripts_dir: Path = documents.SCRIPTS_DIR
    """Where the tools-host documents' scripts are read from.  Default: the repository's scripts/."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags of every resource.  Default: none (the provider's default tags still apply)."""
    tools_host_role_arn: str | None = None
    """The tools host's role: the only one the key policy lets open sealed prestage lists.  Default None: the
    `ToolsHost` module's role of this `name` (`<name>-tools-host` in this account)."""
    reconciliation: ReconcileProps | None = None
    """The scheduled reconciliation (modules/reconcile.py, docs/reconcile.md); `ReconcileProps()` runs it
    hourly with the default safety settings.  Default None: not deployed (the landing zone's
    `reconciliation:` section turns it on)."""

    def __post_init__(self) -> None:
        check_pattern("account_id", self.account_id, ACCOUNT_ID, "a 12-digit account id")
        check_pattern("region", self.region, REGION, "an AWS Region name")
        check_principals(self.organization_id, self.principal_account_ids)
        if self.tools_host_role_arn is not None:
            check_pattern("tools_host_role_arn", self.tools_host_role_arn, ROLE_ARN, "an IAM role ARN")
        check_pattern("name", self.name, RESOURCE_NAME, "a resource name")
        check_each("forwarder_regions", self.forwarder_regions, REGION, "an AWS Region name")
        check_unique("forwarder_regions", self.forwarder_regions)
        if not is_token(self.forwarder_regions) and self.region in self.forwarder_regions:
            raise PropsError("forwarder_regions", f"must not contain the home Region {self.region}")
        for setting in (
            settings.JOIN_DELAY_SECONDS,
            settings.FUNCTION_TIMEOUT_SECONDS,
            settings.POWERTOOLS_LAYER_VERSION,
            settings.TOOLS_HOST_TAG_KEY,
            settings.TOOLS_HOST_TAG_VALUE,
            settings.SPOKE_ROLE_NAME,
            settings.READINESS_DEADLINE_SECONDS,
            settings.MAX_COMMAND_ATTEMPTS,
            settings.CONFIG_CACHE_TTL_SECONDS,
            settings.JOIN_FAILED_ALARM_THRESHOLD,
            settings.JOIN_FAILED_ALARM_PERIOD_MINUTES,
        ):
            check_setting(setting, getattr(self, setting.name))
        if self.spoke_role_external_id is not None:
            check_setting(settings.SPOKE_ROLE_EXTERNAL_ID, self.spoke_role_external_id)
        check_range("function_memory_mib", self.function_memory_mib, 128, 10240)
        check_range("reserved_concurrency", self.reserved_concurrency, 2, 1000)
        check_range("batch_size", self.batch_size, 1, 10)
        check_range("maximum_batching_window_seconds", self.maximum_batching_window_seconds, 0, 300)
        check_log_retention("log_retention_days", self.log_retention_days)
        check_range("dlq_retention_seconds", self.dlq_retention_seconds, 60, MAX_RETENTION_SECONDS)
        check_pattern("tools_host_tag_key", self.tools_host_tag_key, TAG_KEY, "a tag key")
        if self.tools_host_instance_profile_arn is not None:  # a token (the ToolsHost's profile) passes
            check_pattern(
                "tools_host_instance_profile_arn",
                self.tools_host_instance_profile_arn,
                shared_patterns.INSTANCE_PROFILE_ARN,
                "an instance profile ARN",
            )
        if self.tools_host_instance_id is not None:
            check_pattern(
                "tools_host_instance_id",
                self.tools_host_instance_id,
                shared_patterns.INSTANCE_ID,
                "an instance id",
            )
        check_pattern("spoke_role_name", self.spoke_role_name, ROLE_NAME, "an IAM role name")
        if is_token(self.directory_ids):  # the grant lists each ARN: the ids must be known at synth
            raise PropsError("directory_ids", "must be a list of directory ids, not a Terraform value")
        check_each("directory_ids", self.directory_ids, shared_patterns.DIRECTORY_ID, "a directory id (d-…)")
        check_unique("directory_ids", self.directory_ids)
        check_pattern("config_table_name", self.config_table_name, RESOURCE_NAME, "a table name")
        check_pattern("ledger_table_name", self.ledger_table_name, RESOURCE_NAME, "a table name")
        if not is_token(self.config_table_billing_mode) and (
            self.config_table_billing_mode not in BILLING_MODES
        ):
            raise PropsError("config_table_billing_mode", f"must be one of {', '.join(BILLING_MODES)}")
        check_range("config_table_min_capacity", self.config_table_min_capacity, 1, 40000)
        check_range("config_table_max_capacity", self.config_table_max_capacity, 1, 40000)
        check_range("kms_key_deletion_window_days", self.kms_key_deletion_window_days, 7, 30)
        if self.partition is None:  # from the Region, which botocore must know; forwarders in the same
            check_same_partition(
                "forwarder_regions", self.forwarder_regions, check_partition("region", self.region)
            )

    @property
    def arn_partition(self) -> str:
        return self.partition if self.partition is not None else arns.partition_of(self.region)

    @property
    def partition_dns_suffix(self) -> str:
        return self.dns_suffix if self.dns_suffix is not None else arns.dns_suffix_of(self.region)

    @property
    def ledger_lease_seconds(self) -> Any:
        """How long a ledger claim shuts out other invocations: outlives one invocation, not a redelivery."""
        timeout = self.function_timeout_seconds
        if is_token(timeout):  # plain module: a Terraform expression of the variable
            return Token.as_number(Op.mul(settings.LEDGER_LEASE_FACTOR, timeout))
        return settings.ledger_lease_seconds(timeout)

    @property
    def max_receive_count(self) -> Any:
        """Receives before SQS dead-letters a message: more than the handler's backoff needs to reach its own
        readiness deadline (`backoff.max_receive_count`), so an expired message reaches the DLQ from the
        handler, with a reason."""
        deadline = self.readiness_deadline_seconds
        if is_token(deadline):  # plain module: the same rule as a Terraform expression of the variable
            receives = Op.add(Fn.ceil(Op.div(deadline, backoff.CAP_SECONDS)), backoff.RECEIVE_COUNT_MARGIN)
            return Token.as_number(Fn.max([backoff.MIN_RECEIVE_COUNT, receives]))
        return backoff.max_receive_count(deadline)

    @property
    def visibility_timeout_seconds(self) -> Any:
        """6x the function timeout: a message is never redelivered while in flight, and comes back only
        after the lease (2x) of a container that died is over."""
        timeout = self.function_timeout_seconds
        if is_token(timeout):
            return Token.as_number(Op.mul(VISIBILITY_TIMEOUT_FACTOR, timeout))
        return VISIBILITY_TIMEOUT_FACTOR * timeout

    @property
    def powertools_layer_arn(self) -> str:
        """The Powertools layer of the hub's Region, in its partition."""
        if is_token(self.region):
            account: Any = Fn.lookup(POWERTOOLS_LAYER_ACCOUNTS, self.region, POWERTOOLS_LAYER_ACCOUNT)
        else:
            account = POWERTOOLS_LAYER_ACCOUNTS.get(self.region, POWERTOOLS_LAYER_ACCOUNT)
        resource = f"layer:{POWERTOOLS_LAYER_NAME}:{_as_text(self.powertools_layer_version)}"
        return arns.arn(self.arn_partition, "lambda", self.region, _as_text(account), resource)


def _as_text(value: Any) -> str:
    """Environment values are strings; a token must stay a reference, not a float literal."""
    return Token.as_string(value) if is_token(value) else str(value)


class Hub(Construct):
    """The hub of one landing zone (docs/architecture.md, "Deployment units"): building blocks, wired."""

    def __init__(self, scope: Construct, construct_id: str, props: HubProps) -> None:
        super().__init__(scope, construct_id)
        self.props = p = props
        self.partition, name = p.arn_partition, p.name
        self.tags = dict(p.tags)
        # Names and ARNs, known before anything exists: policies name them, and other stacks agree on them.
        self.bus_name = name
        self.bus_arn = naming.bus_arn(self.partition, p.account_id, p.region, name)
        self.queue_arn = naming.join_queue_arn(self.partition, p.account_id, p.region, name)
        self.dead_letter_queue_arn = self._arn("sqs", naming.dead_letter_queue_name(name))
        self.function_name = naming.function_name(name)
        self.lambda_role_arn = naming.handler_role_arn(self.partition, p.account_id, name)
        self.log_group_name = naming.log_group_name(name)
        self.config_table_name = p.config_table_name
        self.ledger_table_name = p.ledger_table_name
        self.rule_arns = flow_rule_arns(self.partition, p.account_id, p.region, name)

        # The role comes first (the key policy names it); what it may do is granted once all exists.
        self.role = self._handler_role()
        self.lambda_role = self.role.role
        self.key = self._key()
        self.kms_key_arn = self.key.arn
        self.dlq, self.join_queue = self._queues()
        self.queue, self.dead_letter_queue = self.join_queue.queue, self.dlq.queue
        self.queue_url = self.queue.url
        self.organization_bus = self._bus()
        self.bus = self.organization_bus.bus
        self.rules, self.command_rules = route_flow_events(
            self,
            bus=self.organization_bus,
            routes=HUB_ROUTES,
            delivery=Delivery(
                target_id="join-queue", arn=self.queue.arn, dead_letter_arn=self.dead_letter_queue.arn
            ),
        )
        self.config_table, self.ledger_table = self._tables()
        self.documents = self._documents()
        self._grant_handler()
        self.lambda_policy_document = self.role.policy_document
        # What the reconciliation's functions share with the handler (modules/reconcile.py).
        self.code = self._code()
        self.runtime = LAMBDA_RUNTIME
        self.handler_environment = self._environment()
        self.metrics_namespace = METRICS_NAMESPACE
        self.metric_dimensions = {SERVICE_DIMENSION: SERVICE_NAME}
        self.handler = self._handler()
        self.function, self.log_group = self.handler.function, self.handler.log_group
        self.lambda_function_arn = self.function.arn
        self.event_source_mapping = self.handler.add_queue_trigger(
            "queue-trigger",
            queue_arn=self.queue.arn,
            batch_size=p.batch_size,
            maximum_batching_window_seconds=p.maximum_batching_window_seconds,
            depends_on=[self.role.policy],
        )
        # Anything in the DLQ needs a human.
        self.dlq.alarm_on_messages(
            "dlq-alarm",
            alarm_name=naming.dead_letter_alarm_name(name),
            description="ec2-domain-join: dead-lettered messages (malformed, expired, failing)",
            topic_arn=p.alarm_topic_arn,
            tags=self.tags,
        )
        self.tools_host_alarm = self._tools_host_ambiguous_alarm()
        self.join_failed_alarm = self._join_failed_alarm()
        self.reconciliation = None
        if p.reconciliation is not None:
            self.reconciliation = Reconciliation(self, "reconciliation", HubView.of(self), p.reconciliation)

    def _join_failed_alarm(self) -> CloudwatchMetricAlarm:
        """Given-up joins (the handler's `JoinFailed` outcome metric) at or above the configured rate.

        Prestage failures are ignored by design (their joins fail and are sent again), so a tools host that
        stops prestaging, or answers falsely, shows only here: a human must look.
        """
        p = self.props
        return metric_alarm(
            self,
            "join-failed-alarm",
            alarm_name=naming.join_failed_alarm_name(p.name),
            description="ec2-domain-join: joins given up, every attempt failed (ledger JOIN_FAILED)",
            namespace=self.metrics_namespace,
            metric_name=JOIN_FAILED_OUTCOME,
            dimensions=self.metric_dimensions,
            statistic="Sum",
            period=self._seconds(p.join_failed_alarm_period_minutes),
            threshold=p.join_failed_alarm_threshold,
            comparison_operator="GreaterThanOrEqualToThreshold",
            topic_arn=p.alarm_topic_arn,
            tags=self.tags or None,
        )

    def _tools_host_ambiguous_alarm(self) -> CloudwatchMetricAlarm:
        """More than one instance qualifies as the tools host (the handler's `ToolsHostAmbiguous` metric):
        someone attached the tools-host profile to a second tagged instance; a human must look."""
        p = self.props
        return metric_alarm(
            self,
            "tools-host-ambiguous-alarm",
            alarm_name=naming.tools_host_ambiguous_alarm_name(p.name),
            description="ec2-domain-join: more than one instance qualifies as the AD tools host",
            namespace=self.metrics_namespace,
            metric_name=contract.METRIC_TOOLS_HOST_AMBIGUOUS,
            dimensions=self.metric_dimensions,
            statistic="Sum",
            period=300,
            threshold=0,
            topic_arn=p.alarm_topic_arn,
            tags=self.tags or None,
        )

    @staticmethod
    def _seconds(minutes: Any) -> Any:
        """Minutes as seconds (in a plain module, a Terraform expression of the variable)."""
        return Token.as_number(Op.mul(60, minutes)) if is_token(minutes) else 60 * minutes

    def _arn(self, service: str, resource: str) -> str:
        """An ARN of the hub's partition, Region and account."""
        return arns.arn(self.partition, service, self.props.region, self.props.account_id, resource)

    def _principal(self, service: str) -> str:
        return arns.service_principal(service, self.props.region, self.props.partition_dns_suffix)

    def _handler_role(self) -> ServiceRole:
        return ServiceRole(
            self,
            "handler-role",
            ServiceRoleProps(
                name=naming.handler_role_name(self.props.name),
                description="ec2-domain-join handler: join/leave orchestration",
                service=self._principal("lambda"),
                trust_sid="LambdaAssumesRole",
                account_id=self.props.account_id,
                policy_name="domain-join-handler",
                tags=self.tags,
            ),
            policy_id="handler-policy",
        )

    def _key(self) -> EncryptionKey:
        """One customer managed key for queues, tables, logs and environment."""
        p = self.props
        decrypt = ["kms:Decrypt", "kms:GenerateDataKey"]
        log_group_arn = self._arn("logs", f"log-group:{self.log_group_name}")
        return EncryptionKey(
            self,
            "key",
            EncryptionKeyProps(
                account_root_arn=arns.account_root_arn(self.partition, p.account_id),
                alias=naming.key_alias(p.name),
                description="ec2-domain-join: join queue, DLQ, tables, handler logs and environment",
                deletion_window_days=p.kms_key_deletion_window_days,
                users=[
                    iam.resource_statement("HandlerUsesKey", {"AWS": self.lambda_role_arn}, decrypt, "*"),
                    service_user(
                        "ProducersEncryptQueueMessages",
                        [self._principal(EVENTS), self._principal(SNS)],
                        decrypt,
                        {"StringEquals": {"aws:SourceAccount": p.account_id}},
                    ),
                    *sealing_statements(
                        account_root_arn=arns.account_root_arn(self.partition, p.account_id),
                        sealer_role_arn=self.lambda_role_arn,
                        tools_host_role_arn=p.tools_host_role_arn
                        or arns.role_arn(self.partition, p.account_id, tools_host_role_name(p.name)),
                        organization_id=p.organization_id,
                        member_account_root_arns=self._member_roots(),
                    ),
                    service_user(
                        "LogsEncryptHandlerLogs",
                        self._principal("logs"),
                        LOGS_KEY_ACTIONS,
                        {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": log_group_arn}},
                    ),
                ],
                depends_on=[self.lambda_role],
                tags=self.tags,
            ),
        )

    def _member_roots(self) -> Any:
        """The listed member accounts' roots (a plain module's variable: as Terraform builds them)."""
        ids = self.props.principal_account_ids
        if is_token(ids):
            return Token.as_list(Fn.formatlist(f"arn:{self.partition}:iam::%s:root", [ids]))
        return [arns.account_root_arn(self.partition, account) for account in ids]

    def _queues(self) -> tuple[Queue, Queue]:
        """The dead-letter queue, and the join queue that redrives to it; only our rules (and forwarder
        topics) may send."""
        p = self.props
        events = self._principal(EVENTS)
        dlq = Queue(
            self,
            "dead-letter-queue",
            QueueProps(
                name=naming.dead_letter_queue_name(p.name),
                arn=self.dead_letter_queue_arn,
                kms_key_arn=self.key.arn,
                message_retention_seconds=p.dlq_retention_seconds,
                redrive_sources=[self.queue_arn],
                senders=[
                    SendPermission(
                        sid="EventBridgeRulesDeadLetter", services=events, source_arns=self.rule_arns
                    )
                ],
                tags=self.tags,
            ),
        )
        join_queue = Queue(
            self,
            "join-queue",
            QueueProps(
                name=naming.join_queue_name(p.name),
                arn=self.queue_arn,
                kms_key_arn=self.key.arn,
                delay_seconds=p.join_delay_seconds,
                visibility_timeout_seconds=p.visibility_timeout_seconds,
                message_retention_seconds=JOIN_QUEUE_RETENTION_SECONDS,
                receive_wait_time_seconds=LONG_POLL_SECONDS,
                dead_letter_queue=DeadLetterQueue(
                    arn=self.dead_letter_queue_arn, max_receive_count=p.max_receive_count
                ),
                senders=[
                    SendPermission(sid="EventBridgeRulesSend", services=events, source_arns=self.rule_arns),
                    *self._forwarder_topics(self._principal(SNS)),
                ],
                depends_on=[dlq.queue],
                tags=self.tags,
            ),
        )
        return dlq, join_queue

    def _bus(self) -> OrganizationBus:
        p = self.props
        return OrganizationBus(
            self,
            "bus",
            OrganizationBusProps(
                name=p.name,
                arn=self.bus_arn,
                partition=self.partition,
                organization_id=p.organization_id,
                principal_account_ids=p.principal_account_ids,
                tags=self.tags,
            ),
        )

    def _tables(self) -> tuple[DynamodbTable | None, DynamodbTable]:
        """The config table (unless an existing one is used) and the ledger table."""
        p = self.props
        config_table = None
        if p.create_config_table is not False:  # True, or a plain module's variable (count)
            config_table = EncryptedTable(
                self,
                "config-table",
                EncryptedTableProps(
                    name=p.config_table_name,
                    partition_key=contract.CONFIG_TABLE_KEY,
                    kms_key_arn=self.key.arn,
                    billing_mode=p.config_table_billing_mode,
                    min_capacity=p.config_table_min_capacity,
                    max_capacity=p.config_table_max_capacity,
                    created=p.create_config_table,
                    tags=self.tags,
                ),
            ).table
        ledger_table = EncryptedTable(
            self,
            "ledger-table",
            EncryptedTableProps(
                name=p.ledger_table_name,
                partition_key=contract.LEDGER_TABLE_KEY,
                kms_key_arn=self.key.arn,
                ttl_attribute=contract.LEDGER_TTL_ATTRIBUTE,
                tags=self.tags,
            ),
        ).table
        return config_table, ledger_table

    def _documents(self) -> dict[str, SsmDocument]:
        """The tools-host documents (prestage, remove, inventory)."""
        return {
            spec.name: SsmDocument(
                self,
                f"document-{spec.name}",
                name=spec.name,
                document_type="Command",
                document_format="JSON",
                target_type="/AWS::EC2::Instance",
                content=documents.terraform_literal(documents.document_json(spec, self.props.scripts_dir)),
                tags=self.tags or None,
            )
            for spec in documents.TOOLS_HOST_DOCUMENTS
        }

    def _grant_handler(self) -> None:
        """What the handler may do: least privilege, one capability per grant."""
        p, partition = self.props, self.partition
        ledger_table_arn = self._arn("dynamodb", f"table/{p.ledger_table_name}")
        tools_documents = (contract.PRESTAGE_DOCUMENT, contract.REMOVE_DOCUMENT)
        self.role.add_to_policy(
            *grants.grant_logs_write(partition, p.account_id, p.region, self.log_group_name),
            *grants.grant_xray_write(),
            *self.join_queue.grant_consume(),
            *self.dlq.grant_send(),
            *grants.grant_dynamodb_read(
                [self._arn("dynamodb", f"table/{p.config_table_name}"), ledger_table_arn]
            ),
            *grants.grant_ledger_write(ledger_table_arn),
            *grants.grant_tools_host_discovery(),
            # The result lines of a prestage, read only when a tag-named computer is planned again (was its
            # name refused?).  GetCommandInvocation supports no resource-level permissions.
            iam.statement("ReadPrestageResults", ["ssm:GetCommandInvocation"], "*"),
            *grants.grant_send_command_to_tools_host(
                partition,
                [self._arn("ssm", f"document/{document}") for document in tools_documents],
                p.account_id,
                p.region,
                p.tools_host_tag_key,
                p.tools_host_tag_value,
            ),
            *grants.grant_assume_spoke_role(
                partition, p.spoke_role_name, p.organization_id, p.principal_account_ids
            ),
            *grants.grant_directory_create_computer(
                [arns.directory_arn(partition, p.region, p.account_id, d) for d in p.directory_ids]
            ),
        )

    def _handler(self) -> Function:
        p = self.props
        return Function(
            self,
            "handler",
            FunctionProps(
                name=self.function_name,
                description="ec2-domain-join: joins EC2 instances to AD, removes them on termination",
                role_arn=self.lambda_role.arn,
                handler=LAMBDA_HANDLER,
                runtime=LAMBDA_RUNTIME,
                code=self.code,
                log_group_name=self.log_group_name,
                kms_key_arn=self.key.arn,
                environment=self._environment(),
                layers=[p.powertools_layer_arn],
                timeout_seconds=p.function_timeout_seconds,
                memory_mib=p.function_memory_mib,
                reserved_concurrency=p.reserved_concurrency,
                log_retention_days=p.log_retention_days,
                depends_on=[self.role.policy],
                tags=self.tags,
            ),
            log_group_id="log-group",
        )

    def _forwarder_topics(self, sns_principal: str) -> list[SendPermission]:
        """The forwarders' topics of the extra Regions (a plain module: any Region, known at plan)."""
        p = self.props
        if is_token(p.forwarder_regions):
            topics = [naming.forwarder_topic_arn(p.arn_partition, p.account_id, "*", p.name)]
            return [
                SendPermission(
                    sid="ForwarderTopicsSend", services=sns_principal, source_arns=topics, match="ArnLike"
                )
            ]
        if not p.forwarder_regions:
            return []
        topics = [
            naming.forwarder_topic_arn(p.arn_partition, p.account_id, r, p.name) for r in p.forwarder_regions
        ]
        return [SendPermission(sid="ForwarderTopicsSend", services=sns_principal, source_arns=topics)]

    def _code(self) -> dict[str, Any]:
        artifact = self.props.artifact
        if isinstance(artifact, LocalArtifact):
            asset = TerraformAsset(self, "artifact", path=str(artifact.path))
            return {"filename": asset.path, "source_code_hash": artifact.source_code_hash}
        code = {"s3_bucket": artifact.bucket, "s3_key": artifact.key}
        if artifact.object_version:
            code["s3_object_version"] = artifact.object_version
        return code

    def _environment(self) -> dict[str, str]:
        """The handler's environment: every setting of the table that has an environment variable, with the
        value of the props field of that name (an unset external id is left out), and the tables and DLQ."""
        p = self.props
        environment = {
            contract.ENV_CONFIG_TABLE: p.config_table_name,
            contract.ENV_LEDGER_TABLE: p.ledger_table_name,
            contract.ENV_DEAD_LETTER_QUEUE_URL: self.dlq.url,
            contract.ENV_SEALING_KEY_ARN: self.key.arn,  # one-time passwords are sealed with the hub key
            "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        }
        for setting in settings.SETTINGS.values():
            value = getattr(p, setting.name) if setting.env is not None else None
            if setting.env is not None and value is not None and value != "":
                environment[setting.env] = _as_text(value)
        return environment
