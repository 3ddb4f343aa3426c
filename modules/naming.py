"""Names and ARNs shared by the stacks of one landing zone.

Hub, forwarders and spokes are separate stacks (often separate accounts and
pipelines), so they cannot reference each other's resources.  They agree on
names instead, all derived here from the same inputs.
"""

from __future__ import annotations

DEFAULT_NAME = "domain-join"


def bus_arn(account_id: str, region: str, bus_name: str = DEFAULT_NAME) -> str:
    return f"arn:aws:events:{region}:{account_id}:event-bus/{bus_name}"


def bus_rule_arn(account_id: str, region: str, bus_name: str, rule_name: str) -> str:
    if bus_name == "default":
        return f"arn:aws:events:{region}:{account_id}:rule/{rule_name}"
    return f"arn:aws:events:{region}:{account_id}:rule/{bus_name}/{rule_name}"


def join_queue_name(name: str = DEFAULT_NAME) -> str:
    return f"{name}-queue"


def join_queue_arn(account_id: str, region: str, name: str = DEFAULT_NAME) -> str:
    return f"arn:aws:sqs:{region}:{account_id}:{join_queue_name(name)}"


def forwarder_topic_name(name: str = DEFAULT_NAME) -> str:
    return f"{name}-forwarder"


def forwarder_topic_arn(account_id: str, region: str, name: str = DEFAULT_NAME) -> str:
    return f"arn:aws:sns:{region}:{account_id}:{forwarder_topic_name(name)}"


def handler_role_name(name: str = DEFAULT_NAME) -> str:
    return f"{name}-handler"


def handler_role_arn(account_id: str, name: str = DEFAULT_NAME) -> str:
    return f"arn:aws:iam::{account_id}:role/{handler_role_name(name)}"


def rule_name(name: str, source: str) -> str:
    """Name of the rule that sends EC2 state changes from `source` onwards."""
    return f"{name}-ec2-state-{source}"


def command_rule_name(name: str, source: str) -> str:
    """Name of the rule that sends our documents' Run Command failures from `source` onwards."""
    return f"{name}-command-failed-{source}"
