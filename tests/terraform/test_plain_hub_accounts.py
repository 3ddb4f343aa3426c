"""The plain hub's two ways of naming the enrolled accounts, planned by Terraform.

GIVEN examples/hub-consumer in the work dir the tier already initialized and planned (organization mode, its
terraform.tfvars), WHEN it is planned again with a var file giving `principal_account_ids` instead
(organization null), or both, or neither, THEN the account-list plan's bus policy, spoke-role grant and key
statement name exactly the listed accounts and no organization, the organization plan's name the
organization condition and no account, and both / neither fail the plan with the module's precondition
message. Three extra `terraform plan` runs in the shared work dir (no second init).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from handlers.domain_join import settings
from modules import arns
from modules.plain_modules import HUB_ACCOUNTS_RULE

from .test_plain_modules import CONSUMER_JOBS
from .tfcli import Terraform
from .tier import Job, Tier

[HUB_JOB] = [job for job in CONSUMER_JOBS if job.key == "hub-consumer"]
ACCOUNTS = ["222222222222", "333333333333"]
PLAN = ("plan", "-refresh=false", "-input=false", "-lock=false", "-no-color")


def plan_with(terraform: Terraform, workdir: Any, name: str, values: dict[str, Any]) -> Any:
    """A plan of the consumer with `values` over its terraform.tfvars; the step, and the plan's JSON (None
    when the plan failed)."""
    (workdir / f"{name}.tfvars.json").write_text(json.dumps(values))
    step = terraform.run(workdir, *PLAN, f"-var-file={name}.tfvars.json", f"-out={name}.tfplan")
    if step.returncode != 0:
        return step, None
    show = terraform.run(workdir, "show", "-json", f"{name}.tfplan")
    assert show.returncode == 0, show.output
    return step, json.loads(show.output)


def planned(plan: dict[str, Any], type_name: str) -> dict[str, Any]:
    """The one planned resource of that type in the hub module call."""
    [values] = [
        resource["values"]
        for module in plan["planned_values"]["root_module"].get("child_modules", [])
        for resource in module.get("resources", [])
        if resource["type"] == type_name and resource["mode"] == "managed"
    ]
    return values


def statement(policy: str, sid: str) -> dict[str, Any]:
    [found] = [s for s in json.loads(policy)["Statement"] if s.get("Sid") == sid]
    return found


def enrolment(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The three statements that name the enrolled accounts: bus, spoke-role grant, key."""
    bus = planned(plan, "aws_cloudwatch_event_bus_policy")["policy"]
    [bus_statement] = json.loads(bus)["Statement"]
    return {
        "bus": bus_statement,
        "assume": statement(planned(plan, "aws_iam_role_policy")["policy"], "AssumeSpokeExecutionRole"),
        "key": statement(planned(plan, "aws_kms_key")["policy"], "InstancesOpenOwnJoinPassword"),
    }


@pytest.fixture(scope="module")
def hub_workdir(tier: Tier) -> Any:
    prepared, outcome = tier.result(HUB_JOB)
    assert outcome.failed_step is None, outcome.output
    assert outcome.plan is not None
    return prepared.workdir, outcome.plan


@pytest.mark.terraform
@pytest.mark.parametrize("job", [HUB_JOB], ids=str)
def test_account_list_mode_names_exactly_the_listed_accounts(
    job: Job, hub_workdir: Any, terraform_cli: Terraform
) -> None:
    workdir, organization_plan = hub_workdir
    step, plan = plan_with(
        terraform_cli, workdir, "accounts", {"organization_id": None, "principal_account_ids": ACCOUNTS}
    )
    assert plan is not None, step.output

    listed = enrolment(plan)
    roots = sorted(arns.account_root_arn("aws", account) for account in ACCOUNTS)
    assert listed["bus"]["Sid"] == "AccountsPutEvents"
    assert sorted(listed["bus"]["Principal"]["AWS"]) == roots
    assert sorted(listed["key"]["Principal"]["AWS"]) == roots
    role_name = settings.SPOKE_ROLE_NAME.default  # the consumer keeps the module's default
    assert sorted(listed["assume"]["Resource"]) == sorted(
        arns.role_arn("aws", account, str(role_name)) for account in ACCOUNTS
    )
    text = json.dumps(listed)
    assert "OrgID" not in text and "o-exampleorg1" not in text

    in_organization = enrolment(organization_plan)
    assert in_organization["bus"]["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-exampleorg1"}}
    assert in_organization["bus"]["Principal"] == in_organization["key"]["Principal"] == "*"
    assert in_organization["key"]["Condition"]["StringEquals"]["aws:PrincipalOrgID"] == "o-exampleorg1"
    assert in_organization["assume"]["Condition"] == {"StringEquals": {"aws:ResourceOrgID": "o-exampleorg1"}}
    assert not any(account in json.dumps(in_organization) for account in ACCOUNTS)


@pytest.mark.terraform
@pytest.mark.parametrize("job", [HUB_JOB], ids=str)
@pytest.mark.parametrize(
    ("name", "values"),
    [("both", {"principal_account_ids": ACCOUNTS}), ("neither", {"organization_id": None})],
)
def test_both_or_neither_fails_the_plan_with_the_modules_message(
    job: Job, name: str, values: dict[str, Any], hub_workdir: Any, terraform_cli: Terraform
) -> None:
    workdir, _ = hub_workdir
    step, plan = plan_with(terraform_cli, workdir, name, values)

    assert plan is None
    assert "Resource precondition failed" in step.output
    assert " ".join(HUB_ACCOUNTS_RULE[1].split()) in " ".join(step.output.split())
