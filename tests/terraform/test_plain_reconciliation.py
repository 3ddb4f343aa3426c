"""The plain reconciliation module and the spoke's reconcile reader role, read through the plans of their
example consumers (the work dirs and Terraform runs of test_plain_modules.py's consumer jobs: no extra
Terraform run).

- reconciliation: the planner's and the worker's policies, both trust policies and the inventory bucket's
  policy are the `Reconciliation` construct's, synthesized with cdktf for the same inputs (a `HubView` of
  the consumer's terraform.tfvars, the hub outputs among them; the STS stub's account), statement for
  statement; the schedule, its input and the functions' environment carry the consumer's tunables;
- spoke: with `reconciler_role_arn` the consumer plans the reader role with the `Spoke` construct's trust
  and policy for the same inputs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from handlers.domain_join import contract, settings

from .test_plain_modules import CONSUMER_JOBS
from .test_plain_units import planned, tfvars
from .tfcli import STUB_DEFAULT_ACCOUNT
from .tier import Job, Tier

[RECONCILIATION_JOB] = [job for job in CONSUMER_JOBS if job.key == "reconciliation-consumer"]
[SPOKE_JOB] = [job for job in CONSUMER_JOBS if job.key == "spoke-consumer"]


def synthesized(build: Any, outdir: Path, region: str) -> dict[str, Any]:
    """`build(stack)` in a stack of its own, synthesized: the stack's Terraform JSON."""
    from cdktf_cdktf_provider_aws.provider import AwsProvider

    from modules.cdk import App, TerraformStack

    app = App(outdir=str(outdir))
    stack = TerraformStack(app, "construct")
    AwsProvider(stack, "aws", region=region)
    build(stack)
    app.synth()
    config: dict[str, Any] = json.loads((outdir / "stacks" / "construct" / "cdk.tf.json").read_text())
    return config


def reconciliation_construct(values: dict[str, Any], outdir: Path) -> dict[str, Any]:
    """The Reconciliation construct for the consumer's inputs (the view the plain module's variables make)."""
    from modules.hub import LAMBDA_RUNTIME, METRICS_NAMESPACE, SERVICE_DIMENSION, SERVICE_NAME
    from modules.reconcile import HubView, Reconciliation
    from modules.reconcile_props import ReconcileProps

    hub, region, tunables = values["hub"], values["home_region"], values["reconciliation"]
    view = HubView(
        name="domain-join",
        account_id=STUB_DEFAULT_ACCOUNT,
        region=region,
        partition="aws",
        dns_suffix="amazonaws.com",
        forwarder_regions=(),
        organization_id=values["organization_id"],
        principal_account_ids=(),
        kms_key_arn=hub["kms_key_arn"],
        join_queue_arn=hub["queue_arn"],
        join_queue_url=hub["queue_url"],
        config_table_name=hub["config_table_name"],
        ledger_table_name=hub["ledger_table_name"],
        handler_environment=hub["handler_environment"],
        code={"s3_bucket": values["artifact_s3_bucket"], "s3_key": values["artifact_s3_key"]},
        runtime=LAMBDA_RUNTIME,
        powertools_layer_arn=hub["powertools_layer_arn"],
        log_retention_days=365,
        alarm_topic_arn=None,
        tools_host_tag_key=str(settings.TOOLS_HOST_TAG_KEY.default),
        tools_host_tag_value=str(settings.TOOLS_HOST_TAG_VALUE.default),
        tools_host_role_arn=f"arn:aws:iam::{STUB_DEFAULT_ACCOUNT}:role/domain-join-tools-host",
        metrics_namespace=METRICS_NAMESPACE,
        metric_dimensions={SERVICE_DIMENSION: SERVICE_NAME},
    )
    props = ReconcileProps(**tunables)
    return synthesized(lambda stack: Reconciliation(stack, "reconciliation", view, props), outdir, region)


def in_regions_as_set(document: dict[str, Any]) -> dict[str, Any]:
    """A policy with its `aws:RequestedRegion` lists as sets (IAM reads a condition's values as a set; the
    construct sorts the Regions, the module keeps the variable's order)."""
    for statement in document["Statement"]:
        regions = statement.get("Condition", {}).get("StringEquals", {})
        if "aws:RequestedRegion" in regions:
            regions["aws:RequestedRegion"] = set(regions["aws:RequestedRegion"])
    return document


def by_name(resources: dict[str, Any], attribute: str = "name") -> dict[str, Any]:
    return {body[attribute]: body for body in resources.values()}


@pytest.fixture(scope="module")
def reconciliation_plan(tier: Tier) -> dict[str, Any]:
    _, outcome = tier.result(RECONCILIATION_JOB)
    assert outcome.failed_step is None, outcome.output
    assert outcome.plan is not None
    return outcome.plan


@pytest.mark.terraform
@pytest.mark.parametrize("job", [RECONCILIATION_JOB], ids=str)
def test_plain_reconciliation_grants_exactly_what_the_construct_grants(
    job: Job, reconciliation_plan: dict[str, Any], tmp_path: Path
) -> None:
    # GIVEN the plan of the reconciliation consumer (the hub's outputs, the organization, its tunables) and
    # the Reconciliation construct synthesized for the same inputs
    values = tfvars(job.key)
    construct = reconciliation_construct(values, tmp_path / "synth")["resource"]
    # WHEN the planned role policies, trust policies and bucket policy are read by name
    policies = {
        after["name"]: json.loads(after["policy"])
        for after in planned(reconciliation_plan, "aws_iam_role_policy").values()
    }
    trusts = {
        after["name"]: json.loads(after["assume_role_policy"])
        for after in planned(reconciliation_plan, "aws_iam_role").values()
    }
    [bucket_policy] = planned(reconciliation_plan, "aws_s3_bucket_policy").values()
    # THEN each is the construct's, statement for statement (the organization's assume-role statement chosen)
    expected_policies = {
        name: json.loads(body["policy"]) for name, body in by_name(construct["aws_iam_role_policy"]).items()
    }
    assert policies == expected_policies
    assert set(policies) == {"domain-join-reconcile-planner", "domain-join-reconcile-worker"}
    worker = {s["Sid"]: s for s in policies["domain-join-reconcile-worker"]["Statement"]}
    assert worker["AssumeSpokeReaderRole"]["Condition"] == {
        "StringEquals": {"aws:ResourceOrgID": values["organization_id"]}
    }
    roles = by_name(construct["aws_iam_role"])
    assert trusts == {name: json.loads(body["assume_role_policy"]) for name, body in roles.items()}
    [expected_bucket_policy] = construct["aws_s3_bucket_policy"].values()
    assert json.loads(bucket_policy["policy"]) == json.loads(expected_bucket_policy["policy"])


@pytest.mark.terraform
@pytest.mark.parametrize("job", [RECONCILIATION_JOB], ids=str)
def test_plain_reconciliation_schedules_and_configures_the_functions_as_given(
    job: Job, reconciliation_plan: dict[str, Any]
) -> None:
    # GIVEN the consumer's tunables (schedule, dry run, removal limit, quarantine)
    tunables = tfvars(job.key)["reconciliation"]
    # THEN the schedule runs the planner at that rate, in dry-run mode
    [rule] = planned(reconciliation_plan, "aws_cloudwatch_event_rule").values()
    assert (rule["schedule_expression"], rule["state"]) == (tunables["schedule"], "ENABLED")
    [target] = planned(reconciliation_plan, "aws_cloudwatch_event_target").values()
    assert json.loads(target["input"]) == {"dryRun": tunables["dry_run"]}
    # AND both functions read the tunables into their environment, beside the hub's (the values are known only
    # at apply: the map holds the reconcile queue's URL), passed from the consumer's values
    [call] = reconciliation_plan["configuration"]["root_module"]["module_calls"].values()
    functions = [r for r in call["module"]["resources"] if r["type"] == "aws_lambda_function"]
    assert {f["name"] for f in functions} == {"planner", "worker"}
    tunable_variables = {f"var.{name}" for name in tunables if name != "schedule"}  # the rule's, not theirs
    for function in functions:
        read = set(function["expressions"]["environment"][0]["variables"]["references"])
        assert {"var.handler_environment", "var.join_queue_url", *tunable_variables} <= read, function["name"]
    for name in tunables:
        assert "var.reconciliation" in call["expressions"][name]["references"], name
    assert reconciliation_plan["variables"]["reconciliation"]["value"] == tunables
    assert reconciliation_plan["variables"]["reconciliation"]["value"]["dry_run"] is True


@pytest.mark.terraform
@pytest.mark.parametrize("job", [SPOKE_JOB], ids=str)
def test_plain_spoke_plans_the_reader_role_of_the_construct(job: Job, tier: Tier, tmp_path: Path) -> None:
    # GIVEN the spoke consumer's plan with reconciler_role_arn and an operators' role
    _, outcome = tier.result(job)
    assert outcome.failed_step is None, outcome.output
    assert outcome.plan is not None
    values = tfvars(job.key)
    assert values["reconciler_role_arn"] and values["reader_principal_arns"]
    # AND the Spoke construct for the same inputs
    from modules.spoke import Spoke, SpokeProps

    props = SpokeProps(
        account_id=STUB_DEFAULT_ACCOUNT,
        regions=values["regions"],
        security_account_id=values["security_account_id"],
        hub_lambda_role_arn=values["hub_lambda_role_arn"],
        reconciler_role_arn=values["reconciler_role_arn"],
        reader_principal_arns=values["reader_principal_arns"],
    )
    region = values["regions"][0]
    construct = synthesized(lambda stack: Spoke(stack, "spoke", props), tmp_path / "synth", region)
    expected_role = by_name(construct["resource"]["aws_iam_role"])["domain-join-reconcile-reader"]
    expected_policy = by_name(construct["resource"]["aws_iam_role_policy"])["domain-join-reconcile-reader"]
    # WHEN the planned reader role and its policy are read
    role = by_name(planned(outcome.plan, "aws_iam_role"))["domain-join-reconcile-reader"]
    policy = by_name(planned(outcome.plan, "aws_iam_role_policy"))["domain-join-reconcile-reader"]
    # THEN both are the construct's: the worker (and the operators) trusted, describe-only in its Regions
    trust = json.loads(role["assume_role_policy"])
    assert trust == json.loads(expected_role["assume_role_policy"])
    assert [s["Sid"] for s in trust["Statement"]] == ["HubReconcilerOnly", "Operators"]
    assert in_regions_as_set(json.loads(policy["policy"])) == in_regions_as_set(
        json.loads(expected_policy["policy"])
    )
    assert contract.DEFAULT_SPOKE_ROLE_NAME in by_name(planned(outcome.plan, "aws_iam_role"))
