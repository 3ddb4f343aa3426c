"""Plain modules composed in one configuration, as a landing-zone pipeline wires them: an input that is an
attribute of a resource created in the same apply (the reconciliation's bucket ARN, a role ARN, a topic ARN,
another module's resolver rule id) is unknown at plan.  A module that counted resources on `input != null`
would fail that plan ("Invalid count argument"); the switches (`create_inventory_policy`,
`create_reconcile_reader_role`, `create_notification_topic`, `lookup_resolver_rule`) decide it at plan.

The calls (`COMPOSED_ROOT`) live in the work dir of test_plain_modules' HCL-module job (no extra Terraform
run).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from modules.plain_modules import UNITS

from .test_plain_create_false import read_data_sources
from .test_plain_modules import COMPOSED_ROOT, HCL_MODULE_JOB
from .tier import PLAIN_MODULES, Job, Tier


@pytest.mark.terraform
@pytest.mark.parametrize("job", [HCL_MODULE_JOB], ids=str)
def test_modules_wired_to_apply_time_values_plan_with_their_switches(job: Job, tier: Tier) -> None:
    # GIVEN tools host, spoke, directory network and member network fed with values known only after apply
    _, outcome = tier.result(job)

    # THEN the plan succeeds
    assert outcome.failed_step is None, outcome.output
    assert outcome.plan is not None
    changed = set(outcome.planned_changes())
    # AND the switched-on parts are planned, once each
    assert "module.composed_tools_host.aws_iam_role_policy.inventory[0]" in changed
    assert "module.composed_spoke.aws_iam_role.reconcile_reader[0]" in changed
    assert "module.composed_spoke.aws_iam_role_policy.reconcile_reader[0]" in changed
    associations = [a for a in changed if a.startswith("module.composed_member_network.aws_route53_resolver")]
    assert associations == [
        'module.composed_member_network.aws_route53_resolver_rule_association.directory["vpc-0123456789abcdef0"]'
    ]
    # AND the switched-off ones are not: the given topic replaces the module's (no topic, key or policy) ...
    own_topic = [
        a for a in changed if re.match(r"module\.composed_directory_network\.aws_(sns_topic|kms_)", a)
    ]
    assert own_topic == []
    # ... and the member network does not look the rule up by name
    assert not [d for d in read_data_sources(outcome.plan, "composed_member_network") if "resolver_rule" in d]
    # AND the association takes the directory network's rule, known only after apply
    association = _planned(outcome.plan, associations[0])
    assert association["after_unknown"].get("resolver_rule_id") is True


def _planned(plan: dict[str, Any], address: str) -> dict[str, Any]:
    [change] = [c["change"] for c in plan["resource_changes"] if c["address"] == address]
    return change


def test_the_composed_root_sets_every_switch_the_modules_have() -> None:
    """GIVEN the units' switches, THEN the composed configuration exercises each of them."""
    switches = {switch.name for unit in UNITS.values() for switch in unit.switches}
    assert switches == {"create_inventory_policy", "create_reconcile_reader_role",
                        "create_notification_topic", "lookup_resolver_rule"}  # fmt: skip
    for name in switches:
        assert re.search(rf"^\s*{name}\s*=", COMPOSED_ROOT, re.M), name


@pytest.mark.parametrize("unit", sorted(u for u in UNITS if UNITS[u].switches))
def test_every_null_test_of_a_switched_input_stands_in_its_switch(unit: str) -> None:
    """GIVEN a generated module with switches, THEN every `var.<input> == null` / `!= null` of a switched
    input in its resources and outputs is the switch's fallback (a bare test would leave the count unknown
    for an apply-time value), and each switch is used."""
    text = "".join((PLAIN_MODULES / unit / name).read_text() for name in ("main.tf", "outputs.tf"))
    for switch in UNITS[unit].switches:
        tests = [m.start() for m in re.finditer(rf"var\.{switch.input} [!=]= null", text)]
        assert tests, switch.input
        guarded = f"var.{switch.name} != null ? var.{switch.name} : "
        bare = [text[max(0, at - 80) : at + 40] for at in tests if not text[:at].endswith(guarded)]
        assert bare == [], (switch.name, bare)
