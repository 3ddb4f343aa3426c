"""A DynamoDB table encrypted with a customer managed key, recoverable, protected from deletion."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cdktf_cdktf_provider_aws.appautoscaling_policy import (
    AppautoscalingPolicy,
    AppautoscalingPolicyTargetTrackingScalingPolicyConfiguration,
    AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecification,
)
from cdktf_cdktf_provider_aws.appautoscaling_target import AppautoscalingTarget
from cdktf_cdktf_provider_aws.dynamodb_table import (
    DynamodbTable,
    DynamodbTableAttribute,
    DynamodbTablePointInTimeRecovery,
    DynamodbTableServerSideEncryption,
    DynamodbTableTtl,
)
from constructs import Construct

from . import naming
from .cdk import MAIN_RESOURCE_ID, Fn, Op, Token, is_token, keep_address
from .validation import PropsError, check_range

BILLING_MODES = ("PAY_PER_REQUEST", "PROVISIONED")
TARGET_UTILIZATION_PERCENT = 70  # provisioned tables scale to keep their capacity this busy


@dataclass(frozen=True, kw_only=True)
class EncryptedTableProps:
    """Inputs of an `EncryptedTable`."""

    name: str
    """Table name.  Required."""
    partition_key: str
    """Name of the string partition key.  Required."""
    kms_key_arn: str
    """Customer managed key of the table.  Required."""
    ttl_attribute: str | None = None
    """Attribute holding each item's expiry (epoch seconds).  Default None: items never expire."""
    billing_mode: str = "PAY_PER_REQUEST"
    """PAY_PER_REQUEST (on demand) or PROVISIONED, or a plain module's Terraform string deciding it at plan
    (the capacities and the autoscaling then exist through conditionals and `count`).  Default: on demand."""
    min_capacity: int = 5
    """PROVISIONED: read and write capacity units at least (and initially), 1-40000.  Default 5."""
    max_capacity: int = 50
    """PROVISIONED: the most that autoscaling gives, 1-40000.  Default 50."""
    created: Any = True
    """A plain module's Terraform bool deciding at plan whether the table exists (through `count`; no
    autoscaling then).  Default True."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags of the resources.  Default: none (the provider's default tags still apply)."""

    def __post_init__(self) -> None:
        if not is_token(self.billing_mode) and self.billing_mode not in BILLING_MODES:
            raise PropsError("billing_mode", f"must be one of {', '.join(BILLING_MODES)}")
        check_range("min_capacity", self.min_capacity, 1, 40000)
        check_range("max_capacity", self.max_capacity, 1, 40000)
        if not is_token(self.created) and self.created is not True:
            raise PropsError("created", "True, or a Terraform bool (construct nothing instead of False)")


class EncryptedTable(Construct):
    """The table (point-in-time recovery, deletion protection, KMS), autoscaled when provisioned.

    The table keeps the address of a resource with this construct's id; the autoscaling resources those
    of `<id>-read-target`, `<id>-read-policy`, `<id>-write-target`, `<id>-write-policy`.
    """

    def __init__(self, scope: Construct, construct_id: str, props: EncryptedTableProps) -> None:
        super().__init__(scope, construct_id)
        self.props = props
        provisioned = props.billing_mode == "PROVISIONED"
        capacity: Any = props.min_capacity if provisioned else None
        if is_token(props.billing_mode):  # a plain module's variable: the capacity only when provisioned
            capacity = Token.as_number(
                Fn.conditional(self._provisioned(), props.min_capacity, Token.null_value())
            )
        key = props.partition_key
        self.table = DynamodbTable(
            self,
            MAIN_RESOURCE_ID,
            name=props.name,
            hash_key=key,
            attribute=[DynamodbTableAttribute(name=key, type="S")],
            billing_mode=props.billing_mode,
            read_capacity=capacity,
            write_capacity=capacity,
            point_in_time_recovery=DynamodbTablePointInTimeRecovery(enabled=True),
            server_side_encryption=DynamodbTableServerSideEncryption(
                enabled=True, kms_key_arn=props.kms_key_arn
            ),
            ttl=DynamodbTableTtl(enabled=True, attribute_name=props.ttl_attribute)
            if props.ttl_attribute
            else None,
            deletion_protection_enabled=True,
            tags=dict(props.tags) or None,
        )
        if is_token(props.created):
            self.table.count = Token.as_number(Fn.conditional(props.created, 1, 0))
        if is_token(props.billing_mode):
            wanted = self._provisioned()
            if is_token(props.created):
                wanted = Op.and_(props.created, wanted)
            self._autoscale(construct_id, Token.as_number(Fn.conditional(wanted, 1, 0)))
        elif provisioned and not is_token(props.created):
            self._autoscale(construct_id)

    def _provisioned(self) -> Any:
        return Op.eq(self.props.billing_mode, "PROVISIONED")

    def _autoscale(self, construct_id: str, count: Any = None) -> None:
        """Read and write capacity autoscaled.  With `count` (a plain module's, decided at plan) the
        resources name the table by its name, not by reference: a counted resource is read by index."""
        table_name = self.table.name if count is None else self.props.name
        for dimension in naming.CAPACITY_DIMENSIONS:
            target = AppautoscalingTarget(
                self,
                f"{dimension.lower()}-target",
                service_namespace="dynamodb",
                resource_id=f"table/{table_name}",
                scalable_dimension=f"dynamodb:table:{dimension}CapacityUnits",
                min_capacity=self.props.min_capacity,
                max_capacity=self.props.max_capacity,
                count=count,
                depends_on=None if count is None else [self.table],
            )
            keep_address(target, f"{construct_id}-{dimension.lower()}-target")
            policy = AppautoscalingPolicy(
                self,
                f"{dimension.lower()}-policy",
                name=naming.table_scaling_policy_name(table_name, dimension),
                policy_type="TargetTrackingScaling",
                service_namespace="dynamodb" if count is not None else target.service_namespace,
                resource_id=f"table/{table_name}" if count is not None else target.resource_id,
                scalable_dimension=f"dynamodb:table:{dimension}CapacityUnits"
                if count is not None
                else target.scalable_dimension,
                count=count,
                depends_on=None if count is None else [target],
                target_tracking_scaling_policy_configuration=AppautoscalingPolicyTargetTrackingScalingPolicyConfiguration(
                    target_value=TARGET_UTILIZATION_PERCENT,
                    predefined_metric_specification=AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecification(
                        predefined_metric_type=f"DynamoDB{dimension}CapacityUtilization"
                    ),
                ),
            )
            keep_address(policy, f"{construct_id}-{dimension.lower()}-policy")
