"""The operator's AWS commands (`status`, `retry`, `accounts`) against a moto hub, through click's runner.

Every AWS answer is moto's but one narrow stub, listed here as the rules ask: ``answering(operation,
code)`` makes one operation answer an AWS error (botocore's ``before-call`` event on otherwise moto-backed
clients), for ``ThrottlingException`` (moto never throttles) and ``AccessDeniedException`` (moto's IAM
enforcement answers DynamoDB, SQS and SSM, JSON-protocol services, with an XML body that botocore cannot
read, so the code arrives as "403" instead of AccessDeniedException).
"""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from ec2_domain_join import accounts, cli, retry, status
from ec2_domain_join import aws as operator_aws
from ec2_domain_join.aws import LedgerView
from handlers.domain_join import contract, events
from handlers.domain_join.adapter.sessions import boto3_client_factory
from handlers.domain_join.model import (
    JOIN_FAILED,
    JOIN_SENT,
    JOINING,
    REMOVE_FAILED,
    REMOVE_SENT,
    REMOVING,
    LedgerEntry,
)

from .conftest import CREDENTIAL_ENV, HUB_ACCOUNT, HUB_REGION, SPOKE, SPOKE_REGION, Hub, invoke

INSTANCE = "i-0123456789abcdef0"
OTHER = "i-0fedcba9876543210"
NAME = "EC2DJ0123456789"
DOMAIN = "corp.example.com"


def record(
    status_: str,
    instance_id: str = INSTANCE,
    account: str = HUB_ACCOUNT,
    region: str = HUB_REGION,
    **changes: Any,
) -> LedgerEntry:
    now = int(time.time())
    values: dict[str, Any] = {
        "instance_id": instance_id,
        "account": account,
        "region": region,
        "computer_name": NAME,
        "domain": DOMAIN,
        "status": status_,
        "created_at": now - 3600,
        "updated_at": now - 600,
        "platform": "linux",
        "attempts": 3 if status_.endswith("FAILED") else 1,
    }
    return LedgerEntry(**(values | changes))


def send_command(client: Any, document: str, instance_id: str) -> str:
    return str(client.send_command(DocumentName=document, InstanceIds=[instance_id])["Command"]["CommandId"])


def lines_of(text: str) -> dict[str, str]:
    """``label: value`` lines of `status` as a dict."""
    found = {}
    for line in text.splitlines():
        label, sep, value = line.partition(":")
        if sep and not label.startswith(" "):
            found[label.strip()] = value.strip()
    return found


def row(text: str, first: str) -> list[str]:
    (found,) = [line.split() for line in text.splitlines() if line.split()[:1] == [first]]
    return found


# --- status ---------------------------------------------------------------------------------------
def test_status_shows_the_record_and_the_status_of_each_command(hub: Hub) -> None:
    # GIVEN a joined instance of the hub's own account whose prestage and join commands ran
    prestage = send_command(hub.client("ssm"), contract.PRESTAGE_DOCUMENT, "i-00000000000000001")
    join = send_command(hub.client("ssm"), contract.JOIN_DOCUMENT, INSTANCE)
    hub.write(record(JOIN_SENT, prestage_command_id=prestage, join_command_id=join))
    # WHEN the operator asks for its status
    result = invoke("status", INSTANCE)
    # THEN the record and both commands are shown, each with SSM's status, and the command succeeds
    assert result.exit_code == cli.EXIT_OK, result.output
    shown = lines_of(result.stdout)
    assert shown["state"] == JOIN_SENT and shown["computer name"] == NAME and shown["attempts"] == "1"
    assert shown["account"] == HUB_ACCOUNT and shown["region"] == HUB_REGION and "ago" in shown["updated"]
    # (moto's ListCommands answers a StatusDetails placeholder, shown after the status)
    assert row(result.stdout, "prestage")[:5] == ["prestage", prestage, "hub", HUB_REGION, "Success"]
    assert row(result.stdout, "join") == ["join", join, HUB_ACCOUNT, HUB_REGION, "Success"]


def test_status_reads_a_join_in_another_account_through_the_given_role_only(hub: Hub) -> None:
    # GIVEN a joined instance of a spoke account, whose join command ran there
    credentials = hub.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{SPOKE}:role/Auditor", RoleSessionName="test"
    )["Credentials"]
    spoke_ssm = boto3.client(
        "ssm",
        region_name=SPOKE_REGION,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    join = send_command(spoke_ssm, contract.JOIN_DOCUMENT, INSTANCE)
    hub.write(record(JOIN_SENT, account=SPOKE, region=SPOKE_REGION, join_command_id=join))
    # WHEN the operator (hub credentials) asks without a role, THEN the join is not read, and says why
    plain = invoke("status", INSTANCE)
    assert plain.exit_code == cli.EXIT_OK
    assert (
        f"{status.NOT_CHECKED}: it ran in account {SPOKE}" in plain.stdout and "--spoke-role" in plain.stdout
    )
    # WHEN the operator names a role in that account, THEN the join's status is read there
    through_role = invoke("status", INSTANCE, "--spoke-role", "Auditor")
    assert through_role.exit_code == cli.EXIT_OK, through_role.output
    assert row(through_role.stdout, "join") == ["join", join, SPOKE, SPOKE_REGION, "Success"]


def test_status_of_an_unknown_instance_exits_4_with_one_line(hub: Hub) -> None:
    result = invoke("status", OTHER)
    assert result.exit_code == cli.EXIT_NOT_FOUND
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: no ledger record for {OTHER}")


def test_status_of_a_record_in_another_account_than_asked_exits_4(hub: Hub) -> None:
    hub.write(record(JOIN_SENT, account=SPOKE, region=SPOKE_REGION))
    result = invoke("status", INSTANCE, "--account", "222222222222")
    assert result.exit_code == cli.EXIT_NOT_FOUND
    assert f"is of account {SPOKE}, not 222222222222" in result.stderr


def test_a_wrong_table_name_exits_4_naming_the_table(hub: Hub) -> None:
    result = invoke("status", INSTANCE, "--ledger-table", "no-such-ledger")
    assert result.exit_code == cli.EXIT_NOT_FOUND
    assert result.stderr.strip() == (
        f"error: table no-such-ledger not found in {HUB_REGION} (give --hub-region or the table option)"
    )


# --- errors of every command ----------------------------------------------------------------------
@pytest.mark.parametrize("argv", [["status", INSTANCE], ["retry", INSTANCE], ["accounts"]])
def test_missing_credentials_are_one_line_and_exit_3(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    # GIVEN no credentials anywhere in the chain (environment emptied, no files, no instance metadata)
    for name in CREDENTIAL_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # a session that has not cached the old ones
    # WHEN a command needs AWS
    result = invoke(*argv)
    # THEN one line names the problem and the remedy, and the exit code is 3
    assert result.exit_code == cli.EXIT_AWS
    [line] = result.stderr.splitlines()
    assert line.startswith("error: no AWS credentials: dynamodb:") and "Unable to locate credentials" in line
    assert "AWS_PROFILE" in line


def test_an_unknown_profile_is_a_credentials_error(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    result = invoke("accounts")
    assert result.exit_code == cli.EXIT_AWS
    assert "error: no AWS credentials:" in result.stderr and "no-such-profile" in result.stderr


@pytest.mark.parametrize(
    ("argv", "operation", "action"),
    [
        (["status", INSTANCE], "GetItem", "dynamodb:GetItem"),
        (["retry", INSTANCE], "UpdateItem", "dynamodb:UpdateItem"),
        (["retry", INSTANCE], "SendMessage", "sqs:SendMessage"),
        (["accounts"], "Scan", "dynamodb:Scan"),
    ],
)
def test_access_denied_names_the_action_and_exits_3(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, argv: list[str], operation: str, action: str
) -> None:
    # GIVEN a failed record and a config item, and credentials denied one action of the command
    hub.write(record(JOIN_FAILED))
    hub.put_config(SPOKE, dnsName=DOMAIN, adJoinUserName="svc-join", adJoinUserPwParam="/domain-join/pw")
    denied = answering(operation, "AccessDeniedException")
    monkeypatch.setattr(operator_aws, "DEFAULT_CLIENT_FACTORY", [denied])
    # WHEN the operator runs the command
    result = invoke(*argv)
    # THEN it exits 3 with one line naming the denied action, and no retry was queued or stamped
    assert result.exit_code == cli.EXIT_AWS
    assert result.stderr.splitlines() == [
        f"error: access denied: {action}: AccessDeniedException (the credentials lack that permission)"
    ]
    assert hub.messages() == []
    assert contract.LEDGER_RETRIED_AT_ATTRIBUTE not in hub.raw_record(INSTANCE)


def test_a_command_lookup_that_fails_is_shown_in_its_row_and_exits_3(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a joined instance, and SSM throttling ListCommands (the prestage's lookup)
    prestage = send_command(hub.client("ssm"), contract.PRESTAGE_DOCUMENT, "i-00000000000000001")
    join = send_command(hub.client("ssm"), contract.JOIN_DOCUMENT, INSTANCE)
    hub.write(record(JOIN_SENT, prestage_command_id=prestage, join_command_id=join))
    monkeypatch.setattr(
        operator_aws, "DEFAULT_CLIENT_FACTORY", [answering("ListCommands", "ThrottlingException")]
    )
    # WHEN the operator asks for its status
    result = invoke("status", INSTANCE)
    # THEN the record and the join are still shown, the prestage row says why it is missing, and exit 3
    assert result.exit_code == cli.EXIT_AWS
    assert lines_of(result.stdout)["state"] == JOIN_SENT
    assert row(result.stdout, "join")[-1] == "Success"
    assert row(result.stdout, "prestage")[4:7] == ["not", "checked:", "ssm:ListCommands:"]
    assert result.stderr.splitlines() == [
        "error: AWS throttled or unavailable: ssm:ListCommands: ThrottlingException (try again later)"
    ]


def answering(operation: str, code: str, status: int = 400) -> Any:
    """Stub: clients (moto-backed otherwise) whose ``operation`` answers the AWS error ``code``."""

    def factory(service: str, region: str, credentials: Any) -> Any:
        client = boto3_client_factory(service, region, credentials)

        def before_call(model: Any, **_: Any) -> Any:
            if model.name != operation:
                return None
            parsed = {
                "Error": {"Code": code, "Message": f"stubbed {code}"},
                "ResponseMetadata": {"HTTPStatusCode": status},
            }
            return AWSResponse("https://stub.invalid", status, {}, None), parsed

        client.meta.events.register("before-call", before_call)
        return client

    return factory


def test_throttling_is_one_line_and_exits_3(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(operator_aws, "DEFAULT_CLIENT_FACTORY", [answering("Scan", "ThrottlingException")])
    result = invoke("accounts")
    assert result.exit_code == cli.EXIT_AWS
    assert result.stderr.splitlines() == [
        "error: AWS throttled or unavailable: dynamodb:Scan: ThrottlingException (try again later)"
    ]


# --- retry ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("failed", "state"), [(JOIN_FAILED, events.RUNNING), (REMOVE_FAILED, events.TERMINATED)]
)
def test_retry_requeues_one_event_the_handler_parses_and_is_idempotent(
    hub: Hub, failed: str, state: str
) -> None:
    # GIVEN a failed record of a spoke instance
    hub.write(record(failed, account=SPOKE, region=SPOKE_REGION))
    # WHEN the operator retries it twice
    first = invoke("retry", INSTANCE)
    second = invoke("retry", INSTANCE)
    # THEN exactly one message is on the join queue, and the handler's own parser reads it as the
    # state change of that instance that takes it down the normal path again
    assert first.exit_code == cli.EXIT_OK and second.exit_code == cli.EXIT_OK, first.output + second.output
    [message] = hub.messages()
    change = events.parse_body(message["Body"])
    assert isinstance(change, events.InstanceStateChange)
    assert (change.account, change.region, change.instance_id, change.state) == (
        SPOKE,
        SPOKE_REGION,
        INSTANCE,
        state,
    )
    assert first.stdout.startswith(f"re-queued {INSTANCE} ({failed}") and message["MessageId"] in first.stdout
    assert second.stdout.startswith("already re-queued:") and "nothing sent" in second.stdout
    # AND the record carries the time of the re-queue (what made the second run a no-op)
    assert contract.LEDGER_RETRIED_AT_ATTRIBUTE in hub.raw_record(INSTANCE)


def test_retry_with_force_sends_again(hub: Hub) -> None:
    hub.write(record(JOIN_FAILED))
    assert invoke("retry", INSTANCE).exit_code == cli.EXIT_OK
    assert invoke("retry", INSTANCE, "--force").exit_code == cli.EXIT_OK
    assert len(hub.messages()) == 2


@pytest.mark.parametrize("current", [JOINING, JOIN_SENT, REMOVING, REMOVE_SENT])
def test_retry_refuses_other_states_with_the_reason(hub: Hub, current: str) -> None:
    hub.write(record(current))
    result = invoke("retry", INSTANCE)
    assert result.exit_code == cli.EXIT_FAILED
    [line] = result.stderr.splitlines()
    assert (
        line.startswith(f"error: {INSTANCE} is {current}: ") and "only JOIN_FAILED and REMOVE_FAILED" in line
    )
    assert hub.messages() == []
    assert contract.LEDGER_RETRIED_AT_ATTRIBUTE not in hub.raw_record(INSTANCE)


def test_retry_of_an_unknown_instance_exits_4(hub: Hub) -> None:
    result = invoke("retry", OTHER)
    assert result.exit_code == cli.EXIT_NOT_FOUND and f"no ledger record for {OTHER}" in result.stderr
    assert hub.messages() == []


def test_retry_without_the_queue_exits_4_and_takes_its_stamp_back(hub: Hub) -> None:
    # GIVEN a failed record, and a join queue name that does not exist
    hub.write(record(JOIN_FAILED))
    # WHEN the operator retries it there
    result = invoke("retry", INSTANCE, "--join-queue", "no-such-queue")
    # THEN the queue is named, nothing is stamped (a later retry is not taken for a duplicate)
    assert result.exit_code == cli.EXIT_NOT_FOUND
    assert "join queue no-such-queue not found" in result.stderr
    assert contract.LEDGER_RETRIED_AT_ATTRIBUTE not in hub.raw_record(INSTANCE)
    assert invoke("retry", INSTANCE).exit_code == cli.EXIT_OK and len(hub.messages()) == 1


# --- decisions without AWS ------------------------------------------------------------------------
def test_decide_retry_waits_out_a_fresh_requeue_only() -> None:
    entry = record(JOIN_FAILED)
    now = entry.updated_at + 100
    assert retry.decide_retry(LedgerView(entry), now).kind == "requeue"
    fresh = LedgerView(entry, retried_at=now - 60)
    assert retry.decide_retry(fresh, now).kind == "queued"
    assert retry.decide_retry(fresh, now, force=True).kind == "requeue"
    stale = LedgerView(entry, retried_at=now - retry.REQUEUE_WINDOW_SECONDS)
    assert retry.decide_retry(stale, now).state == events.RUNNING


def test_the_join_lookup_prefers_the_given_role_then_the_own_account() -> None:
    entry = record(JOIN_SENT, account=SPOKE)
    assert status.join_lookup(entry, SPOKE, "", "aws") == status.JoinLookup()
    assert status.join_lookup(entry, HUB_ACCOUNT, "Reader", "aws-cn").role_arn == (
        f"arn:aws-cn:iam::{SPOKE}:role/Reader"
    )
    arn = f"arn:aws:iam::{SPOKE}:role/path/Reader"
    assert status.join_lookup(entry, HUB_ACCOUNT, arn, "aws").role_arn == arn
    assert status.join_lookup(entry, HUB_ACCOUNT, "", "aws").skip.startswith(status.NOT_CHECKED)


# --- accounts -------------------------------------------------------------------------------------
def test_accounts_lists_each_item_with_the_handlers_verdict(hub: Hub) -> None:
    # GIVEN one valid config item (two Regions) and one whose role is in another account
    hub.put_config(
        SPOKE,
        dnsName=DOMAIN,
        adJoinUserName="svc-join",
        adJoinUserPwParam="/domain-join/join-password",
        ouPath="OU=Servers,DC=corp,DC=example,DC=com",
        regions={"eu-west-1", "us-east-1"},
    )
    hub.put_config(
        "222222222222",
        dnsName=DOMAIN,
        adJoinUserName="svc-join",
        adJoinUserPwParam="/domain-join/join-password",
        assumeRoleARN=f"arn:aws:iam::{SPOKE}:role/ec2-domain-join-execution",
    )
    # WHEN the operator lists the accounts
    result = invoke("accounts")
    # THEN one line each: the valid one with its OU and Regions, the other with the handler's own reason
    assert result.exit_code == cli.EXIT_FAILED
    assert row(result.stdout, SPOKE) == [
        SPOKE,
        DOMAIN,
        "OU=Servers,DC=corp,DC=example,DC=com",
        "eu-west-1,us-east-1",
        "valid",
    ]
    invalid = " ".join(row(result.stdout, "222222222222"))
    assert accounts.HUB_REGIONS in invalid and accounts.DEFAULT_OU in invalid
    assert (
        f"assumeRoleARN arn:aws:iam::{SPOKE}:role/ec2-domain-join-execution is in account {SPOKE}" in invalid
    )
    assert "2 account(s), 1 invalid" in result.stdout
    assert result.stderr.splitlines() == ["error: 1 config item(s) the handler would refuse"]


def test_accounts_all_valid_exits_0(hub: Hub) -> None:
    hub.put_config(SPOKE, dnsName=DOMAIN, adJoinUserName="svc-join", adJoinUserPwParam="/domain-join/pw")
    result = invoke("accounts")
    assert result.exit_code == cli.EXIT_OK and row(result.stdout, SPOKE)[-1] == "valid"


def test_accounts_of_an_empty_table_warns(hub: Hub) -> None:
    result = invoke("accounts")
    assert result.exit_code == cli.EXIT_OK and "no config items" in result.stderr


def test_the_help_documents_the_exit_codes() -> None:
    for argv in ([], ["status"], ["retry"], ["accounts"]):
        result = invoke(*argv, "--help")
        assert result.exit_code == cli.EXIT_OK
        assert "3  AWS access" in result.stdout and "4  not found" in result.stdout, argv


def test_a_missing_hub_region_is_a_usage_error(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name)
    result = invoke("accounts")
    assert result.exit_code == cli.EXIT_USAGE
    assert result.stderr.splitlines() == ["error: no hub Region: give --hub-region or set AWS_REGION"]


def test_an_unexpected_error_is_one_line_unless_debugging(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a command that fails in a way nobody planned for
    def broken(aws: Any) -> None:
        raise KeyError("Items")

    monkeypatch.setattr(accounts, "run", broken)
    # WHEN it runs, THEN one line names the error and how to see more, and the exit code is 1
    result = invoke("accounts")
    assert result.exit_code == cli.EXIT_FAILED
    assert result.stderr.splitlines() == [
        f"error: unexpected KeyError: 'Items' (set {cli.DEBUG_ENV}=1 for the traceback)"
    ]
    # AND with the debug variable set, the exception itself comes through
    monkeypatch.setenv(cli.DEBUG_ENV, "1")
    with pytest.raises(KeyError):
        invoke("accounts")
