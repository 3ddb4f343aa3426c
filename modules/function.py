"""A role for an AWS service with its inline policy, and a Lambda function with its log group and trigger."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
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
from constructs import Construct

from . import iam
from .cdk import MAIN_RESOURCE_ID, is_token, keep_address
from .iam import Statement
from .validation import PropsError, check_range

LAMBDA_MAX_TIMEOUT_SECONDS = 900
# The retention periods CloudWatch Logs accepts.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557)


@dataclass(frozen=True, kw_only=True)
class ServiceRoleProps:
    """Inputs of a `ServiceRole`."""

    name: str
    """Role name.  Required."""
    description: str
    """Required."""
    service: str
    """The service principal allowed to assume the role, e.g. `lambda.amazonaws.com`.  Required."""
    trust_sid: str
    """Sid of the trust statement.  Required."""
    account_id: str
    """Only the service acting for this account may assume the role (`aws:SourceAccount`).  Required."""
    policy_name: str
    """Name of the inline policy.  Required."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags of the resources.  Default: none (the provider's default tags still apply)."""

    def __post_init__(self) -> None:
        for name in ("name", "service", "trust_sid", "policy_name"):
            if not getattr(self, name):
                raise PropsError(name, "must not be empty")


class ServiceRole(Construct):
    """An IAM role only `props.service` may assume, for `props.account_id` only, with one inline policy.

    Grant it capabilities with `add_to_policy` (the statements of `modules/grants.py` or a resource's
    `grant_*`).  The role keeps the address of a resource with this construct's id; the policy that of
    `policy_id` (default `<id>-policy`).
    """

    def __init__(
        self, scope: Construct, construct_id: str, props: ServiceRoleProps, *, policy_id: str | None = None
    ) -> None:
        super().__init__(scope, construct_id)
        self.props = props
        self.role = IamRole(
            self,
            MAIN_RESOURCE_ID,
            name=props.name,
            description=props.description,
            assume_role_policy=iam.service_trust_policy(props.trust_sid, props.service, props.account_id),
            tags=dict(props.tags) or None,
        )
        self.arn: str = self.role.arn
        self.statements: list[Statement] = []
        self.policy = IamRolePolicy(
            self, "policy", name=props.policy_name, role=self.role.name, policy=self._render()
        )
        keep_address(self.policy, policy_id or f"{construct_id}-policy")

    def add_to_policy(self, *statements: Statement) -> None:
        """Append statements to the inline policy (an empty policy is invalid: add at least one)."""
        self.statements.extend(statements)
        self.policy.policy = self._render()

    @property
    def policy_document(self) -> dict[str, Any]:
        return iam.policy_document(self.statements)

    def _render(self) -> str:
        return iam.to_json(self.policy_document)


@dataclass(frozen=True, kw_only=True)
class FunctionProps:
    """Inputs of a `Function` (x86_64, active tracing, JSON logs)."""

    name: str
    """Function name.  Required."""
    description: str
    """Required."""
    role_arn: str
    """Its execution role.  Required."""
    handler: str
    """`module.function` in the code.  Required."""
    runtime: str
    """e.g. python3.13.  Required."""
    code: Mapping[str, Any]
    """`filename` + `source_code_hash`, or `s3_bucket` + `s3_key` (+ `s3_object_version`).  Required."""
    log_group_name: str
    """`/aws/lambda/<name>`: the group is created here, before the function, so Lambda never creates an
    unencrypted one with unlimited retention.  Required."""
    kms_key_arn: str
    """Key of the environment and the log group.  Required."""
    timeout_seconds: Any
    """1 s to Lambda's limit (900 s).  Required."""
    environment: Mapping[str, str] = field(default_factory=dict)
    """Environment variables (strings).  Default: none."""
    layers: Sequence[str] = ()
    """Layer version ARNs.  Default: none."""
    memory_mib: int = 256
    """128-10240 MiB.  Default 256."""
    reserved_concurrency: int = 5
    """Concurrent executions reserved (and the most it gets), 2-1000.  Default 5."""
    log_retention_days: int = 365
    """One of LOG_RETENTION_DAYS.  Default 365."""
    depends_on: Sequence[Any] = ()
    """What must exist first, e.g. the role's policy (so the first invocation has its permissions)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags of the resources.  Default: none (the provider's default tags still apply)."""

    def __post_init__(self) -> None:
        check_range("timeout_seconds", self.timeout_seconds, 1, LAMBDA_MAX_TIMEOUT_SECONDS)
        check_range("memory_mib", self.memory_mib, 128, 10240)
        check_range("reserved_concurrency", self.reserved_concurrency, 2, 1000)
        check_log_retention("log_retention_days", self.log_retention_days)
        if not (
            {"filename", "source_code_hash"} <= set(self.code) or {"s3_bucket", "s3_key"} <= set(self.code)
        ):
            raise PropsError("code", "give filename and source_code_hash, or s3_bucket and s3_key")


def _variables(environment: Any) -> Any:
    """A function's environment: a Mapping, or a plain module's Terraform map (a `merge()` with a variable,
    modules/reconcile.py), passed on as it is."""
    return dict(environment) if isinstance(environment, Mapping) else environment


def check_log_retention(field_name: str, days: Any) -> None:
    if not is_token(days) and days not in LOG_RETENTION_DAYS:
        raise PropsError(field_name, f"{days!r} is not one CloudWatch accepts")


class Function(Construct):
    """A Lambda function, its encrypted log group, and (`add_queue_trigger`) its SQS event source.

    The function keeps the address of a resource with this construct's id; the log group that of
    `log_group_id` (default `<id>-log-group`).
    """

    def __init__(
        self, scope: Construct, construct_id: str, props: FunctionProps, *, log_group_id: str | None = None
    ) -> None:
        super().__init__(scope, construct_id)
        self.props = props
        tags = dict(props.tags) or None
        self.log_group = CloudwatchLogGroup(
            self,
            "log-group",
            name=props.log_group_name,
            retention_in_days=props.log_retention_days,
            kms_key_id=props.kms_key_arn,
            tags=tags,
        )
        keep_address(self.log_group, log_group_id or f"{construct_id}-log-group")
        self.function = LambdaFunction(
            self,
            MAIN_RESOURCE_ID,
            function_name=props.name,
            description=props.description,
            role=props.role_arn,
            handler=props.handler,
            runtime=props.runtime,
            architectures=["x86_64"],
            timeout=props.timeout_seconds,
            memory_size=props.memory_mib,
            reserved_concurrent_executions=props.reserved_concurrency,
            layers=list(props.layers) or None,
            tracing_config=LambdaFunctionTracingConfig(mode="Active"),
            logging_config=LambdaFunctionLoggingConfig(log_format="JSON", log_group=self.log_group.name),
            environment=LambdaFunctionEnvironment(variables=_variables(props.environment)),
            kms_key_arn=props.kms_key_arn,
            depends_on=[self.log_group, *props.depends_on],
            tags=tags,
            **props.code,
        )
        self.arn: str = self.function.arn

    def add_queue_trigger(
        self,
        trigger_id: str,
        *,
        queue_arn: str,
        batch_size: Any,
        maximum_batching_window_seconds: Any,
        depends_on: Sequence[Any] = (),
    ) -> LambdaEventSourceMapping:
        """Invoke the function with batches of the queue's messages, reporting partial failures; at most
        as many pollers as the function's reserved concurrency.  Keeps the address of `trigger_id` beside
        this construct."""
        check_range("batch_size", batch_size, 1, 10)
        check_range("maximum_batching_window_seconds", maximum_batching_window_seconds, 0, 300)
        mapping = LambdaEventSourceMapping(
            self,
            "queue-trigger",
            event_source_arn=queue_arn,
            function_name=self.function.arn,
            batch_size=batch_size,
            maximum_batching_window_in_seconds=maximum_batching_window_seconds,
            function_response_types=["ReportBatchItemFailures"],
            scaling_config=LambdaEventSourceMappingScalingConfig(
                maximum_concurrency=self.props.reserved_concurrency
            ),
            depends_on=list(depends_on) or None,
        )
        keep_address(mapping, trigger_id)
        return mapping
