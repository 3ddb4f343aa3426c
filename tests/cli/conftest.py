"""A moto hub for the operator commands: the tables and the join queue under the hub's default names.

The CLI builds its clients through the handler's ``Sessions`` with boto3's default session, so moto's
patched botocore answers them; nothing here stubs an AWS call.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Two images instead of moto's catalogue: each EC2 backend (one per account and Region) loads it.
os.environ.setdefault("MOTO_AMIS_PATH", str(Path(__file__).parents[1] / "handler" / "amis.json"))

import boto3
import pytest
from click.testing import CliRunner, Result
from moto import mock_aws

from ec2_domain_join import cli
from handlers.domain_join import contract
from handlers.domain_join.adapter.ledger import LedgerStore
from handlers.domain_join.adapter.sessions import Sessions
from handlers.domain_join.model import LedgerEntry
from modules import naming

HUB_ACCOUNT = "123456789012"  # moto's default account: the operator's credentials are of the hub
HUB_REGION = "us-east-1"
SPOKE = "111111111111"
SPOKE_REGION = "eu-west-1"
CREDENTIAL_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in (*CREDENTIAL_ENV, "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": HUB_REGION,
        "AWS_DEFAULT_REGION": HUB_REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }.items():
        monkeypatch.setenv(name, value)
    # The hub's names come from the options' defaults, never from a developer's environment.
    for name in (contract.ENV_CONFIG_TABLE, contract.ENV_LEDGER_TABLE, contract.ENV_SPOKE_ROLE_NAME):
        monkeypatch.delenv(name, raising=False)
    with mock_aws(config={"core": {"reset_boto3_session": False}}):
        yield


@dataclass
class Hub:
    """The moto hub: the tables and the join queue the CLI finds by their default names."""

    queue_url: str = ""
    sessions: Sessions = field(default_factory=lambda: Sessions(HUB_REGION))

    def client(self, service: str, region: str = HUB_REGION) -> Any:
        return self.sessions.hub_client(service, region)

    def write(self, *entries: LedgerEntry) -> None:
        """Ledger records, written by the handler's own store (its item codec)."""
        LedgerStore(self.sessions, naming.DEFAULT_LEDGER_TABLE_NAME).write(entries)

    def raw_record(self, instance_id: str) -> dict[str, Any]:
        item = self.client("dynamodb").get_item(
            TableName=naming.DEFAULT_LEDGER_TABLE_NAME, Key={contract.LEDGER_TABLE_KEY: {"S": instance_id}}
        )
        return dict(item.get("Item", {}))

    def put_config(self, account: str, **attributes: Any) -> None:
        item = {contract.CONFIG_TABLE_KEY: account, **attributes}
        boto3.resource("dynamodb", region_name=HUB_REGION).Table(naming.DEFAULT_CONFIG_TABLE_NAME).put_item(
            Item=item
        )

    def messages(self) -> list[dict[str, Any]]:
        """Every message of the join queue (received, so it is seen once)."""
        found: list[dict[str, Any]] = []
        while True:
            batch = (
                self.client("sqs")
                .receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
                .get("Messages", [])
            )
            if not batch:
                return found
            found += batch


@pytest.fixture
def hub(aws_env: None) -> Hub:
    """GIVEN a hub with its config and ledger tables and its join queue (the hub module's names)."""
    h = Hub()
    dynamodb = h.client("dynamodb")
    for table, key in (
        (naming.DEFAULT_CONFIG_TABLE_NAME, contract.CONFIG_TABLE_KEY),
        (naming.DEFAULT_LEDGER_TABLE_NAME, contract.LEDGER_TABLE_KEY),
    ):
        dynamodb.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    h.queue_url = h.client("sqs").create_queue(QueueName=naming.join_queue_name())["QueueUrl"]
    return h


def invoke(*args: str) -> Result:
    """Run ``ec2-domain-join ARGS`` as click runs it for a user (standalone: exit codes, no traceback)."""
    result = CliRunner().invoke(cli.cli, list(args), prog_name="ec2-domain-join")
    assert "Traceback" not in result.output, result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result
