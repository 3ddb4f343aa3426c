"""The plain directory-network module opens the same ports to the same peers as the cdktf construct.

GIVEN the inputs of `examples/directory-network-consumer/terraform.tfvars`, WHEN the consumer is planned by
the tier (the plan of test_plain_modules' job, no extra Terraform run) and the construct is synthesized with
the same inputs as Python values (the landing-zone path), THEN both hold the same security group rules:
(group, direction, protocol, from port, to port, peer) with the peer a CIDR, a prefix list, a security group
or `self` (the DC group itself).  The plain module renders its rules from the port table with `for_each`, the
construct with one resource per row and peer: a row dropped or retyped on either side fails here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hcl2
import pytest

from .test_plain_modules import CONSUMER_JOBS
from .tier import EXAMPLES, Tier

CONSUMER = "directory-network-consumer"
RULE_TYPES = {
    "aws_vpc_security_group_ingress_rule": "in",
    "aws_vpc_security_group_egress_rule": "out",
}
# The security group of each rule: the plain module's rule names, the construct's group logical ids.
PLAIN_GROUPS = {"domain_controllers": "dc", "resolver": "resolver", "endpoints": "endpoints"}
CONSTRUCT_GROUPS = {"dc_security_group": "dc", "resolver_security_group": "resolver",
                    "endpoint_security_group": "endpoints"}  # fmt: skip
Rule = tuple[str, str, str, int, int, str]


def unquoted(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip('"')
    if isinstance(value, list):
        return [unquoted(v) for v in value]
    if isinstance(value, dict):
        return {unquoted(k): unquoted(v) for k, v in value.items()}
    return value


def planned_rules(plan: dict[str, Any]) -> set[Rule]:
    rules = set()
    for change in plan["resource_changes"]:
        if change["mode"] != "managed" or change["type"] not in RULE_TYPES:
            continue
        name = change["name"]
        group = next(g for prefix, g in PLAIN_GROUPS.items() if name.startswith(prefix))
        after, unknown = change["change"]["after"], change["change"]["after_unknown"]
        peer = (
            after.get("cidr_ipv4")
            or after.get("prefix_list_id")
            or after.get("referenced_security_group_id")
            or ("self" if unknown.get("referenced_security_group_id") else "?")
        )
        rules.add((group, RULE_TYPES[change["type"]], after["ip_protocol"], after["from_port"],
                   after["to_port"], peer))  # fmt: skip
    return rules


def construct_rules(values: dict[str, Any], outdir: Path) -> set[Rule]:
    from modules.cdk import App, TerraformStack
    from modules.directory_network import DirectoryNetwork, DirectoryNetworkProps

    app = App(outdir=str(outdir), skip_validation=True)
    stack = TerraformStack(app, "directory-network")
    account = values["directory_account_id"]
    given = (
        "region", "vpc_id", "vpc_cidr", "domain_name", "dns_server_ips", "resolver_subnet_ids",
        "client_cidrs", "admin_cidrs", "share_principals", "endpoint_services", "endpoint_subnet_ids",
    )  # fmt: skip
    DirectoryNetwork(
        stack,
        "network",
        DirectoryNetworkProps(
            account_id=account,
            admin_role_arns=[f"arn:aws:iam::{account}:role/ad-admins"],
            security_group_rule_quota=1000,
            **{name: values[name] for name in given},
        ),
    )
    app.synth()
    config = json.loads((outdir / "stacks" / "directory-network" / "cdk.tf.json").read_text())
    rules = set()
    for type_name, direction in RULE_TYPES.items():
        for body in config["resource"].get(type_name, {}).values():
            group_id = body["security_group_id"].split(".")[1]
            referenced = body.get("referenced_security_group_id")
            peer = body.get("cidr_ipv4") or body.get("prefix_list_id") or referenced
            if referenced and referenced.startswith("${aws_security_group."):
                peer = "self" if referenced.split(".")[1] == group_id else referenced
            rules.add((CONSTRUCT_GROUPS[group_id], direction, body["ip_protocol"], body["from_port"],
                       body["to_port"], peer))  # fmt: skip
    return rules


@pytest.mark.terraform
def test_plain_directory_network_rules_equal_the_constructs(tier: Tier, tmp_path: Path) -> None:
    [job] = [job for job in CONSUMER_JOBS if job.key == CONSUMER]
    values = unquoted(hcl2.loads((EXAMPLES / CONSUMER / "terraform.tfvars").read_text()))
    _, outcome = tier.result(job)
    assert outcome.plan is not None, outcome.output

    planned = planned_rules(outcome.plan)
    synthesized = construct_rules(values, tmp_path)

    assert planned == synthesized, (sorted(planned - synthesized), sorted(synthesized - planned))
    # the comparison covers the three groups and every kind of peer the inputs hold
    assert {rule[0] for rule in planned} == {"dc", "resolver", "endpoints"}
    assert {"self", *values["client_cidrs"], *values["admin_cidrs"]} <= {rule[5] for rule in planned}
