"""The plain hub's account-list mode, as generated (no Terraform: the Terraform tier plans both modes through
examples/hub-consumer, tests/terraform/test_plain_hub_accounts.py).

GIVEN the plain hub in Terraform's JSON form, THEN `organization_id` is optional and `principal_account_ids`
a list checked by the shared account-id pattern (modules/patterns.py), exactly one of them is demanded by a
precondition of the bus policy, and each of the three statements that name the enrolled accounts (bus
policy, spoke-role grant, key) is chosen at plan between the organization's and the listed accounts'.
GIVEN the cdktf landing zones (Python values), THEN no statement is chosen at plan: they keep today's JSON.
"""

from __future__ import annotations

import json
import re

import pytest
from modules_testlib import LandingZones

from modules.patterns import ACCOUNT_ID
from modules.plain import conventions
from modules.plain.props import regex_text
from modules.plain_modules import HUB_ACCOUNTS_RULE, UNITS, build_modules

CHOICE = "jsondecode((var.organization_id != null) ? jsonencode("
ORGANIZATION_BRANCH = re.compile(r'"aws:(PrincipalOrgID|ResourceOrgID)" = var\.organization_id')
ACCOUNTS_BRANCH = re.compile(r'formatlist\("arn:\$\{data\.aws_partition\.\w+\.partition\}:iam::%s:[^"]+", '
                             r"var\.principal_account_ids\)")  # fmt: skip


@pytest.fixture(scope="module")
def hub(plain_modules: object) -> conventions.Module:
    return build_modules()["hub"]  # the one the plain_modules fixture rendered (cached per process)


def policies(hub: conventions.Module) -> dict[str, str]:
    """The three policies that name the enrolled accounts, by what they guard."""
    [bus] = hub.resources["aws_cloudwatch_event_bus_policy"].values()
    [role] = hub.resources["aws_iam_role_policy"].values()
    [key] = hub.resources["aws_kms_key"].values()
    return {"bus": bus["policy"], "assume": role["policy"], "key": key["policy"]}


def test_organization_or_account_list_are_validated_inputs(hub: conventions.Module) -> None:
    variables = {variable.name: variable for variable in UNITS["hub"].variables}
    assert variables["organization_id"].default is None
    accounts = variables["principal_account_ids"]
    assert (accounts.type, accounts.default) == ("list(string)", [])
    [(condition, message)] = accounts.validations
    assert json.dumps(regex_text(ACCOUNT_ID)) in condition and "principal_account_ids" in message
    rendered = hub.variables["principal_account_ids"]["validation"][0]["condition"]
    assert "var.principal_account_ids" in rendered and json.dumps(regex_text(ACCOUNT_ID)) in rendered


def test_exactly_one_of_them_is_a_precondition_of_the_bus_policy(hub: conventions.Module) -> None:
    [bus] = hub.resources["aws_cloudwatch_event_bus_policy"].values()
    condition, message = HUB_ACCOUNTS_RULE
    assert {"condition": f"${{{condition}}}", "error_message": message} in bus["lifecycle"]["precondition"]
    assert "var.organization_id != null" in condition and "length(var.principal_account_ids)" in condition


def test_each_enrolment_statement_is_chosen_at_plan(hub: conventions.Module) -> None:
    for name, policy in policies(hub).items():
        assert policy.count(CHOICE) == 1, name
        chosen = policy.split(CHOICE, 1)[1]
        organization, accounts = chosen.split(") : jsonencode(", 1)
        assert ORGANIZATION_BRANCH.search(organization) and not ACCOUNTS_BRANCH.search(organization), name
        assert ACCOUNTS_BRANCH.search(accounts) and "var.organization_id" not in accounts, name


def test_landing_zones_choose_in_python(landing_zones: LandingZones) -> None:
    for app in (landing_zones.org, landing_zones.accounts):
        text = json.dumps(app.stacks)
        assert "jsondecode(" not in text and "principal_account_ids" not in text
