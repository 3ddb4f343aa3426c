"""CloudWatch metric alarms of the modules: one shape, notifying an optional SNS topic on alarm and recovery.

Every alarm here treats missing data as not breaching (a quiet metric is a healthy one) and notifies the same
topic on alarm and on OK.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from constructs import Construct

from .cdk import Fn, is_token


def topic_actions(topic_arn: Any) -> Any:
    """The actions notifying `topic_arn`: None for none; in a plain module a Terraform string, "" for none."""
    if is_token(topic_arn):
        return Fn.compact([str(topic_arn)])
    if topic_arn:
        return [topic_arn]
    return None


def metric_alarm(
    scope: Construct,
    construct_id: str,
    *,
    alarm_name: str,
    description: str,
    namespace: str,
    metric_name: str,
    dimensions: Mapping[str, str],
    statistic: str,
    period: Any,
    threshold: Any,
    comparison_operator: str = "GreaterThanThreshold",
    evaluation_periods: int = 1,
    topic_arn: Any,
    tags: Mapping[str, str] | None,
) -> CloudwatchMetricAlarm:
    """An alarm on one metric; `topic_arn` (see `topic_actions`) is notified on alarm and on recovery."""
    actions = topic_actions(topic_arn)
    return CloudwatchMetricAlarm(
        scope,
        construct_id,
        alarm_name=alarm_name,
        alarm_description=description,
        namespace=namespace,
        metric_name=metric_name,
        dimensions=dict(dimensions),
        statistic=statistic,
        period=period,
        evaluation_periods=evaluation_periods,
        threshold=threshold,
        comparison_operator=comparison_operator,
        treat_missing_data="notBreaching",
        alarm_actions=actions,
        ok_actions=actions,
        tags=tags,
    )
