"""Every partition: ARNs and Region-bound service principals of the Region's partition, never `arn:aws:`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from botocore.loaders import create_loader
from modules_testlib import SECURITY_ACCOUNT, SPOKE_SMALL, SynthesizedApp, parse_policy, statements_by_sid

from modules import arns
from modules.artifact import S3Artifact
from modules.hub import POWERTOOLS_LAYER_ACCOUNT, HubProps
from modules.spoke import SpokeProps
from modules.validation import PropsError

ARN = re.compile(r"arn:([a-z-]+):")
# (home Region, extra Region, partition, DNS suffix) as botocore's data gives them
PARTITIONED = {
    "us-gov-west-1": ("us-gov-east-1", "aws-us-gov", "amazonaws.com"),
    "cn-north-1": ("cn-northwest-1", "aws-cn", "amazonaws.com.cn"),
}


def botocore_partitions() -> list[dict[str, Any]]:
    partitions: list[dict[str, Any]] = create_loader().load_data("partitions")["partitions"]
    return partitions


def botocore_partition_of(region: str) -> dict[str, Any]:
    return next(p for p in botocore_partitions() if region in p.get("regions", {}))


def landing_zone_in(home: str) -> dict[str, Any]:
    extra = PARTITIONED[home][0]
    return {
        "organization_id": "o-testorg1234",
        "security_account_id": SECURITY_ACCOUNT,
        "home_region": home,
        "extra_regions": [extra],
        "spokes": [
            {"account_id": SPOKE_SMALL, "regions": [home, extra]},
            {"account_id": SECURITY_ACCOUNT, "regions": [home]},
        ],
    }


@pytest.fixture(scope="session")
def partitioned(
    tmp_path_factory: pytest.TempPathFactory, write_landing_zone: Any, landing_zones: Any
) -> dict[str, SynthesizedApp]:
    """A landing zone in GovCloud and one in China, synthesized (after the shared fixture's imports)."""
    from modules_testlib import synthesize_landing_zone

    root = tmp_path_factory.mktemp("partitions")
    return {
        home: synthesize_landing_zone(write_landing_zone(landing_zone_in(home), f"{home}.yaml"), root / home)
        for home in PARTITIONED
    }


# --- the helper itself ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "region", ["eu-west-1", "us-gov-west-1", "us-gov-east-1", "cn-north-1", "cn-northwest-1"]
)
def test_partition_and_dns_suffix_are_botocores(region: str) -> None:
    expected = botocore_partition_of(region)
    assert arns.partition_of(region) == expected["outputs"]["name"]
    assert arns.dns_suffix_of(region) == expected["outputs"]["dnsSuffix"]


def test_logs_principal_carries_region_and_dns_suffix_other_principals_are_global() -> None:
    # GIVEN a China Region, WHEN principals are built, THEN only CloudWatch Logs' is regional, with .com.cn
    assert arns.service_principal("logs", "cn-north-1", arns.dns_suffix_of("cn-north-1")) == (
        "logs.cn-north-1.amazonaws.com.cn"
    )
    assert arns.service_principal("events") == "events.amazonaws.com"
    with pytest.raises(ValueError, match="DNS suffix"):
        arns.service_principal("logs")


def test_an_unknown_region_is_refused_by_name() -> None:
    with pytest.raises(PropsError) as caught:
        HubProps(
            account_id="111111111111",
            region="xx-nowhere-9",
            artifact=S3Artifact("bucket", "key"),
            organization_id="o-abcdefghij",
        )
    assert caught.value.field == "region"


def test_one_landing_zone_never_spans_partitions() -> None:
    with pytest.raises(PropsError) as caught:
        HubProps(
            account_id="111111111111",
            region="cn-north-1",
            artifact=S3Artifact("bucket", "key"),
            organization_id="o-abcdefghij",
            forwarder_regions=["us-east-1"],
        )
    assert caught.value.field == "forwarder_regions[0]"
    with pytest.raises(PropsError) as caught:
        SpokeProps(
            account_id="222222222222",
            regions=["us-gov-west-1", "eu-west-1"],
            security_account_id="111111111111",
            hub_lambda_role_arn="arn:aws-us-gov:iam::111111111111:role/domain-join-handler",
        )
    assert caught.value.field == "regions[1]"
    with pytest.raises(PropsError) as caught:
        SpokeProps(
            account_id="222222222222",
            regions=["cn-north-1"],
            security_account_id="111111111111",
            hub_lambda_role_arn="arn:aws:iam::111111111111:role/domain-join-handler",
        )
    assert caught.value.field == "hub_lambda_role_arn"


# --- synthesized stacks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("home", sorted(PARTITIONED))
def test_every_arn_of_every_stack_is_in_the_regions_partition(
    partitioned: dict[str, SynthesizedApp], home: str
) -> None:
    # GIVEN a landing zone in GovCloud or China, WHEN synthesized,
    # THEN every ARN in every stack names that partition, and none is arn:aws:
    _, partition, _ = PARTITIONED[home]
    app = partitioned[home]
    assert {name.split("-")[0] for name in app.stacks} == {"hub", "forwarder", "spoke"}
    for name, stack in app.stacks.items():
        text = json.dumps(stack)
        found = set(ARN.findall(text))
        assert found == {partition}, f"{name}: {found}"
        assert "arn:aws:" not in text


@pytest.mark.parametrize("home", sorted(PARTITIONED))
def test_key_policy_lets_the_regions_logs_service_encrypt(
    partitioned: dict[str, SynthesizedApp], home: str
) -> None:
    _, partition, dns_suffix = PARTITIONED[home]
    key = partitioned[home].resource("hub", "aws_kms_key")
    logs = statements_by_sid(parse_policy(key["policy"]))["LogsEncryptHandlerLogs"]
    assert logs["Principal"] == {"Service": f"logs.{home}.{dns_suffix}"}
    context = logs["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"]
    assert context.startswith(f"arn:{partition}:logs:{home}:{SECURITY_ACCOUNT}:log-group:")


@pytest.mark.parametrize("home", sorted(PARTITIONED))
def test_the_powertools_layer_comes_from_the_partitions_publisher(
    partitioned: dict[str, SynthesizedApp], home: str
) -> None:
    _, partition, _ = PARTITIONED[home]
    [layer] = partitioned[home].resource("hub", "aws_lambda_function")["layers"]
    assert layer.startswith(f"arn:{partition}:lambda:{home}:")
    assert layer.split(":")[4] != POWERTOOLS_LAYER_ACCOUNT  # the commercial publisher is not there


def test_plain_modules_take_the_partition_from_the_caller(plain_modules: Path) -> None:
    # GIVEN the plain modules emitted afresh, THEN no ARN is hard-wired to a partition
    # (the network modules build no ARN at all: they name VPCs, subnets and groups by id)
    modules = sorted(plain_modules.glob("*/main.tf"))
    assert modules
    building = set()
    for module in modules:
        text = module.read_text()
        assert set(ARN.findall(text)) == set(), module.parent.name
        if "arn:" in text:
            assert "arn:${data.aws_partition.this.partition}:" in text, module.parent.name
            building.add(module.parent.name)
        assert "data.aws_partition.this.dns_suffix" in text or module.parent.name != "hub"
    assert {"hub", "region-forwarder", "spoke", "tools-host"} <= building
