"""The reconciliation's resources, read by the real Terraform CLI (provider 5.100 from the mirror).

The example keeps `reconciliation:` commented out.  The network tier's landing zone (test_network_stacks.py)
carries a `reconciliation:` section, so its hub and spoke work dirs, which that tier already synthesizes and
puts through init, validate and an offline plan, hold the reconciliation too: this module reuses those very
jobs (same keys, one Terraform run each) and checks that the planner and worker, their queues, bucket,
schedule and alarms, the tools host's inventory grant and the spoke's reconcile reader role are all planned
(`assert_plans_every_declared_resource`: every declared resource, nothing else).
"""

from __future__ import annotations

from typing import Any

import pytest

from modules import naming

from .test_network_stacks import NETWORK_JOBS, SPOKE
from .test_stacks import assert_plans_every_declared_resource
from .tier import Job, Tier

JOBS = {job.key: job for job in NETWORK_JOBS}
HUB = JOBS["network[hub]"]
SPOKE_JOB = JOBS[f"network[spoke-{SPOKE}]"]


def _named(config: dict[str, Any], resource_type: str, attribute: str = "name") -> dict[str, str]:
    """Resource address -> its `attribute`, for every resource of that type."""
    return {
        f"{resource_type}.{address}": str(body.get(attribute))
        for address, body in config.get("resource", {}).get(resource_type, {}).items()
    }


@pytest.mark.terraform
@pytest.mark.parametrize("job", [HUB], ids=str)
def test_the_hubs_reconciliation_validates_and_plans(job: Job, tier: Tier) -> None:
    prepared, outcome = tier.result(job)
    creates = set(assert_plans_every_declared_resource(job, prepared, outcome))
    config = prepared.expected["config"]
    roles = _named(config, "aws_iam_role")
    wanted = {naming.reconcile_planner_name(), naming.reconcile_worker_name()}
    assert {a for a, name in roles.items() if name in wanted} <= creates
    assert len([a for a, name in roles.items() if name in wanted]) == 2
    functions = _named(config, "aws_lambda_function", "function_name")
    assert len([a for a, name in functions.items() if name in wanted and a in creates]) == 2
    for resource_type in ("aws_s3_bucket_policy", "aws_cloudwatch_event_rule", "aws_sqs_queue"):
        assert any(a.startswith(f"{resource_type}.") for a in creates), resource_type
    policies = _named(config, "aws_iam_role_policy")
    assert [a for a, name in policies.items() if name == "write-reconcile-inventory" and a in creates]


@pytest.mark.terraform
@pytest.mark.parametrize("job", [SPOKE_JOB], ids=str)
def test_the_spokes_reader_role_validates_and_plans(job: Job, tier: Tier) -> None:
    prepared, outcome = tier.result(job)
    creates = set(assert_plans_every_declared_resource(job, prepared, outcome))
    config = prepared.expected["config"]
    reader = [
        a for a, name in _named(config, "aws_iam_role").items() if name == naming.reconcile_reader_role_name()
    ]
    assert len(reader) == 1 and reader[0] in creates
    policies = _named(config, "aws_iam_role_policy")
    assert [a for a, name in policies.items() if name == naming.reconcile_reader_role_name() and a in creates]
