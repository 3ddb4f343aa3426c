"""Every partition: the handler builds ARNs and queue URLs of its own partition (no ``arn:aws:`` rule).

The partition comes from botocore's partition data (adapter.partitions); the queue URL from the SQS
client's endpoint for the queue's Region.  No AWS call is made: building a client resolves its endpoint
locally.
"""

from __future__ import annotations

import pytest

from handlers.domain_join import arns
from handlers.domain_join.adapter import AwsGateway, partition_of
from handlers.domain_join.decisions import decide_configs
from handlers.domain_join.errors import ConfigInvalidError
from handlers.domain_join.model import AccountConfig
from handlers.domain_join.settings import Settings

SPOKE = "111111111111"
HUB = "123456789012"

PARTITIONS = [
    ("us-east-1", "aws", "amazonaws.com"),
    ("us-gov-west-1", "aws-us-gov", "amazonaws.com"),
    ("cn-north-1", "aws-cn", "amazonaws.com.cn"),
]


def seed_item(**overrides: str) -> dict[str, str]:
    item = {
        "accountId": SPOKE,
        "dnsName": "corp.example.com",
        "adJoinUserName": "svc-domain-join",
        "adJoinUserPwParam": "/domain-join/join-password",
    }
    item.update(overrides)
    return item


def gateway_in(region: str) -> AwsGateway:
    dlq = f"https://sqs.{region}.example/{HUB}/domain-join-dlq"
    return AwsGateway(Settings(region, "domain-join-config", "domain-join-ledger", dlq))


@pytest.mark.parametrize(("region", "partition", "_suffix"), PARTITIONS)
def test_the_partition_of_the_home_region_comes_from_botocore(
    region: str, partition: str, _suffix: str
) -> None:
    assert partition_of(region) == partition
    assert gateway_in(region).partition == partition


@pytest.mark.parametrize(("region", "partition", "_suffix"), PARTITIONS)
def test_default_spoke_role_arn_is_in_the_hub_partition(region: str, partition: str, _suffix: str) -> None:
    # GIVEN a config item without assumeRoleARN, read by a hub in that Region's partition
    accounts = decide_configs(
        [SPOKE], {SPOKE: seed_item()}, "ec2-domain-join-execution", partition_of(region)
    )
    # THEN the role assumed is the execution role of that partition
    assert accounts.configs[SPOKE].role_arn == f"arn:{partition}:iam::{SPOKE}:role/ec2-domain-join-execution"


def test_a_role_of_another_partition_is_refused() -> None:
    # GIVEN a GovCloud hub and a config item naming a commercial-partition role
    item = seed_item(assumeRoleARN=f"arn:aws:iam::{SPOKE}:role/ec2-domain-join-execution")
    # THEN the config is invalid (a role is never assumed across partitions)
    with pytest.raises(ConfigInvalidError, match="partition aws-us-gov"):
        AccountConfig.from_item(SPOKE, item, partition="aws-us-gov")
    explicit = arns.role_arn("aws-us-gov", SPOKE, "custom")
    assert (
        AccountConfig.from_item(SPOKE, seed_item(assumeRoleARN=explicit), partition="aws-us-gov").role_arn
        == explicit
    )


@pytest.mark.parametrize(("region", "partition", "suffix"), PARTITIONS)
def test_queue_url_comes_from_the_sqs_endpoint_of_the_queue_region(
    region: str, partition: str, suffix: str
) -> None:
    # GIVEN the event source ARN of a join queue in that partition
    queue_arn = arns.arn(partition, "sqs", region, HUB, "domain-join")
    # WHEN the handler needs its URL (to change the visibility of records to retry)
    url = gateway_in(region).queue_url(queue_arn)
    # THEN it is the queue on that Region's SQS endpoint
    assert url.startswith("https://")
    assert url.endswith(f".{suffix}/{HUB}/domain-join")
    assert region in url


def test_queue_url_refuses_what_is_not_a_queue_arn() -> None:
    with pytest.raises(ValueError, match="not a queue ARN"):
        gateway_in("us-east-1").queue_url(arns.role_arn("aws", HUB, "r"))
    with pytest.raises(ValueError, match="not an ARN"):
        gateway_in("us-east-1").queue_url("https://sqs.us-east-1.amazonaws.com/1/q")


def test_arns_round_trip() -> None:
    text = arns.arn("aws-cn", "sqs", "cn-north-1", HUB, "domain-join")
    assert str(arns.parse_arn(text)) == text
    assert arns.parse_arn(text) == arns.Arn("aws-cn", "sqs", "cn-north-1", HUB, "domain-join")
