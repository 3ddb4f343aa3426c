"""The plain member-network module plans what the `MemberNetwork` construct synthesizes, in every Region.

GIVEN the inputs of `examples/member-network-consumer/terraform.tfvars` (two Regions: `main.tf` calls the
module with the default provider, `second_region.tf` again with a provider aliased to the second Region; the
admin role and interface endpoints on), WHEN the consumer is planned by the tier (the plan of
test_plain_modules' job, no extra Terraform run) and the construct is synthesized with the same inputs as
Python values (the landing-zone path: one `MemberVpc` per VPC, each with its Region), THEN both hold the same

- security group rules: (Region, VPC, group, direction, protocol, from port, to port, peer);
- security groups: (Region, VPC, name); resolver rule associations: (Region, VPC, rule id, name);
- interface endpoints: (Region, VPC, service name, subnets, private DNS).

The plan's Region of a module call is the one its provider configuration reads (`data.aws_region.this` of
that call), so the aliased provider is proved to place the second call's resources in its own Region.  The
module renders its egress from the port table with `for_each`, the construct with one resource per row, VPC
and DC network: a row dropped or retyped on either side fails here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hcl2
import pytest

from .test_plain_modules import CONSUMER_JOBS
from .tier import EXAMPLES, Tier
from .v5 import aws_provider_aliases, consumer_override

CONSUMER = "member-network-consumer"
RULE_TYPES = {
    "aws_vpc_security_group_ingress_rule": "in",
    "aws_vpc_security_group_egress_rule": "out",
}
PLAIN_GROUPS = {"member_out": "member", "endpoints_https": "endpoints"}  # rule name -> its group
Rule = tuple[str, str, str, str, str, int, int, str]


def unquoted(value: Any) -> Any:
    """A python-hcl2 value without the quotes it keeps around strings."""
    if isinstance(value, str):
        return value.strip('"')
    if isinstance(value, list):
        return [unquoted(v) for v in value]
    if isinstance(value, dict):
        return {unquoted(k): unquoted(v) for k, v in value.items()}
    return value


def tfvars() -> dict[str, Any]:
    values: dict[str, Any] = unquoted(hcl2.loads((EXAMPLES / CONSUMER / "terraform.tfvars").read_text()))
    return values


def regions_of(values: dict[str, Any]) -> list[dict[str, Any]]:
    """The consumer's Regions, each as {region, vpc_ids, resolver_rule_id, endpoints}."""
    first = {name: values.get(name) for name in ("region", "vpc_ids", "resolver_rule_id", "endpoints")}
    return [first, values["second_region"]]


def plan_regions(plan: dict[str, Any]) -> dict[str, str]:
    """Module call address -> the Region its provider configuration planned in (data.aws_region.this)."""
    regions = {}
    for module in plan["prior_state"]["values"]["root_module"].get("child_modules", []):
        for resource in module.get("resources", []):
            if resource["type"] == "aws_region" and resource["mode"] == "data":
                values = resource["values"]
                regions[module["address"]] = values.get("region") or values["name"]  # v6 or v5
    return regions


def planned(plan: dict[str, Any]) -> dict[str, set[Any]]:
    regions = plan_regions(plan)
    found: dict[str, set[Any]] = {"rules": set(), "groups": set(), "associations": set(), "endpoints": set()}
    for change in plan["resource_changes"]:
        if change["mode"] != "managed":
            continue
        region = regions[change["module_address"]]
        after, kind = change["change"]["after"], change["type"]
        if kind in RULE_TYPES:
            vpc = str(change["index"]).split(" ")[0]  # keys: "<vpc> <role> <row> <cidr>" and "<vpc>"
            found["rules"].add(
                (region, vpc, PLAIN_GROUPS[change["name"]], RULE_TYPES[kind], after["ip_protocol"],
                 after["from_port"], after["to_port"], after["cidr_ipv4"])
            )  # fmt: skip
        elif kind == "aws_security_group":
            found["groups"].add((region, after["vpc_id"], after["name"]))
        elif kind == "aws_route53_resolver_rule_association":
            found["associations"].add((region, after["vpc_id"], after["resolver_rule_id"], after["name"]))
        elif kind == "aws_vpc_endpoint":
            found["endpoints"].add(
                (region, after["vpc_id"], after["service_name"], tuple(sorted(after["subnet_ids"])),
                 after["private_dns_enabled"])
            )  # fmt: skip
    return found


def synthesized(values: dict[str, Any], outdir: Path) -> dict[str, set[Any]]:
    from modules.cdk import App, TerraformStack
    from modules.member_network import MemberNetwork, MemberNetworkProps, MemberVpc
    from modules.ports import Role

    vpcs = [
        MemberVpc(
            region=region["region"],
            vpc_id=vpc,
            resolver_rule_id=region["resolver_rule_id"],
            vpc_cidr=region["endpoints"].get(vpc, {}).get("vpc_cidr"),
            endpoint_services=values["endpoint_services"] if vpc in region["endpoints"] else (),
            endpoint_subnet_ids=region["endpoints"].get(vpc, {}).get("subnet_ids", ()),
        )
        for region in regions_of(values)
        for vpc in region["vpc_ids"]
    ]
    app = App(outdir=str(outdir), skip_validation=True)
    stack = TerraformStack(app, "member-network")
    network = MemberNetwork(
        stack,
        "network",
        MemberNetworkProps(
            account_id=values["account_id"],
            vpcs=vpcs,
            dc_cidrs=values["dc_cidrs"],
            roles=[Role(role) for role in values["roles"]],
            security_group_rule_quota=1000,
        ),
    )
    groups = {group.friendly_unique_id: (vpc, "member") for vpc, group in network.security_groups.items()}
    groups |= {
        group.friendly_unique_id: (vpc, "endpoints")
        for vpc, group in network.endpoint_security_groups.items()
    }
    app.synth()
    config = json.loads((outdir / "stacks" / "member-network" / "cdk.tf.json").read_text())
    resources = config["resource"]
    found: dict[str, set[Any]] = {"rules": set(), "groups": set(), "associations": set(), "endpoints": set()}
    for type_name, direction in RULE_TYPES.items():
        for body in resources.get(type_name, {}).values():
            vpc, group = groups[body["security_group_id"].split(".")[1]]
            found["rules"].add(
                (body["region"], vpc, group, direction, body["ip_protocol"], body["from_port"],
                 body["to_port"], body["cidr_ipv4"])
            )  # fmt: skip
    for body in resources["aws_security_group"].values():
        found["groups"].add((body["region"], body["vpc_id"], body["name"]))
    for body in resources["aws_route53_resolver_rule_association"].values():
        found["associations"].add((body["region"], body["vpc_id"], body["resolver_rule_id"], body["name"]))
    for body in resources.get("aws_vpc_endpoint", {}).values():
        found["endpoints"].add(
            (body["region"], body["vpc_id"], body["service_name"], tuple(sorted(body["subnet_ids"])),
             body["private_dns_enabled"])
        )  # fmt: skip
    return found


@pytest.mark.terraform
def test_plain_member_network_plans_the_constructs_resources_in_each_region(
    tier: Tier, tmp_path: Path
) -> None:
    [job] = [job for job in CONSUMER_JOBS if job.key == CONSUMER]
    values = tfvars()
    _, outcome = tier.result(job)
    assert outcome.plan is not None, outcome.output

    plan = planned(outcome.plan)
    construct = synthesized(values, tmp_path)

    for what in plan:
        assert plan[what] == construct[what], (what, sorted(plan[what] - construct[what]),
                                               sorted(construct[what] - plan[what]))  # fmt: skip
    # the comparison covers both Regions (one module call each), both groups and both roles' rows
    regions = [region["region"] for region in regions_of(values)]
    assert sorted(plan_regions(outcome.plan).values()) == sorted(regions) and len(set(regions)) == 2
    for region in regions:
        assert {(r[2], r[3]) for r in plan["rules"] if r[0] == region} == {
            ("member", "out"),
            ("endpoints", "in"),
        }
        assert {e[2] for e in plan["endpoints"] if e[0] == region} == {
            f"com.amazonaws.{region}.{service}" for service in values["endpoint_services"]
        }
    assert set(values["roles"]) == {"client", "admin"}
    assert (
        regions[0],
        values["vpc_ids"][0],
        "member",
        "out",
        "tcp",
        3389,
        3389,
        values["dc_cidrs"][0],
    ) in plan["rules"]  # an admin row


def test_the_tier_overrides_every_provider_configuration_of_a_consumer() -> None:
    """GIVEN the consumer's providers (the default and the second Region's alias), THEN the tier's override
    file has one offline block per configuration, the alias named (an override block merges with the block
    of its own alias only: without it the aliased provider would look for real credentials)."""
    aliases = aws_provider_aliases(EXAMPLES / CONSUMER)
    assert aliases == ["second_region"]

    blocks = consumer_override("http://127.0.0.1:9/", aliases)["provider"]["aws"]

    assert [block.get("alias") for block in blocks] == [None, "second_region"]
    for block in blocks:
        assert block["allowed_account_ids"] is None
        assert block["endpoints"] == [{"sts": "http://127.0.0.1:9/"}]
        assert block["skip_credentials_validation"] is True
