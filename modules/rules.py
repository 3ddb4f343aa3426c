"""An EventBridge rule and its one target: the shape every unit uses to move events along the flow."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from cdktf_cdktf_provider_aws.cloudwatch_event_target import (
    CloudwatchEventTarget,
    CloudwatchEventTargetDeadLetterConfig,
    CloudwatchEventTargetRetryPolicy,
)
from constructs import Construct

# EventBridge's own ceiling: a day of retries before an event is parked in the target's DLQ.
MAXIMUM_EVENT_AGE_SECONDS = 86400
MAXIMUM_RETRY_ATTEMPTS = 185


@dataclass(frozen=True)
class Delivery:
    """Where a rule's matches go, and the DLQ that keeps what EventBridge could not deliver."""

    target_id: str
    """Id of the target within its rule.  Required."""
    arn: str
    """The target: queue, topic or another account's bus.  Required."""
    dead_letter_arn: str
    """The queue that keeps what EventBridge could not deliver.  Required."""
    role_arn: str | None = None
    """Role EventBridge assumes to deliver (another account's bus).  Default None: none needed."""
    maximum_event_age_seconds: float = MAXIMUM_EVENT_AGE_SECONDS
    """How long EventBridge retries.  Default a day, its most."""
    maximum_retry_attempts: float = MAXIMUM_RETRY_ATTEMPTS
    """Default 185, its most."""


@dataclass(frozen=True)
class PerRegion:
    """A rule repeated in every Region of a for_each; its target names the rule by its fixed logical id."""

    each_region: Callable[[], Any]
    """A fresh Region iterator per resource."""
    region: str
    """The per-resource `region` argument (`${each.value}`)."""
    logical_id: str
    """The rule's fixed Terraform name, which its target refers to."""


def rule_with_target(
    scope: Construct,
    rule_id: str,
    *,
    name: str,
    description: str,
    event_bus_name: str,
    event_pattern: str,
    tags: Mapping[str, str] | None,
    delivery: Delivery,
    per_region: PerRegion | None = None,
) -> CloudwatchEventRule:
    """Rule `rule_id` and target `rule_id` with "rule" read as "target", retried then dead-lettered."""
    rule = CloudwatchEventRule(
        scope,
        rule_id,
        for_each=per_region.each_region() if per_region else None,
        region=per_region.region if per_region else None,
        name=name,
        description=description,
        event_bus_name=event_bus_name,
        event_pattern=event_pattern,
        tags=tags,
    )
    if per_region:
        rule.override_logical_id(per_region.logical_id)
        rule_ref = f"${{aws_cloudwatch_event_rule.{per_region.logical_id}[each.value].name}}"
        target_bus = event_bus_name
    else:
        rule_ref, target_bus = rule.name, rule.event_bus_name
    CloudwatchEventTarget(
        scope,
        rule_id.replace("rule", "target", 1),
        for_each=per_region.each_region() if per_region else None,
        region=per_region.region if per_region else None,
        rule=rule_ref,
        event_bus_name=target_bus,
        target_id=delivery.target_id,
        arn=delivery.arn,
        role_arn=delivery.role_arn,
        retry_policy=CloudwatchEventTargetRetryPolicy(
            maximum_event_age_in_seconds=delivery.maximum_event_age_seconds,
            maximum_retry_attempts=delivery.maximum_retry_attempts,
        ),
        dead_letter_config=CloudwatchEventTargetDeadLetterConfig(arn=delivery.dead_letter_arn),
    )
    return rule
