"""The domain-join event bus (organization-scoped) and the rules that move the flow's events along.

Hub and forwarders each run one bus and listen on it and on the account's default bus: EC2 state changes
and the Run Command failures of our documents go to one delivery target (the join queue, or the topic to
the home Region).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cdktf_cdktf_provider_aws.cloudwatch_event_bus import CloudwatchEventBus
from cdktf_cdktf_provider_aws.cloudwatch_event_bus_policy import CloudwatchEventBusPolicy
from cdktf_cdktf_provider_aws.cloudwatch_event_rule import CloudwatchEventRule
from constructs import Construct

from . import arns, iam, naming
from .cdk import MAIN_RESOURCE_ID, is_token, keep_address
from .events import command_failure_pattern_json, ec2_state_change_pattern_json
from .grants import account_roots, either_statement, organization_given
from .rules import Delivery, rule_with_target
from .validation import check_principals


@dataclass(frozen=True, kw_only=True)
class OrganizationBusProps:
    """Inputs of an `OrganizationBus`."""

    name: str
    """Bus name.  Required."""
    arn: str
    """Its ARN, built from the name (the policy names it).  Required."""
    organization_id: str | None = None
    """Organization whose accounts may put events on the bus.  Give it or `principal_account_ids`."""
    principal_account_ids: Sequence[str] = ()
    """Alternative to `organization_id`: the exact accounts.  Default: none."""
    partition: str
    """ARN partition of the listed accounts (`arns.partition_of`; a plain module: data.aws_partition).
    Required."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags of the resources.  Default: none (the provider's default tags still apply)."""

    def __post_init__(self) -> None:
        check_principals(self.organization_id, self.principal_account_ids)


class OrganizationBus(Construct):
    """An event bus that only the organization (or the listed accounts) may put events on.

    The bus keeps the address of a resource with this construct's id; the policy that of `<id>-policy`.
    """

    def __init__(self, scope: Construct, construct_id: str, props: OrganizationBusProps) -> None:
        super().__init__(scope, construct_id)
        self.props = props
        self.arn = props.arn
        self.bus = CloudwatchEventBus(self, MAIN_RESOURCE_ID, name=props.name, tags=dict(props.tags) or None)
        self.name: str = self.bus.name
        self.policy_document = bus_policy_document(
            props.partition, props.arn, props.organization_id, props.principal_account_ids
        )
        policy = CloudwatchEventBusPolicy(
            self, "policy", event_bus_name=self.bus.name, policy=iam.to_json(self.policy_document)
        )
        keep_address(policy, f"{construct_id}-policy")


def bus_policy_document(
    partition: str, bus_arn: str, organization_id: str | None, principal_account_ids: Sequence[str]
) -> dict[str, Any]:
    """Who may put events on a domain-join bus: the organization, or the listed accounts (a plain hub given
    both as variables: both statements, Terraform choosing the one of the input given)."""
    given = organization_given(organization_id, principal_account_ids)
    if given is not None:
        [in_organization] = bus_policy_document(partition, bus_arn, organization_id, ())["Statement"]
        listed = iam.resource_statement(
            "AccountsPutEvents",
            {"AWS": account_roots(partition, principal_account_ids)},
            ["events:PutEvents"],
            bus_arn,
        )
        return iam.policy_document([either_statement(given, in_organization, listed)])
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
            else [arns.account_root_arn(partition, a) for a in principal_account_ids]
        )
        allow = iam.resource_statement(
            "AccountsPutEvents", {"AWS": principals}, ["events:PutEvents"], bus_arn
        )
    return iam.policy_document([allow])


@dataclass(frozen=True, kw_only=True)
class Route:
    """What one unit does with the events of one bus: the Run Command failures of which documents, and how
    its rules describe themselves."""

    command_documents: Sequence[str]
    """The documents whose failed, timed-out or cancelled commands the rule passes on."""
    state_description: str
    """Description of the EC2 state-change rule."""
    command_description: str
    """Description of the Run Command failure rule."""


def listened_buses(bus_name: str) -> dict[str, str]:
    """The buses a unit listens on, by source (`naming.RULE_SOURCES`): its own bus and the default bus."""
    return {"bus": bus_name, "default": "default"}


def route_flow_events(
    scope: Construct,
    *,
    bus: OrganizationBus,
    routes: Mapping[str, Route],
    delivery: Delivery,
) -> tuple[dict[str, CloudwatchEventRule], dict[str, CloudwatchEventRule]]:
    """On `bus` and the default bus one rule for EC2 state changes (`rule-<source>`) and one for Run Command
    failures (`command-rule-<source>`), each with its target, to `delivery`; in `scope` (the unit).

    Returns the state-change rules and the command-failure rules by source.
    """
    name, tags = bus.props.name, dict(bus.props.tags) or None
    state_rules: dict[str, CloudwatchEventRule] = {}
    command_rules: dict[str, CloudwatchEventRule] = {}
    for source, bus_name in listened_buses(bus.name).items():
        route = routes[source]
        state_rules[source] = rule_with_target(
            scope,
            f"rule-{source}",
            name=naming.rule_name(name, source),
            description=route.state_description,
            event_bus_name=bus_name,
            event_pattern=ec2_state_change_pattern_json(),
            tags=tags,
            delivery=delivery,
        )
        command_rules[source] = rule_with_target(
            scope,
            f"command-rule-{source}",
            name=naming.command_rule_name(name, source),
            description=route.command_description,
            event_bus_name=bus_name,
            event_pattern=command_failure_pattern_json(route.command_documents),
            tags=tags,
            delivery=delivery,
        )
    return state_rules, command_rules


def flow_rule_arns(partition: str, account_id: str, region: str, name: str) -> list[str]:
    """The ARNs of the four rules `route_flow_events` creates (for the SourceArn conditions of targets)."""
    buses = listened_buses(name)
    return [
        naming.bus_rule_arn(partition, account_id, region, buses[source], rule_name(name, source))
        for source in naming.RULE_SOURCES
        for rule_name in (naming.rule_name, naming.command_rule_name)
    ]
