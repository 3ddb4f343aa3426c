"""Every synthesized stack of the example landing zone, read by the real Terraform CLI and provider.

GIVEN the example landing zone synthesized once per session, WHEN each stack (adapted for provider 5.100 and
offline use exactly as `v5` lists) goes through `terraform init`, `validate` and an offline `plan`, THEN all
three succeed and the saved plan creates every resource the stack declares (each `for_each` resource at least
once, every other resource exactly once) and nothing else: a stack that validates but silently plans nothing
fails.
"""

from __future__ import annotations

import functools
import re
from collections import Counter

import pytest

from .tfcli import Outcome
from .tier import (
    Context,
    Job,
    Prepared,
    Tier,
    example_landing_zone,
    example_stacks,
    prepare_stack,
    stack_name,
)

INSTANCE_KEY = re.compile(r"\[[^\]]*\]$")


def _prepare_example_stack(kind: str, qualifier: str | None, context: Context) -> Prepared:
    name = stack_name(kind, qualifier)
    return prepare_stack(context, example_stacks(context) / name, f"stack-{name}")


def example_stack_jobs() -> list[Job]:
    """One job per unit of the example landing zone: the hub, a forwarder per extra Region, a spoke per
    enrolled account."""
    lz = example_landing_zone()
    units: list[tuple[str, str | None]] = [("hub", None)]
    units += [("forwarder", region) for region in lz.extra_regions]
    units += [("spoke", spoke.account_id) for spoke in lz.spokes]
    return [
        Job(
            f"{kind}[{qualifier}]" if qualifier else kind,
            functools.partial(_prepare_example_stack, kind, qualifier),
            cost=1,
        )
        for kind, qualifier in units
    ]


STACK_JOBS = example_stack_jobs()


def resource_base(address: str) -> str:
    return INSTANCE_KEY.sub("", address)


def assert_plans_every_declared_resource(job: Job, prepared: Prepared, outcome: Outcome) -> list[str]:
    """Validate and plan passed, and the plan creates what the stack declares and nothing else; returns the
    planned creations."""
    assert outcome.failed_step is None, outcome.output
    config = prepared.expected["config"]
    declared = {
        f"{type_name}.{name}": "for_each" in body or "count" in body
        for type_name, blocks in config.get("resource", {}).items()
        for name, body in blocks.items()
    }
    assert declared, f"{job} declares no resource"
    creates = outcome.planned_creates()
    instances = Counter(resource_base(address) for address in creates)
    assert set(instances) == set(declared), outcome.output
    assert {address: n for address, n in instances.items() if not declared[address] and n != 1} == {}
    assert outcome.planned_changes() == creates  # nothing planned but creations
    return list(creates)


@pytest.mark.terraform
@pytest.mark.parametrize("job", STACK_JOBS, ids=str)
def test_stack_validates_and_plans_every_declared_resource(job: Job, tier: Tier) -> None:
    prepared, outcome = tier.result(job)
    assert_plans_every_declared_resource(job, prepared, outcome)


@pytest.mark.terraform
def test_every_synthesized_stack_is_checked(tier: Tier) -> None:
    """GIVEN the synthesized example, THEN the parametrization above covers each of its stacks (a new kind
    of stack cannot slip past the tier)."""
    synthesized = {path.name for path in example_stacks(tier.context).iterdir() if path.is_dir()}
    checked = {stack_name(*_unit(job)) for job in STACK_JOBS}
    assert synthesized == checked


def _unit(job: Job) -> tuple[str, str | None]:
    assert isinstance(job.prepare, functools.partial)
    kind, qualifier = job.prepare.args
    return kind, qualifier
