"""Spoke: what one workload account needs, in all of its Regions at once.

Every regional resource uses the AWS provider v6 per-resource `region` with
`for_each` over the Region set, so a spoke is the same dozen resources whether it
covers 1 Region or 17: synth stays fast and plans stay quiet when Regions change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.iam_policy import IamPolicy
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue
from cdktf_cdktf_provider_aws.sqs_queue_policy import SqsQueuePolicy
from cdktf_cdktf_provider_aws.ssm_document import SsmDocument
from constructs import Construct

from handlers.domain_join import contract

from . import arns, documents, iam, naming
from .cdk import Fn, Op, TerraformIterator, Token, contains_token, is_token
from .events import command_failure_pattern_json, ec2_state_change_pattern_json
from .grants import grant_put_events, grant_spoke_instance_operations
from .key import own_join_password_conditions, policy_json
from .patterns import ACCOUNT_ID, EXTERNAL_ID, KMS_KEY_ARN, REGION, RESOURCE_NAME, ROLE_ARN, ROLE_NAME
from .queue import MAX_RETENTION_SECONDS
from .rules import MAXIMUM_EVENT_AGE_SECONDS, MAXIMUM_RETRY_ATTEMPTS, Delivery, PerRegion, rule_with_target
from .validation import (
    PropsError,
    check_each,
    check_partition,
    check_pattern,
    check_range,
    check_same_partition,
    check_unique,
)

EACH_REGION = "${each.value}"  # inside for_each over the Region set


@dataclass(frozen=True, kw_only=True)
class SpokeProps:
    """Inputs of one spoke account."""

    account_id: str
    """The workload account id."""
    regions: Sequence[str]
    """Every Region of this account whose instances should join."""
    security_account_id: str
    """Where the hub and forwarders run (their buses receive this account's events)."""
    hub_lambda_role_arn: str
    """The only principal trusted by the execution role (the hub output `lambda_role_arn`)."""
    partition: str | None = None
    """ARN partition.  Default None: that of the Regions (botocore's data), which must share one; a plain
    module passes `data.aws_partition`."""
    execution_role_name: str = contract.DEFAULT_SPOKE_ROLE_NAME
    """The role the hub handler assumes here.  Default ec2-domain-join-execution (the hub's default)."""
    spoke_role_external_id: str | None = None
    """Optional sts:ExternalId the hub must present (an identifier, not a secret)."""
    name: str = naming.DEFAULT_NAME
    """Must equal the hub's `name`: the target bus name derives from it."""
    forward_events: bool = True
    """False for the security account itself: the hub and forwarders already have default-bus rules there,
    so only the join documents and the execution role are created (no rule, target, role or DLQ)."""
    maximum_event_age_seconds: int = MAXIMUM_EVENT_AGE_SECONDS
    """How long EventBridge retries a forwarding, 60-86400 s.  Default a day (its most)."""
    maximum_retry_attempts: int = MAXIMUM_RETRY_ATTEMPTS
    """0-185.  Default 185 (its most)."""
    dlq_retention_seconds: int = MAX_RETENTION_SECONDS
    """How long failed forwardings are kept, 60 s-14 days.  Default 14 days."""
    scripts_dir: Path = documents.SCRIPTS_DIR
    """Where the join document's scripts are read from.  Default: the repository's scripts/."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags of every resource.  Default: none."""
    unseal_join_passwords: bool = False
    """Offer the managed policy the workloads' instance roles attach when their directory seals join
    passwords (`seal_join_passwords`): kms:Decrypt of the hub key, only of the one-time password sealed for
    the calling instance itself.  Output `unseal_join_password_policy_arn`.  Default False."""
    sealing_key_arn: str | None = None
    """The hub key (hub output `kms_key_arn`): the policy names exactly it.  Default None: the key whose alias
    is the hub's (`alias/<name>`) in `hub_region` of the security account (the hub key is not known when the
    spoke stacks are synthesized together with the hub)."""
    hub_region: str | None = None
    """The hub's home Region, for the alias-scoped policy.  Default None."""
    reconciler_role_arn: str | None = None
    """The hub's reconciliation worker role (docs/reconcile.md): the only principal trusted by this
    account's reconcile reader role (`naming.reconcile_reader_role_name`, ec2:DescribeInstances only), with
    the execution role's external-id condition.  Default None: no reader role (no reconciliation)."""
    reader_principal_arns: Sequence[str] = ()
    """Further principals (role ARNs) trusted by the reader role, e.g. the operators' role for
    `ec2-domain-join reconcile --dry-run --spoke-role <reader role>`; only with `reconciler_role_arn`.
    Default: none."""

    def __post_init__(self) -> None:
        check_pattern("account_id", self.account_id, ACCOUNT_ID, "a 12-digit account id")
        if not is_token(self.regions) and not self.regions:
            raise PropsError("regions", "at least one Region is needed")
        check_each("regions", self.regions, REGION, "an AWS Region name")
        check_unique("regions", self.regions)
        check_pattern("security_account_id", self.security_account_id, ACCOUNT_ID, "a 12-digit account id")
        check_pattern("hub_lambda_role_arn", self.hub_lambda_role_arn, ROLE_ARN, "an IAM role ARN")
        check_pattern("execution_role_name", self.execution_role_name, ROLE_NAME, "an IAM role name")
        if self.reconciler_role_arn is not None:
            check_pattern("reconciler_role_arn", self.reconciler_role_arn, ROLE_ARN, "an IAM role ARN")
        check_each("reader_principal_arns", self.reader_principal_arns, ROLE_ARN, "an IAM role ARN")
        check_unique("reader_principal_arns", self.reader_principal_arns)
        if self.reader_principal_arns and self.reconciler_role_arn is None:
            raise PropsError("reader_principal_arns", "needs reconciler_role_arn (a reconciliation)")
        if self.spoke_role_external_id is not None:
            check_pattern(
                "spoke_role_external_id",
                self.spoke_role_external_id,
                EXTERNAL_ID,
                "an sts:ExternalId (2-1224 chars)",
            )
        check_pattern("name", self.name, RESOURCE_NAME, "a resource name")
        check_range("maximum_event_age_seconds", self.maximum_event_age_seconds, 60, 86400)
        check_range("maximum_retry_attempts", self.maximum_retry_attempts, 0, 185)
        check_range("dlq_retention_seconds", self.dlq_retention_seconds, 60, MAX_RETENTION_SECONDS)
        if self.partition is None and not is_token(self.regions):
            partition = check_partition("regions[0]", self.regions[0])
            check_same_partition("regions", self.regions, partition)
            role_partition = self.hub_lambda_role_arn.split(":")[1]
            if not is_token(self.hub_lambda_role_arn) and role_partition != partition:
                raise PropsError(
                    "hub_lambda_role_arn", f"is in partition {role_partition}, the Regions in {partition}"
                )
        if self.sealing_key_arn is not None:
            check_pattern("sealing_key_arn", self.sealing_key_arn, KMS_KEY_ARN, "a KMS key ARN")
        if self.hub_region is not None:
            check_pattern("hub_region", self.hub_region, REGION, "an AWS Region name")
        if self.unseal_join_passwords and self.sealing_key_arn is None and self.hub_region is None:
            raise PropsError("unseal_join_passwords", "needs sealing_key_arn (the hub key) or hub_region")
        if not is_token(self.forward_events) and not isinstance(self.forward_events, bool):
            raise PropsError("forward_events", f"{self.forward_events!r} must be true or false")
        if self.forward_events and self.account_id == self.security_account_id:
            raise PropsError(
                "forward_events",
                "the security account's events already reach the hub (default-bus rules): set it to False",
            )

    @property
    def arn_partition(self) -> str:
        return self.partition if self.partition is not None else arns.partition_of(self.regions[0])


class Spoke(Construct):
    def __init__(self, scope: Construct, construct_id: str, props: SpokeProps) -> None:
        super().__init__(scope, construct_id)
        p = props
        account, name = p.account_id, p.name
        tags = dict(p.tags) or None
        rule_name = naming.rule_name(name, "default")
        regions = p.regions if is_token(p.regions) else sorted(p.regions)

        def each_region() -> Any:  # a ListTerraformIterator
            return TerraformIterator.from_list(regions)

        self.events_role: IamRole | None = None
        self.events_role_arn: str | None = None
        self.rule: CloudwatchEventRule | None = None
        self.command_rule: CloudwatchEventRule | None = None
        if is_token(p.forward_events):  # plain module: decided at plan (empty Region set, count 0)
            enabled = p.forward_events

            def forwarding_regions() -> Any:
                return TerraformIterator.from_list(Token.as_list(Fn.conditional(enabled, regions, [])))

            self._forward_events(p, forwarding_regions, rule_name, regions, tags, enabled)
        elif p.forward_events:
            self._forward_events(p, each_region, rule_name, regions, tags)

        # --- the join document, in every Region ---
        self.join_document = SsmDocument(
            self,
            "join-document",
            for_each=each_region(),
            region=EACH_REGION,
            name=contract.JOIN_DOCUMENT,
            document_type="Command",
            document_format="JSON",
            target_type="/AWS::EC2::Instance",
            content=_join_document_json(p.scripts_dir),
            tags=tags,
        )

        # --- the role the hub handler assumes here ---
        def trust(external_id: str | None) -> dict[str, Any]:
            conditions = iam.external_id_conditions(external_id)
            return iam.policy_document(
                [iam.trust_statement("HubHandlerOnly", {"AWS": p.hub_lambda_role_arn}, conditions=conditions)]
            )

        self.execution_trust_document = trust(p.spoke_role_external_id)
        trust_policy = iam.external_id_trust_policy(trust, p.spoke_role_external_id)
        self.execution_role = IamRole(
            self,
            "execution-role",
            name=p.execution_role_name,
            description="Assumed by the ec2-domain-join hub handler: describe instances, run DomainJoin-Join",
            assume_role_policy=trust_policy,
            max_session_duration=3600,
            tags=tags,
        )
        self.execution_policy_document = iam.policy_document(
            grant_spoke_instance_operations(p.arn_partition, account, regions, contract.JOIN_DOCUMENT)
        )
        IamRolePolicy(
            self,
            "execution-policy",
            name="domain-join-execution",
            role=self.execution_role.name,
            policy=iam.to_json(self.execution_policy_document),
        )
        self.execution_role_arn = self.execution_role.arn

        # --- the describe-only role the hub's reconcile worker assumes here ---
        self.reader_role: IamRole | None = None
        self.reader_role_arn: str | None = None
        if p.reconciler_role_arn is not None:
            self._reader_role(p, regions, tags)

        # --- what the workloads' instance roles attach to open their own sealed join password ---
        self.unseal_policy: IamPolicy | None = None
        self.unseal_join_password_policy_arn: str | None = None
        if p.unseal_join_passwords:
            self.unseal_policy_document = unseal_join_password_policy(p)
            self.unseal_policy = IamPolicy(
                self,
                "unseal-join-password-policy",
                name=f"{name}-unseal-join-password",
                description="ec2-domain-join: an instance opens the one-time password sealed for itself",
                policy=policy_json(self.unseal_policy_document),
                tags=tags,
            )
            self.unseal_join_password_policy_arn = self.unseal_policy.arn

    def _reader_role(self, p: SpokeProps, regions: Sequence[str], tags: dict[str, str] | None) -> None:
        """The reconcile reader role: trusts only the worker role (and `reader_principal_arns`), with the
        execution role's external-id condition; may only describe instances in the spoke's Regions.

        In a plain module `reconciler_role_arn` and `reader_principal_arns` are variables: the role and its
        policy get `count` 0 when the first is null, and the trust policy is chosen at plan (the `Operators`
        statement only when the list is not empty: IAM refuses an empty principal list)."""

        def trust(external_id: str | None, operators: bool = bool(p.reader_principal_arns)) -> dict[str, Any]:
            conditions = iam.external_id_conditions(external_id)
            statements = [
                iam.trust_statement(
                    "HubReconcilerOnly", {"AWS": p.reconciler_role_arn}, conditions=conditions
                )
            ]
            if operators:
                statements.append(iam.trust_statement("Operators", {"AWS": list(p.reader_principal_arns)}))
            return iam.policy_document(statements)

        self.reader_trust_document = trust(p.spoke_role_external_id)
        trust_policy = iam.external_id_trust_policy(trust, p.spoke_role_external_id)
        if is_token(p.reader_principal_arns):
            without_operators = iam.external_id_trust_policy(
                lambda external_id: trust(external_id, operators=False), p.spoke_role_external_id
            )
            listed = Op.gte(Fn.length_of(p.reader_principal_arns), 1)  # (cdktf drops a literal 0 operand)
            trust_policy = Token.as_string(Fn.conditional(listed, trust_policy, without_operators))
        role_name = naming.reconcile_reader_role_name(p.name)
        self.reader_role = IamRole(
            self,
            "reconcile-reader-role",
            name=role_name,
            description="Assumed by the ec2-domain-join reconcile worker: describe instances, nothing else",
            assume_role_policy=trust_policy,
            max_session_duration=3600,
            tags=tags,
        )
        role_name_ref: str = self.reader_role.name
        self.reader_role_arn = self.reader_role.arn
        reconciled = None
        if is_token(p.reconciler_role_arn):  # plain module: no reader role while the variable is null
            reconciled = Token.as_number(
                Fn.conditional(Op.neq(p.reconciler_role_arn, Token.null_value()), 1, 0)
            )
            self.reader_role.count = reconciled
            address = f"{self.reader_role.terraform_resource_type}.{self.reader_role.friendly_unique_id}"
            role_name_ref = f"${{{address}[0].name}}"
            self.reader_role_arn = f"${{one({address}[*].arn)}}"  # null without a reader role
        in_regions = {
            "StringEquals": {"aws:RequestedRegion": regions if is_token(regions) else list(regions)}
        }
        # ec2:DescribeInstances supports no resource-level permission: "*" is the only resource it accepts
        # (neither checkov nor parliament flags it; docs/reconcile.md).
        self.reader_policy_document = iam.policy_document(
            [iam.statement("DescribeInstancesOnly", ["ec2:DescribeInstances"], "*", conditions=in_regions)]
        )
        reader_policy = IamRolePolicy(
            self,
            "reconcile-reader-policy",
            name=role_name,
            role=role_name_ref,
            policy=iam.to_json(self.reader_policy_document),
        )
        if reconciled is not None:
            reader_policy.count = reconciled

    def _forward_events(
        self,
        p: SpokeProps,
        each_region: Callable[[], Any],
        rule_name: str,
        regions: Sequence[str],
        tags: dict[str, str] | None,
        enabled: Any = None,
    ) -> None:
        """Default-bus rule -> the security account's bus of the same Region (role, retries, DLQ).

        `enabled` is the plain module's `forward_events` variable: the regional resources then iterate over
        an empty set when it is false, and the EventBridge role and its policy get `count` 0.
        """
        partition, account, name = p.arn_partition, p.account_id, p.name
        # --- forwarding of EC2 state changes to the security account's bus, per Region ---
        dlq = SqsQueue(
            self,
            "target-dlq",
            for_each=each_region(),
            region=EACH_REGION,
            name=naming.spoke_dead_letter_queue_name(name),
            sqs_managed_sse_enabled=True,
            message_retention_seconds=p.dlq_retention_seconds,
            tags=tags,
        )
        dlq.override_logical_id("target_dlq")
        policy_regions = each_region()

        def dlq_policy(region: str) -> dict[str, Any]:
            dlq_arn = arns.arn(partition, "sqs", region, account, naming.spoke_dead_letter_queue_name(name))
            rule_arns = [
                naming.bus_rule_arn(partition, account, region, "default", rule_name),
                naming.bus_rule_arn(
                    partition, account, region, "default", naming.command_rule_name(name, "default")
                ),
            ]
            return iam.policy_document(
                [
                    iam.deny_insecure_transport(dlq_arn, "sqs:*"),
                    iam.resource_statement(
                        "ForwardingRuleDeadLetters",
                        {"Service": arns.service_principal("events")},
                        ["sqs:SendMessage"],
                        dlq_arn,
                        conditions={"ArnEquals": {"aws:SourceArn": rule_arns}},
                    ),
                ]
            )

        self.dead_letter_queue_policy_document = dlq_policy(EACH_REGION)
        if contains_token(self.dead_letter_queue_policy_document):
            # Emitted through jsonencode() (plain modules), where a literal "${each.value}" would be
            # escaped into text: refer to the iterator instead.
            self.dead_letter_queue_policy_document = dlq_policy(Token.as_string(policy_regions.value))
        SqsQueuePolicy(
            self,
            "target-dlq-policy",
            for_each=policy_regions,
            region=EACH_REGION,
            queue_url="${aws_sqs_queue.target_dlq[each.value].url}",
            policy=iam.to_json(self.dead_letter_queue_policy_document),
        )

        events_role = IamRole(
            self,
            "events-role",
            name=naming.spoke_events_role_name(name),
            description="EventBridge forwards EC2 state changes to the security account's domain-join bus",
            assume_role_policy=iam.service_trust_policy(
                "EventBridgeAssumesRole", arns.service_principal("events"), account
            ),
            tags=tags,
        )
        role_name_ref: str = events_role.name
        role_arn_ref: str = events_role.arn
        self.events_role_arn = events_role.arn
        if enabled is not None:
            events_role.count = Token.as_number(Fn.conditional(enabled, 1, 0))
            address = f"{events_role.terraform_resource_type}.{events_role.friendly_unique_id}"
            role_name_ref = f"${{{address}[0].name}}"
            role_arn_ref = f"${{{address}[0].arn}}"
            self.events_role_arn = f"${{one({address}[*].arn)}}"  # null without forwarding
        self.events_role = events_role
        self.events_policy_document = iam.policy_document(
            grant_put_events(
                [naming.bus_arn(partition, p.security_account_id, "*", name)]
                if is_token(regions)  # plain module: the Region list is known only at plan
                else [naming.bus_arn(partition, p.security_account_id, region, name) for region in regions]
            )
        )
        events_policy = IamRolePolicy(
            self,
            "events-policy",
            name="put-events-on-domain-join-bus",
            role=role_name_ref,
            policy=iam.to_json(self.events_policy_document),
        )
        if enabled is not None:
            events_policy.count = Token.as_number(Fn.conditional(enabled, 1, 0))

        delivery = Delivery(
            target_id="security-account-bus",
            arn=naming.bus_arn(partition, p.security_account_id, EACH_REGION, name),
            dead_letter_arn="${aws_sqs_queue.target_dlq[each.value].arn}",
            role_arn=role_arn_ref,
            maximum_event_age_seconds=p.maximum_event_age_seconds,
            maximum_retry_attempts=p.maximum_retry_attempts,
        )
        self.rule = rule_with_target(
            self,
            "rule",
            name=rule_name,
            description="EC2 instances entering running or terminated: forward to the domain-join hub",
            event_bus_name="default",
            event_pattern=ec2_state_change_pattern_json(),
            tags=tags,
            delivery=delivery,
            per_region=PerRegion(each_region, EACH_REGION, "forwarding_rule"),
        )
        # Run Command failures of the join, to the same bus: the handler retries or gives up.
        self.command_rule = rule_with_target(
            self,
            "command-rule",
            name=naming.command_rule_name(name, "default"),
            description="Run Command failures of DomainJoin-Join: forward to the domain-join hub",
            event_bus_name="default",
            event_pattern=command_failure_pattern_json([contract.JOIN_DOCUMENT]),
            tags=tags,
            delivery=delivery,
            per_region=PerRegion(each_region, EACH_REGION, "command_failure_rule"),
        )


def unseal_join_password_policy(p: SpokeProps) -> dict[str, Any]:
    """kms:Decrypt of exactly the hub key (or of the hub account's key with the hub's alias), only of a join
    password sealed for the calling instance (`key.own_join_password_conditions`)."""
    conditions = own_join_password_conditions()
    if p.sealing_key_arn is not None:
        resource = p.sealing_key_arn
    else:
        region = p.hub_region or ""
        resource = arns.arn(p.arn_partition, "kms", region, p.security_account_id, "key/*")
        conditions["ForAnyValue:StringEquals"] = {"kms:ResourceAliases": naming.key_alias(p.name)}
    return iam.policy_document(
        [iam.statement("OpenOwnSealedJoinPassword", ["kms:Decrypt"], resource, conditions=conditions)]
    )


_JOIN_DOCUMENT_CACHE: dict[Path, str] = {}


def _join_document_json(scripts_dir: Path) -> str:
    """Built once per process: 500 spokes share the same text."""
    if scripts_dir not in _JOIN_DOCUMENT_CACHE:
        _JOIN_DOCUMENT_CACHE[scripts_dir] = documents.terraform_literal(
            documents.document_json(documents.JOIN, scripts_dir)
        )
    return _JOIN_DOCUMENT_CACHE[scripts_dir]
