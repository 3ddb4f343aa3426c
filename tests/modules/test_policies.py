"""Cross-cutting checks on every synthesized stack: event patterns, IAM (parliament), checkov."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import parliament
import pytest
from modules_testlib import HOME_REGION, REPOSITORY, LandingZones, SynthesizedApp, parse_policy, run_checkov
from moto import mock_aws

from handlers.domain_join import contract
from modules.checkov_skips import CHECKOV_SKIPS, NETWORK_CHECKOV_SKIPS, RECONCILE_CHECKOV_SKIPS


def ec2_state_change(state: str, instance_id: str) -> dict[str, Any]:
    """An entry as EC2 emits it (the event's source/detail-type/detail, as PutEvents takes them)."""
    return {
        "Source": "aws.ec2",
        "DetailType": "EC2 Instance State-change Notification",
        "Detail": json.dumps({"instance-id": instance_id, "state": state}),
        "Resources": [f"arn:aws:ec2:{HOME_REGION}:222222222222:instance/{instance_id}"],
    }


def command_status_change(document: str, status: str, index: int) -> dict[str, Any]:
    """An entry as SSM emits it for one instance's invocation of a Run Command."""
    instance_id = f"i-{index:017x}"
    return {
        "Source": contract.COMMAND_STATUS_SOURCE,
        "DetailType": contract.COMMAND_STATUS_DETAIL_TYPE,
        "Detail": json.dumps(
            {
                "command-id": f"{index:08x}-1111-2222-3333-444444444444",
                "document-name": document,
                "instance-id": instance_id,
                "requested-date-time": "2026-11-24T02:00:00.000Z",
                "status": status,
            }
        ),
        "Resources": [f"arn:aws:ec2:{HOME_REGION}:222222222222:instance/{instance_id}"],
    }


def event_patterns(synth: SynthesizedApp) -> Iterator[tuple[str, str, str]]:
    for stack in synth.stacks:
        for rule in synth.resources(stack, "aws_cloudwatch_event_rule").values():
            yield stack, rule["name"], rule["event_pattern"]


EC2_STATES = ["pending", "running", "stopping", "stopped", "shutting-down", "terminated"]
COMMAND_STATUSES = ["Pending", "InProgress", "Delayed", "Success", "Cancelled", "TimedOut", "Failed"]
OUR_DOCUMENTS = [contract.JOIN_DOCUMENT, contract.PRESTAGE_DOCUMENT, contract.REMOVE_DOCUMENT]
OTHER_DOCUMENTS = ["AWS-RunShellScript", "AWS-RunPowerShellScript"]


def expected_deliveries(stack: str, rule_name: str) -> set[tuple[str, ...]]:
    """What each rule must let through (the spec, written out independently of modules/events.py)."""
    if "-ec2-state-" in rule_name:
        return {("aws.ec2", "running"), ("aws.ec2", "terminated")}
    assert "-command-failed-" in rule_name, rule_name
    # Only the hub's default bus sees the tools-host documents; everywhere else only joins run.
    documents = (
        OUR_DOCUMENTS if stack == "hub" and rule_name.endswith("-default") else [contract.JOIN_DOCUMENT]
    )
    return {("aws.ssm", d, s) for d in documents for s in ("Failed", "TimedOut", "Cancelled")}


def _delivered(sqs: Any, url: str) -> set[tuple[str, ...]]:
    seen: set[tuple[str, ...]] = set()
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            event = json.loads(message["Body"])
            detail = event["detail"]
            if event["source"] == "aws.ec2":
                seen.add(("aws.ec2", detail["state"]))
            else:
                seen.add((event["source"], detail["document-name"], detail["status"]))
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )
    return seen


@pytest.mark.parametrize("bus_name", ["default", "domain-join"])
def test_every_rule_lets_through_exactly_its_events(synth: SynthesizedApp, bus_name: str) -> None:
    patterns = sorted(event_patterns(synth))
    # hub: 4, forwarders: 4 each, forwarding spokes: 2 each, the security account's spoke: none
    assert len(patterns) == 4 + 2 * 4 + 2 * 2
    entries = [ec2_state_change(state, f"i-{index:017x}") for index, state in enumerate(EC2_STATES)]
    entries += [
        command_status_change(document, status, index)
        for index, (document, status) in enumerate(
            (d, s) for d in OUR_DOCUMENTS + OTHER_DOCUMENTS for s in COMMAND_STATUSES
        )
    ]
    # the same shapes from a source that is not AWS's must never match
    entries += [ec2_state_change("running", "i-0000000000000000b") | {"Source": "custom.ec2"}]
    entries += [command_status_change(contract.JOIN_DOCUMENT, "Failed", 99) | {"Source": "custom.ssm"}]
    with mock_aws():
        events = boto3.client("events", region_name=HOME_REGION)
        sqs = boto3.client("sqs", region_name=HOME_REGION)
        if bus_name != "default":
            events.create_event_bus(Name=bus_name)
        for index, (stack, rule_name, pattern) in enumerate(patterns):
            # GIVEN the synthesized rule pattern, targeting a queue
            url = sqs.create_queue(QueueName=f"target-{index}")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            events.put_rule(Name=f"rule-{index}", EventBusName=bus_name, EventPattern=pattern)
            events.put_targets(Rule=f"rule-{index}", EventBusName=bus_name, Targets=[{"Id": "q", "Arn": arn}])
            # WHEN EC2 reports every state and SSM every status of our documents and of others
            for start in range(0, len(entries), 10):
                batch = entries[start : start + 10]
                response = events.put_events(Entries=[e | {"EventBusName": bus_name} for e in batch])
                assert response["FailedEntryCount"] == 0
            # THEN exactly the rule's events reach the target
            assert _delivered(sqs, url) == expected_deliveries(stack, rule_name), f"{stack}/{rule_name}"
            events.remove_targets(Rule=f"rule-{index}", EventBusName=bus_name, Ids=["q"])
            events.delete_rule(Name=f"rule-{index}", EventBusName=bus_name)


def test_pattern_ignores_other_sources_with_the_same_detail(synth: SynthesizedApp) -> None:
    [(_, _, pattern)] = list(event_patterns(synth))[:1]
    with mock_aws():
        events = boto3.client("events", region_name=HOME_REGION)
        sqs = boto3.client("sqs", region_name=HOME_REGION)
        url = sqs.create_queue(QueueName="target")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="rule", EventPattern=pattern)
        events.put_targets(Rule="rule", Targets=[{"Id": "q", "Arn": arn}])
        spoofed = ec2_state_change("running", "i-0000000000000000b") | {"Source": "custom.ec2"}
        events.put_events(Entries=[spoofed])
        assert "Messages" not in sqs.receive_message(QueueUrl=url)


# --- IAM -------------------------------------------------------------------------------------------

POLICY_ATTRIBUTES = {
    ("aws_iam_role_policy", "policy"): "identity",
    ("aws_iam_role", "assume_role_policy"): "trust",
    ("aws_kms_key", "policy"): "key",
    ("aws_sqs_queue_policy", "policy"): "resource",
    ("aws_sns_topic_policy", "policy"): "resource",
    ("aws_cloudwatch_event_bus_policy", "policy"): "resource",
}

# parliament is written for identity policies; these findings are expected by construction.
JUSTIFIED_FINDINGS = {
    ("identity", "CREDENTIALS_EXPOSURE"): "sts:AssumeRole on the spoke execution role is the handler's job; "
    "it is limited to that role name inside the organization (or the listed accounts)",
    ("identity", "RESOURCE_MISMATCH"): "ssm:SendCommand authorizes on the document and on the instance; the "
    "instance statement carries the tools-host tag condition, which documents cannot satisfy: two statements",
    ("trust", "MALFORMED"): "a trust policy has no Resource element",
    ("key", "RESOURCE_STAR"): 'in a key policy "*" means this key only',
    ("key", "PERMISSIONS_MANAGEMENT_ACTIONS"): "the account root statement delegates key administration to "
    "IAM (AWS's default key policy); without it the key cannot be managed",
    (
        "key",
        "UNKNOWN_CONDITION_FOR_ACTION",
    ): "CloudWatch Logs' encryption-context condition, as AWS documents it",
    ("key", "MISMATCHED_TYPE"): "AWS documents ArnEquals for kms:EncryptionContext:aws:logs:arn",
}


def all_policies(landing_zones: LandingZones) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for synth in landing_zones.all_apps():
        for stack, data in synth.stacks.items():
            for (resource_type, attribute), kind in POLICY_ATTRIBUTES.items():
                for name, body in data.get("resource", {}).get(resource_type, {}).items():
                    text = body[attribute].replace("${each.value}", HOME_REGION)
                    yield kind, f"{stack}/{resource_type}.{name}", parse_policy(text)


def test_every_policy_passes_parliament_except_justified_findings(landing_zones: LandingZones) -> None:
    seen_kinds = set()
    unjustified = []
    for kind, where, policy in all_policies(landing_zones):
        seen_kinds.add(kind)
        for finding in parliament.analyze_policy_string(json.dumps(policy)).findings:
            if (kind, finding.issue) not in JUSTIFIED_FINDINGS:
                unjustified.append((where, finding.issue, finding.detail))
            if finding.issue == "RESOURCE_MISMATCH":
                assert {d["action"] for d in finding.detail} == {"ssm:SendCommand"}, where
    assert seen_kinds == set(POLICY_ATTRIBUTES.values())
    assert unjustified == []


def test_spoke_policies_have_no_parliament_findings_at_all(synth: SynthesizedApp) -> None:
    for stack in (s for s in synth.stacks if s.startswith("spoke-")):
        for body in synth.resources(stack, "aws_iam_role_policy").values():
            text = body["policy"].replace("${each.value}", HOME_REGION)
            assert parliament.analyze_policy_string(text).findings == [], stack


def test_no_identity_policy_allows_send_command_or_assume_role_on_everything(
    landing_zones: LandingZones,
) -> None:
    for kind, where, policy in all_policies(landing_zones):
        if kind != "identity":
            continue
        for statement in policy["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            if {"ssm:SendCommand", "sts:AssumeRole"} & set(actions):
                assert "*" not in resources, where
            assert not any(a.endswith(":*") or a == "*" for a in actions), where


# --- checkov ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def checkov_reports(landing_zones: LandingZones) -> dict[str, dict[str, Any]]:
    """checkov without skips (the test applies them): all stacks of both landing zones; the plain modules."""
    [root] = {app.outdir.parent for app in landing_zones.all_apps()}
    return {
        "stacks": run_checkov(root),
        "plain modules": run_checkov(REPOSITORY / "terraform" / "modules", "terraform"),
    }


def _resource_type(check: dict[str, Any]) -> str:
    if not check["file_abs_path"].endswith(".json"):  # HCL: the address names its type
        return str(check["resource"].split(".", 1)[0])
    name = check["resource"].split(".", 1)[1]
    data = json.loads(Path(check["file_abs_path"]).read_text())
    [resource_type] = [t for t, bodies in data["resource"].items() if name in bodies]
    return str(resource_type)


@pytest.mark.parametrize("target", ["stacks", "plain modules"])
def test_checkov_has_no_failed_check_beyond_the_justified_skips(
    checkov_reports: dict[str, dict[str, Any]], target: str
) -> None:
    report = checkov_reports[target]
    summary = report["summary"]
    assert summary["parsing_errors"] == 0 and summary["passed"] > 50
    failed = {(check["check_id"], _resource_type(check)) for check in report["results"]["failed_checks"]}
    justified = {(check_id, skip.resource_type) for check_id, skip in CHECKOV_SKIPS.items()}
    # the plain network modules carry the network units' own skips (test_directory_network.py proves
    # each is still needed on the synthesized network stacks)
    network = {(check_id, skip.resource_type) for check_id, skip in NETWORK_CHECKOV_SKIPS.items()}
    # and the plain reconciliation module the reconciliation's (test_reconcile.py proves them on its hub)
    network |= {(check_id, skip.resource_type) for check_id, skip in RECONCILE_CHECKOV_SKIPS.items()}
    allowed = justified | network if target == "plain modules" else justified
    assert failed - allowed == set(), "unjustified checkov failures"
    assert justified - failed == set(), "a listed skip is no longer needed: remove it"
    for skip in CHECKOV_SKIPS.values():
        assert len(skip.reason) > 40
