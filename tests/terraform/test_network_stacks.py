"""The directory network, member network, config items and tools host, read by the real Terraform CLI.

The example keeps `directory_network` commented out (its values name VPCs of the reader's), so this tier
synthesizes a landing zone that uses every optional unit (tests/modules/test_landing_zone_units.py's) and
puts its new stacks through the same init, validate and offline plan as test_stacks.  The member VPC names
its resolver rule id: looking the rule up by name is a read of AWS at plan time, which this offline tier
refuses by design.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import yaml

from modules.landing_zone import load_landing_zone

from .test_stacks import assert_plans_every_declared_resource
from .tier import Context, Job, Prepared, Tier, prepare_stack, synthesize

SPOKE = "222222222222"
STACKS = ("hub", "directory-network", f"spoke-{SPOKE}")
OPERATORS_ROLE = "arn:aws:iam::111111111111:role/domain-join-operators"
RECONCILIATION = {"quarantine_days": 7, "reader_principal_arns": [OPERATORS_ROLE]}


def network_stacks(context: Context) -> Path:
    def build() -> Path:
        from tests.modules.test_landing_zone_units import full_landing_zone

        data = full_landing_zone()
        data["tools_host"] = {}  # the instance's AMI lookup reads AWS at plan time
        data["spokes"][0]["vpcs"]["eu-west-1"][0]["resolver_rule_id"] = "rslvr-rr-0123456789abcdef0"
        data["reconciliation"] = RECONCILIATION  # test_reconcile_stacks.py: its hub and spoke parts, planned
        path = context.root / "network-landing-zone.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return synthesize(load_landing_zone(path), context.root / "synth-network")

    stacks: Path = context.value("network-stacks", build)
    return stacks


def _prepare(name: str, context: Context) -> Prepared:
    return prepare_stack(context, network_stacks(context) / name, f"network-{name}")


NETWORK_JOBS = [Job(f"network[{name}]", functools.partial(_prepare, name), cost=2) for name in STACKS]


@pytest.mark.terraform
@pytest.mark.parametrize("job", NETWORK_JOBS, ids=str)
def test_network_stack_validates_and_plans_every_declared_resource(job: Job, tier: Tier) -> None:
    prepared, outcome = tier.result(job)
    creates = assert_plans_every_declared_resource(job, prepared, outcome)
    if job.key == "network[directory-network]":
        assert any(a.startswith("aws_route53_resolver_rule.") for a in creates)
    if job.key == f"network[spoke-{SPOKE}]":
        assert any(a.startswith("aws_route53_resolver_rule_association.") for a in creates)
    if job.key == "network[hub]":
        assert any(a.startswith("aws_dynamodb_table_item.") for a in creates)
