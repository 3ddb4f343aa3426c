"""`ec2-domain-join reconcile`: the reconciliation's plan and run with the operator's credentials (moto).

The spoke fleet is moto's EC2 of another account, reached through an assumed role as the worker reaches
it.  Stub (listed as the rules ask): ``answering("AssumeRole", "AccessDenied")`` from test_operator.py,
for a spoke whose role the operator may not assume (moto's STS does not enforce trust policies).
Test setup sets moto's ``launch_time`` of the instances that must look older than the reconciler's settle
time (moto stamps every launch "now").
"""

from __future__ import annotations

import datetime
import io
import time
import zipfile
from typing import Any

import boto3
import pytest
from moto.ec2.models import ec2_backends

from ec2_domain_join import aws as operator_aws
from ec2_domain_join import cli, reconcile
from handlers.domain_join import contract, events
from handlers.domain_join.model import JOIN_FAILED, JOIN_SENT
from handlers.domain_join.reconcile.plan import WorkItem
from modules import naming

from .conftest import HUB_ACCOUNT, HUB_REGION, SPOKE, SPOKE_REGION, Hub, invoke
from .test_operator import DOMAIN, answering, record

IMAGE = "ami-0123456789abcdef0"  # tests/handler/amis.json
GONE = "i-0aaaaaaaaaaaaaaa1"  # a ledger record whose instance no longer exists


class Spoke:
    """GIVEN an enrolled spoke account (config item, one Region) and its fleet."""

    def __init__(self, hub: Hub) -> None:
        hub.put_config(
            SPOKE,
            dnsName=DOMAIN,
            adJoinUserName="svc-join",
            adJoinUserPwParam="/domain-join/join-password",
            regions={SPOKE_REGION},
        )
        credentials = hub.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{SPOKE}:role/setup", RoleSessionName="setup"
        )["Credentials"]
        self.ec2 = boto3.client(
            "ec2",
            region_name=SPOKE_REGION,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )

    def launch(self, *, old: bool = True, tags: dict[str, str] | None = None) -> str:
        request: dict[str, Any] = {"ImageId": IMAGE, "MinCount": 1, "MaxCount": 1}
        if tags:
            request["TagSpecifications"] = [
                {"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
            ]
        (instance,) = self.ec2.run_instances(**request)["Instances"]
        if old:  # launched before enrolment (moto stamps "now")
            moto_instance = ec2_backends[SPOKE][SPOKE_REGION].get_instance(instance["InstanceId"])
            moto_instance.launch_time = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC).replace(
                tzinfo=None
            )
        return str(instance["InstanceId"])


@pytest.fixture
def fleet(hub: Hub) -> dict[str, str]:
    """GIVEN a spoke whose fleet and ledger disagree in each way the reconciler repairs or leaves alone."""
    spoke = Spoke(hub)
    day_ago = int(time.time()) - 2 * 86400
    instances = {
        "backfill": spoke.launch(),  # running since before enrolment, never joined
        "retry": spoke.launch(),  # its join failed two days ago
        "opted-out": spoke.launch(tags={contract.TAG_OPT_OUT: "false"}),
        "fresh": spoke.launch(old=False),  # its own running event is on the way
        "remove": GONE,
    }
    hub.write(
        record(JOIN_FAILED, instances["retry"], SPOKE, SPOKE_REGION, updated_at=day_ago),
        record(JOIN_SENT, GONE, SPOKE, SPOKE_REGION),
    )
    return instances


def action_of(stdout: str, instance_id: str) -> tuple[str, str]:
    """(action, origin) of the plan's row for ``instance_id``."""
    (cells,) = [line.split() for line in stdout.splitlines() if instance_id in line.split()]
    return cells[0], cells[5]


def test_dry_run_prints_the_plan_and_changes_nothing(hub: Hub, fleet: dict[str, str]) -> None:
    # WHEN the operator asks for the plan
    result = invoke("reconcile", "--dry-run")
    # THEN each disagreement has its action and origin, and nothing was queued or stamped
    assert result.exit_code == cli.EXIT_OK, result.output
    assert action_of(result.stdout, fleet["backfill"]) == ("backfill", "fleet")
    assert action_of(result.stdout, fleet["retry"]) == ("retry", "fleet")
    assert action_of(result.stdout, fleet["remove"]) == ("remove", "ledger")
    assert action_of(result.stdout, fleet["opted-out"])[0] == "skip"
    assert action_of(result.stdout, fleet["fresh"])[0] == "skip"
    assert "opted out" in next(line for line in result.stdout.splitlines() if fleet["opted-out"] in line)
    assert "1 work item(s): 1 backfill, 1 retry, 1 remove" in result.stdout
    assert "dry run: nothing changed" in result.stdout
    assert hub.messages() == []
    assert contract.LEDGER_RETRIED_AT_ATTRIBUTE not in hub.raw_record(fleet["retry"])


def test_the_filters_select_the_work_items(hub: Hub, fleet: dict[str, str]) -> None:
    other_account = invoke("reconcile", "--dry-run", "--account", "222222222222")
    assert other_account.exit_code == cli.EXIT_OK
    assert "0 work item(s)" in other_account.stdout and "nothing to do" in other_account.stdout
    other_region = invoke("reconcile", "--dry-run", "--region", "ap-south-1")
    assert "0 work item(s)" in other_region.stdout
    this_one = invoke("reconcile", "--dry-run", "--account", SPOKE, "--region", SPOKE_REGION)
    assert "1 work item(s)" in this_one.stdout and fleet["backfill"] in this_one.stdout


def test_a_real_run_without_yes_is_refused(hub: Hub, fleet: dict[str, str]) -> None:
    result = invoke("reconcile")
    assert result.exit_code == cli.EXIT_USAGE
    assert "give --dry-run to see the plan, or --yes to carry it out" in result.stderr
    assert result.stdout == "" and hub.messages() == []


def worker(hub: Hub, environment: dict[str, str]) -> None:
    """GIVEN the deployed reconcile worker (its environment is what a real run reads)."""
    role = hub.client("iam").create_role(RoleName="worker", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return None\n")
    hub.client("lambda").create_function(
        FunctionName=naming.reconcile_worker_name(),
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": code.getvalue()},
        Environment={"Variables": environment},
    )


def test_a_real_run_acts_as_the_worker_with_its_configuration(hub: Hub, fleet: dict[str, str]) -> None:
    # GIVEN the deployed worker, configured with the hub's tables and join queue
    worker(
        hub,
        {
            contract.ENV_CONFIG_TABLE: naming.DEFAULT_CONFIG_TABLE_NAME,
            contract.ENV_LEDGER_TABLE: naming.DEFAULT_LEDGER_TABLE_NAME,
            contract.ENV_DEAD_LETTER_QUEUE_URL: hub.queue_url,
            contract.ENV_JOIN_QUEUE_URL: hub.queue_url,
            contract.ENV_HUB_REGIONS: HUB_REGION,
        },
    )
    # WHEN the operator carries the plan out
    result = invoke("reconcile", "--yes")
    # THEN the worker's actions happened: a running event for the backfill and the retry, a terminated
    # event for the gone instance, each read by the handler's own parser; the retry is stamped
    assert result.exit_code == cli.EXIT_OK, result.output
    assert "carried out" in result.stdout
    changes = [events.parse_body(m["Body"]) for m in hub.messages()]
    seen = sorted((c.instance_id, c.state) for c in changes)
    assert seen == sorted(
        [
            (fleet["backfill"], events.RUNNING),
            (fleet["retry"], events.RUNNING),
            (GONE, events.TERMINATED),
        ]
    )
    assert all(c.account == SPOKE and c.region == SPOKE_REGION for c in changes)
    assert contract.LEDGER_RETRIED_AT_ATTRIBUTE in hub.raw_record(fleet["retry"])


def test_a_real_run_without_the_worker_exits_4(hub: Hub, fleet: dict[str, str]) -> None:
    result = invoke("reconcile", "--yes")
    assert result.exit_code == cli.EXIT_NOT_FOUND
    assert f"function {naming.reconcile_worker_name()} not found" in result.stderr
    assert hub.messages() == []


def test_a_spoke_that_cannot_be_read_is_named_and_exits_3(
    hub: Hub, fleet: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the operator may not assume the spoke's role
    monkeypatch.setattr(
        operator_aws, "DEFAULT_CLIENT_FACTORY", [answering("AssumeRole", "AccessDenied", 403)]
    )
    # WHEN the plan is asked for
    result = invoke("reconcile", "--dry-run", "--spoke-role", "Auditor")
    # THEN that (account, Region) is named with the role it could not assume, and the command exits 3
    assert result.exit_code == cli.EXIT_AWS
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {SPOKE} {SPOKE_REGION}: access denied: AssumeRole into account {SPOKE}")
    assert f"arn:aws:iam::{SPOKE}:role/Auditor" in line
    assert "0 work item(s)" not in result.stdout and "1 work item(s)" in result.stdout


def test_a_dry_run_describes_through_the_reader_role_of_the_hubs_name(
    hub: Hub, fleet: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a landing zone of a non-default name, and the spoke's role refused (the error names the role)
    monkeypatch.setattr(
        operator_aws, "DEFAULT_CLIENT_FACTORY", [answering("AssumeRole", "AccessDenied", 403)]
    )
    name = "corpjoin"
    # WHEN the plan is asked for without --spoke-role
    result = invoke("reconcile", "--dry-run", "--name", name)
    # THEN the fleet is described through that landing zone's reader role, as its worker would
    assert result.exit_code == cli.EXIT_AWS
    [line] = result.stderr.splitlines()
    assert f"arn:aws:iam::{SPOKE}:role/{naming.reconcile_reader_role_name(name)}" in line


def test_the_spoke_role_replaces_the_execution_role() -> None:
    item = WorkItem(SPOKE, SPOKE_REGION, role_arn=f"arn:aws:iam::{SPOKE}:role/ec2-domain-join-execution")
    assert reconcile.with_role(item, "", "aws") == item
    assert (
        reconcile.with_role(item, "Auditor", "aws-us-gov").role_arn
        == f"arn:aws-us-gov:iam::{SPOKE}:role/Auditor"
    )
    assert reconcile.with_role(item, f"arn:aws:iam::{HUB_ACCOUNT}:role/x", "aws").role_arn.endswith(":role/x")
