"""The reconciliation's infrastructure (modules/reconcile.py): one landing zone with a `reconciliation:`
section, synthesized once for this module; its policies through parliament, the hub stack through checkov."""

from __future__ import annotations

import fnmatch
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import parliament
import pytest
from modules_testlib import (
    HOME_REGION,
    SECURITY_ACCOUNT,
    SynthesizedApp,
    as_list,
    organization_landing_zone,
    parse_policy,
    run_checkov,
    statements_by_sid,
    synthesize_landing_zone,
)
from test_policies import JUSTIFIED_FINDINGS, _resource_type

from handlers.domain_join import contract, settings
from handlers.domain_join.reconcile.plan import ReconcileSettings
from modules import naming
from modules.checkov_skips import CHECKOV_SKIPS, RECONCILE_CHECKOV_SKIPS
from modules.landing_zone import LandingZoneError, load_landing_zone
from modules.reconcile_props import ReconcileProps
from modules.validation import PropsError

SECTION = {
    "enabled": False,
    "schedule": "rate(30 minutes)",
    "dry_run": True,
    "quarantine_days": 7,
    "max_removals": 40,
    "inventory_retention_days": 14,
}
NAME = naming.DEFAULT_NAME


def hub_only_landing_zone() -> dict[str, Any]:
    """The organization landing zone without spokes or extra Regions: the hub stack alone (fast)."""
    data = organization_landing_zone()
    del data["spokes"], data["extra_regions"]
    return data


SPOKE = "222222222222"
EXTERNAL_ID = "landing-zone-7"
OPERATORS = f"arn:aws:iam::{SECURITY_ACCOUNT}:role/domain-join-operators"


@pytest.fixture(scope="module")
def reconciled(
    write_landing_zone: Callable[[dict[str, Any], str], Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> SynthesizedApp:
    """GIVEN a hub-only landing zone with a `reconciliation:` section of non-default values."""
    data = {
        **hub_only_landing_zone(),
        "spokes": [{"account_id": SPOKE, "regions": [HOME_REGION], "directory": "corp"}],
        "spoke_role": {"external_id": EXTERNAL_ID},
        "directories": {
            "corp": {
                "domain": "corp.example.com",
                "dns_ips": ["10.0.0.10"],
                "join_user": "svc-domainjoin",
                "join_password_parameter": "/domain-join/join-password",
            }
        },
        "tools_host": {},
        "reconciliation": {**SECTION, "reader_principal_arns": [OPERATORS]},
    }
    return synthesize_landing_zone(
        write_landing_zone(data, "reconciled.yaml"), tmp_path_factory.mktemp("reconciled") / "out"
    )


def by_name(app: SynthesizedApp, resource_type: str, name: str, attribute: str = "name") -> dict[str, Any]:
    (body,) = [b for b in app.resources("hub", resource_type).values() if b.get(attribute) == name]
    return body


def role_policy(app: SynthesizedApp, role_name: str) -> dict[str, Any]:
    (body,) = [b for b in app.resources("hub", "aws_iam_role_policy").values() if b["name"] == role_name]
    return parse_policy(body["policy"])


def test_planner_and_worker_run_the_handler_artifact_with_the_section_settings(
    reconciled: SynthesizedApp,
) -> None:
    # THEN both functions use the artifact's own entry points; the worker's environment carries the section
    planner = by_name(reconciled, "aws_lambda_function", naming.reconcile_planner_name(NAME), "function_name")
    worker = by_name(reconciled, "aws_lambda_function", naming.reconcile_worker_name(NAME), "function_name")
    assert planner["handler"] == "domain_join.app.planner_handler"
    assert worker["handler"] == "domain_join.app.reconcile_handler"
    handler = by_name(reconciled, "aws_lambda_function", naming.function_name(NAME), "function_name")
    assert planner["filename"] == worker["filename"] == handler["filename"]
    env = worker["environment"]["variables"]
    parsed = ReconcileSettings.from_env(env)
    assert (parsed.dry_run, parsed.quarantine_days, parsed.max_removals) == (True, 7, 40)
    assert env[contract.ENV_HUB_REGIONS].split(",")[0] == HOME_REGION
    assert env[contract.ENV_INVENTORY_BUCKET] == naming.inventory_bucket_name(
        NAME, SECURITY_ACCOUNT, HOME_REGION
    )


def test_the_schedule_invokes_the_planner_and_can_be_disabled(reconciled: SynthesizedApp) -> None:
    rule = by_name(reconciled, "aws_cloudwatch_event_rule", naming.reconcile_schedule_rule_name(NAME))
    assert rule["schedule_expression"] == SECTION["schedule"]
    assert rule["state"] == "DISABLED"
    (target,) = [
        t
        for t in reconciled.resources("hub", "aws_cloudwatch_event_target").values()
        if t["target_id"] == "reconcile-planner"
    ]
    assert json.loads(target["input"]) == {"dryRun": True}
    (permission,) = reconciled.resources("hub", "aws_lambda_permission").values()
    assert permission["principal"] == "events.amazonaws.com"


def test_the_reconcile_queue_is_encrypted_and_redrives_to_its_dlq(reconciled: SynthesizedApp) -> None:
    queue = by_name(reconciled, "aws_sqs_queue", naming.reconcile_queue_name(NAME))
    dlq = by_name(reconciled, "aws_sqs_queue", naming.reconcile_dead_letter_queue_name(NAME))
    assert queue["kms_master_key_id"] and dlq["kms_master_key_id"]
    redrive = json.loads(queue["redrive_policy"])
    assert redrive["deadLetterTargetArn"].endswith(f":{naming.reconcile_dead_letter_queue_name(NAME)}")
    (trigger,) = [
        m
        for m in reconciled.resources("hub", "aws_lambda_event_source_mapping").values()
        if naming.reconcile_queue_name(NAME) in json.dumps(m["event_source_arn"])
    ]
    assert trigger["function_response_types"] == ["ReportBatchItemFailures"]


def test_the_inventory_bucket_is_private_encrypted_versioned_tls_only_and_expires(
    reconciled: SynthesizedApp,
) -> None:
    bucket_name = naming.inventory_bucket_name(NAME, SECURITY_ACCOUNT, HOME_REGION)
    (bucket,) = reconciled.resources("hub", "aws_s3_bucket").values()
    assert bucket["bucket"] == bucket_name
    (versioning,) = reconciled.resources("hub", "aws_s3_bucket_versioning").values()
    assert versioning["versioning_configuration"]["status"] == "Enabled"
    (encryption,) = reconciled.resources("hub", "aws_s3_bucket_server_side_encryption_configuration").values()
    assert encryption["rule"][0]["apply_server_side_encryption_by_default"]["sse_algorithm"] == "aws:kms"
    (block,) = reconciled.resources("hub", "aws_s3_bucket_public_access_block").values()
    assert all(
        block[k] is True
        for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    )
    (lifecycle,) = reconciled.resources("hub", "aws_s3_bucket_lifecycle_configuration").values()
    assert lifecycle["rule"][0]["expiration"][0]["days"] == SECTION["inventory_retention_days"]
    (policy,) = reconciled.resources("hub", "aws_s3_bucket_policy").values()
    statements = statements_by_sid(parse_policy(policy["policy"]))
    assert statements["DenyInsecureTransport"]["Effect"] == "Deny"
    assert statements["DenyOtherAccounts"]["Condition"] == {
        "StringNotEquals": {"aws:PrincipalAccount": SECURITY_ACCOUNT}
    }


def test_each_role_may_do_only_its_part(reconciled: SynthesizedApp) -> None:
    planner = statements_by_sid(role_policy(reconciled, naming.reconcile_planner_name(NAME)))
    worker = statements_by_sid(role_policy(reconciled, naming.reconcile_worker_name(NAME)))

    def actions(statements: dict[str, dict[str, Any]]) -> set[str]:
        return {a for s in statements.values() for a in as_list(s["Action"])}

    # THEN only the worker reaches into spokes, writes the ledger and sends removals
    assert "sts:AssumeRole" in actions(worker) and "sts:AssumeRole" not in actions(planner)
    assert "dynamodb:Scan" in actions(planner)
    assert as_list(worker["ScanLedger"]["Resource"]) == [  # oversized work items only: never the config table
        f"arn:aws:dynamodb:{HOME_REGION}:{SECURITY_ACCOUNT}:table/{naming.DEFAULT_LEDGER_TABLE_NAME}"
    ]
    assert not {"dynamodb:UpdateItem", "dynamodb:BatchWriteItem", "dynamodb:PutItem"} & actions(planner)
    assert as_list(worker["SendToolsHostDocuments"]["Resource"]) == [
        f"arn:aws:ssm:{HOME_REGION}:{SECURITY_ACCOUNT}:document/{contract.REMOVE_DOCUMENT}"
    ]
    assert as_list(planner["SendToolsHostDocuments"]["Resource"]) == [
        f"arn:aws:ssm:{HOME_REGION}:{SECURITY_ACCOUNT}:document/{contract.INVENTORY_DOCUMENT}"
    ]
    assert "ssm:resourceTag/ADToolsHost" in json.dumps(worker["SendCommandToToolsHostOnly"]["Condition"])
    assert as_list(worker["RecordRetriesAndQuarantines"]["Resource"]) == [
        f"arn:aws:dynamodb:{HOME_REGION}:{SECURITY_ACCOUNT}:table/{naming.DEFAULT_LEDGER_TABLE_NAME}"
    ]
    assert as_list(worker["SendSyntheticEvents"]["Resource"]) == [
        naming.join_queue_arn("aws", SECURITY_ACCOUNT, HOME_REGION, NAME)
    ]
    # AND parliament finds nothing beyond the project's justified findings
    for policy in (planner, worker):
        document = {"Version": "2012-10-17", "Statement": list(policy.values())}
        findings = parliament.analyze_policy_string(json.dumps(document)).findings
        assert [f.issue for f in findings if ("identity", f.issue) not in JUSTIFIED_FINDINGS] == []


def test_alarms_on_threshold_skips_and_persisting_orphans(reconciled: SynthesizedApp) -> None:
    threshold = by_name(
        reconciled,
        "aws_cloudwatch_metric_alarm",
        naming.reconcile_alarm_name(NAME, "threshold"),
        "alarm_name",
    )
    orphans = by_name(
        reconciled, "aws_cloudwatch_metric_alarm", naming.reconcile_alarm_name(NAME, "orphans"), "alarm_name"
    )
    assert threshold["metric_name"] == "SkippedByThreshold" and threshold["evaluation_periods"] == 1
    assert orphans["metric_name"] == "Orphaned" and orphans["evaluation_periods"] == 3
    assert threshold["alarm_actions"] == [organization_landing_zone()["alarm_topic_arn"]]


def test_checkov_passes_the_hub_and_spoke_beyond_the_justified_skips(
    reconciled: SynthesizedApp, tmp_path: Path
) -> None:
    for stack in ("hub", f"spoke-{SPOKE}"):  # the spoke: its reconcile reader role
        (tmp_path / stack).mkdir()
        shutil.copy(reconciled.outdir / "stacks" / stack / "cdk.tf.json", tmp_path / stack / "cdk.tf.json")
    report = run_checkov(tmp_path)
    failed = {(c["check_id"], _resource_type(c)) for c in report["results"]["failed_checks"]}
    justified = {(i, s.resource_type) for i, s in {**CHECKOV_SKIPS, **RECONCILE_CHECKOV_SKIPS}.items()}
    assert failed - justified == set()
    reconcile_only = {(i, s.resource_type) for i, s in RECONCILE_CHECKOV_SKIPS.items()}
    assert reconcile_only - failed == set(), "a listed skip is no longer needed: remove it"


# --- props and the landing-zone section (no synth) ------------------------------------------
def test_the_props_defaults_are_the_settings_table_defaults() -> None:
    props = ReconcileProps()
    assert props.enabled is True and props.schedule == settings.RECONCILE_SCHEDULE.default
    assert ReconcileSettings.from_env(props.environment()) == ReconcileSettings()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"schedule": "every hour"}, "schedule"),
        ({"max_removal_percent": 101}, "max_removal_percent"),
        ({"retry_period_seconds": 60}, "retry_period_seconds"),
        ({"orphan_alarm_period_seconds": 90}, "orphan_alarm_period_seconds"),
        ({"enabled": "yes"}, "enabled"),
    ],
)
def test_invalid_props_name_their_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(PropsError, match=field):
        ReconcileProps(**changes)


def test_the_landing_zone_section_reports_each_problem_on_one_line(
    write_landing_zone: Callable[[dict[str, Any], str], Path],
) -> None:
    data = {**hub_only_landing_zone(), "reconciliation": {"schedule": "hourly", "colour": "blue"}}
    with pytest.raises(LandingZoneError) as raised:
        load_landing_zone(write_landing_zone(data, "bad-reconciliation.yaml"))
    problems = raised.value.problems
    assert len(problems) == 2
    assert any("reconciliation.colour" in p for p in problems)
    assert any("schedule" in p and "rate(...) or cron(...)" in p for p in problems)
    assert (
        load_landing_zone(
            write_landing_zone(
                {**organization_landing_zone(), "reconciliation": None}, "default-reconciliation.yaml"
            )
        ).reconciliation
        == ReconcileProps()
    )


def spoke_role(app: SynthesizedApp, name: str) -> dict[str, Any]:
    (role,) = [r for r in app.resources(f"spoke-{SPOKE}", "aws_iam_role").values() if r["name"] == name]
    return role


def test_the_spoke_execution_role_trusts_only_the_handler_as_without_reconciliation(
    reconciled: SynthesizedApp,
) -> None:
    # GIVEN a landing zone with a reconciliation: section
    # THEN the spoke execution role's trust is the handler's alone (the worker never gets SendCommand)
    trust = parse_policy(spoke_role(reconciled, settings.SPOKE_ROLE_NAME.default)["assume_role_policy"])
    assert [(s["Sid"], s["Principal"]) for s in trust["Statement"]] == [
        ("HubHandlerOnly", {"AWS": naming.handler_role_arn("aws", SECURITY_ACCOUNT, NAME)})
    ]
    assert trust["Statement"][0]["Condition"] == {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}}


def test_each_spoke_has_a_describe_only_reader_role_the_worker_assumes(reconciled: SynthesizedApp) -> None:
    reader_name = naming.reconcile_reader_role_name(NAME)
    reader = spoke_role(reconciled, reader_name)
    # THEN it trusts the worker role (with the execution role's external id) and the listed operators only
    trust = statements_by_sid(parse_policy(reader["assume_role_policy"]))
    assert set(trust) == {"HubReconcilerOnly", "Operators"}
    assert trust["HubReconcilerOnly"]["Principal"] == {
        "AWS": naming.reconcile_worker_role_arn("aws", SECURITY_ACCOUNT, NAME)
    }
    assert trust["HubReconcilerOnly"]["Condition"] == {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}}
    assert trust["Operators"]["Principal"] == {"AWS": [OPERATORS]}
    # AND its one inline policy allows ec2:DescribeInstances in the spoke's Regions, nothing else
    (policy,) = [
        p
        for p in reconciled.resources(f"spoke-{SPOKE}", "aws_iam_role_policy").values()
        if p["role"] == f"${{aws_iam_role.{_address_of(reconciled, reader_name)}.name}}"
    ]
    document = parse_policy(policy["policy"])
    assert [(st["Effect"], st["Action"]) for st in document["Statement"]] == [
        ("Allow", "ec2:DescribeInstances")
    ]
    assert document["Statement"][0]["Condition"] == {"StringEquals": {"aws:RequestedRegion": [HOME_REGION]}}
    assert parliament.analyze_policy_string(json.dumps(document)).findings == []
    # AND the worker may assume exactly the reader role (inside the organization), not the execution role
    worker = statements_by_sid(role_policy(reconciled, naming.reconcile_worker_name(NAME)))
    assumes = [st for st in worker.values() if "sts:AssumeRole" in as_list(st["Action"])]
    assert [as_list(st["Resource"]) for st in assumes] == [[f"arn:aws:iam::*:role/{reader_name}"]]
    # AND the worker's environment names it (the settings table's variable)
    worker_function = by_name(
        reconciled, "aws_lambda_function", naming.reconcile_worker_name(NAME), "function_name"
    )
    env = worker_function["environment"]["variables"]
    assert env[settings.RECONCILE_READER_ROLE_NAME.env] == reader_name


def _address_of(app: SynthesizedApp, role_name: str) -> str:
    roles = app.resources(f"spoke-{SPOKE}", "aws_iam_role")
    (address,) = [a for a, r in roles.items() if r["name"] == role_name]
    return address


def test_the_reader_role_name_default_is_that_of_the_default_name() -> None:
    assert settings.RECONCILE_READER_ROLE_NAME.default == naming.reconcile_reader_role_name()
    assert naming.reconcile_reader_role_name() == contract.DEFAULT_RECONCILE_READER_ROLE_NAME


def test_the_reader_principals_must_be_role_arns() -> None:
    with pytest.raises(PropsError, match="reader_principal_arns"):
        ReconcileProps(reader_principal_arns=["not-an-arn"])


# --- who may write the inventory: the tools host's role, under the planner's prefix, through TLS --------
# A small evaluator of exactly what these policies use (identity Allow statements; the bucket policy's Deny
# statements with Principal "*"; operators StringEquals, StringNotEquals, ArnNotEquals, Bool): an identity
# statement must allow the request and no bucket Deny may match it (same account, so no bucket Allow needed).
NEGATED = {"StringNotEquals": str.__ne__, "ArnNotEquals": str.__ne__}
POSITIVE = {"StringEquals": str.__eq__, "Bool": str.__eq__}


def _matches(patterns: Any, value: str) -> bool:
    return any(fnmatch.fnmatchcase(value, str(p)) for p in as_list(patterns))


def _conditions_hold(conditions: dict[str, dict[str, Any]], context: dict[str, str]) -> bool:
    for operator, body in conditions.items():
        for key, wanted in body.items():
            present = context.get(key)
            if operator in NEGATED:  # a missing key makes a negated operator true
                if present is not None and not all(NEGATED[operator](present, w) for w in as_list(wanted)):
                    return False
            elif present is None or not any(POSITIVE[operator](present, w) for w in as_list(wanted)):
                return False
    return True


def _applies(statement: dict[str, Any], action: str, resource: str, context: dict[str, str]) -> bool:
    return (
        _matches(statement["Action"], action)
        and _matches(statement["Resource"], resource)
        and _conditions_hold(statement.get("Condition", {}), context)
    )


def allowed(
    identity: list[dict[str, Any]],
    bucket: list[dict[str, Any]],
    principal: str,
    action: str,
    resource: str,
    context: dict[str, str],
) -> bool:
    context = {"aws:PrincipalArn": principal, "aws:PrincipalAccount": principal.split(":")[4], **context}
    if any(s["Effect"] == "Deny" and _applies(s, action, resource, context) for s in bucket):
        return False
    return any(s["Effect"] == "Allow" and _applies(s, action, resource, context) for s in identity)


def tools_host_statements(app: SynthesizedApp) -> list[dict[str, Any]]:
    (body,) = [
        b
        for b in app.resources("hub", "aws_iam_role_policy").values()
        if b["name"] == "write-reconcile-inventory"
    ]
    return list(parse_policy(body["policy"])["Statement"])


def test_the_tools_host_writes_exactly_under_the_planners_prefix_and_only_through_tls(
    reconciled: SynthesizedApp,
) -> None:
    # GIVEN the tools host's inventory grant, the inventory bucket's policy and the hub key
    identity = tools_host_statements(reconciled)
    (bucket_policy,) = reconciled.resources("hub", "aws_s3_bucket_policy").values()
    bucket = list(parse_policy(bucket_policy["policy"])["Statement"])
    bucket_name = naming.inventory_bucket_name(NAME, SECURITY_ACCOUNT, HOME_REGION)
    bucket_arn = f"arn:aws:s3:::{bucket_name}"
    tools_host = f"arn:aws:iam::{SECURITY_ACCOUNT}:role/{naming.DEFAULT_NAME}-tools-host"
    tls = {"aws:SecureTransport": "true"}
    # Run Command's key: <OutputS3KeyPrefix>/<command id>/<instance id>/<plugin>/<step>/stdout
    stdout = (
        f"{bucket_arn}/{contract.INVENTORY_OUTPUT_KEY_PREFIX}/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
        "/i-0123456789abcdef0/awsrunShellScript/inventory/stdout"
    )

    def put(principal: str, resource: str, context: dict[str, str], statements: Any = None) -> bool:
        given = identity if statements is None else statements
        return allowed(given, bucket, principal, "s3:PutObject", resource, context)

    # THEN the tools host may put the output under the planner's prefix, through TLS
    assert put(tools_host, stdout, tls)
    # AND nowhere else in the bucket, nor without TLS
    assert not put(tools_host, f"{bucket_arn}/elsewhere/stdout", tls)
    assert not put(tools_host, f"{bucket_arn}/{contract.INVENTORY_OUTPUT_KEY_PREFIX}-old/x", tls)
    assert not put(tools_host, stdout, {"aws:SecureTransport": "false"})
    # AND no other principal of the account, even one whose own policy allows every S3 action
    admin = [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]
    worker = f"arn:aws:iam::{SECURITY_ACCOUNT}:role/{naming.reconcile_worker_name(NAME)}"
    assert not put(worker, stdout, tls, admin)
    # AND the hub key only through S3 in the home Region, only for this bucket (its encryption context)
    key = f"arn:aws:kms:{HOME_REGION}:{SECURITY_ACCOUNT}:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    via = {
        "kms:ViaService": f"s3.{HOME_REGION}.amazonaws.com",
        "kms:EncryptionContext:aws:s3:arn": bucket_arn,
    }

    def use_key(context: dict[str, str]) -> bool:
        return allowed(identity, [], tools_host, "kms:GenerateDataKey", key, context)

    assert use_key(via)
    assert not use_key({**via, "kms:ViaService": f"ssm.{HOME_REGION}.amazonaws.com"})
    assert not use_key({**via, "kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::another-bucket"})
    assert not use_key({"kms:EncryptionContext:aws:s3:arn": bucket_arn})
    other_account_key = f"arn:aws:kms:{HOME_REGION}:999999999999:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    assert not allowed(identity, [], tools_host, "kms:GenerateDataKey", other_account_key, via)
    # AND parliament finds nothing in the grant
    document = {"Version": "2012-10-17", "Statement": identity}
    assert parliament.analyze_policy_string(json.dumps(document)).findings == []
