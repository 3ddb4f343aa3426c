"""`create = false` on the plain network modules: nothing planned, nothing of theirs read from AWS, every
output null; and no plain module is left out of the `create = false` check.

The calls live in the work dir of test_plain_modules' HCL-module job (`CREATE_FALSE_ROOT`: every plain module
with `create = false` and only its required inputs), so this costs no extra Terraform run.  The member network
is called without `resolver_rule_id`: with `create = true` it would look the shared rule up at plan
(`data.aws_route53_resolver_rule`), which the tier's offline stub refuses, so a lookup not switched off by
`create` fails the plan here.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from .test_plain_modules import CREATE_FALSE_CALLS, CREATE_FALSE_ROOT, HCL_MODULE_JOB, plain_modules
from .tier import PLAIN_MODULES, Job, Tier

NETWORK_CALLS = {"directory_network": "directory-network", "member_network": "member-network"}


def read_data_sources(plan: dict[str, Any], call: str) -> set[str]:
    """The data sources Terraform read at plan in module `call` (their values are in the prior state)."""
    for module in (
        plan.get("prior_state", {}).get("values", {}).get("root_module", {}).get("child_modules", [])
    ):
        if module["address"] == f"module.{call}":
            return {
                r["address"].removeprefix(f"module.{call}.")
                for r in module["resources"]
                if r["mode"] == "data"
            }
    return set()


def test_every_plain_module_is_called_with_create_false() -> None:
    """GIVEN terraform/modules/<m>, THEN the create = false work dir calls it: no module is forgotten."""
    called = dict(CREATE_FALSE_CALLS)
    assert sorted(called.values()) == plain_modules()
    for call, unit in called.items():
        block = re.search(rf'^module "{call}" \{{\n(.*?)^\}}', CREATE_FALSE_ROOT, re.M | re.S)
        assert block is not None, call
        assert f'source = "../../terraform/modules/{unit}"' in re.sub(r" +", " ", block.group(1))
        assert re.search(r"^\s*create\s*=\s*false$", block.group(1), re.M), call


@pytest.mark.terraform
@pytest.mark.parametrize("job", [HCL_MODULE_JOB], ids=str)
def test_network_modules_with_create_false_plan_and_read_nothing(job: Job, tier: Tier) -> None:
    # GIVEN both network modules called with create = false (the member network without resolver_rule_id)
    _, outcome = tier.result(job)

    # THEN the plan succeeds offline and changes no resource of theirs
    assert outcome.failed_step is None, outcome.output
    assert outcome.plan is not None
    changed = outcome.planned_changes()
    assert not [
        address for address in changed if address.startswith(tuple(f"module.{c}." for c in NETWORK_CALLS))
    ]
    # AND every output of theirs is planned, and null
    outputs = outcome.plan["output_changes"]
    for call, unit in NETWORK_CALLS.items():
        names = re.findall(r'^output "(\w+)"', (PLAIN_MODULES / unit / "outputs.tf").read_text(), re.M)
        assert names, unit
        assert {name: outputs[f"{call}_{name}"]["after"] for name in names} == dict.fromkeys(names)
    # AND the member network did not look the resolver rule up (only the account and Region were read)
    assert not [d for d in read_data_sources(outcome.plan, "member_network") if "resolver_rule" in d]
