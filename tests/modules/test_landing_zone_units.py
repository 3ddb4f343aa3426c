"""The landing zone's optional units end to end: directories, tools host, directory network, member VPCs.

One landing zone that uses all of them is synthesized once (the example keeps the minimal set), and the
stacks are read as JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from modules.landing_zone import LandingZoneError, load_landing_zone

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "landing-zone.yaml"
DIRECTORY_ACCOUNT = "444444444444"
SPOKE = "222222222222"
AMI = "ami-0123456789abcdef0"


def full_landing_zone() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    data["directories"] = {
        "corp": {
            "domain": "corp.example.com",
            "dns_ips": ["10.0.0.10", "10.0.1.10"],
            "join_user": "svc-domainjoin",
            "join_password_parameter": "/domain-join/join-password",
            "default_ou": "OU=EC2,DC=corp,DC=example,DC=com",
        }
    }
    data["tools_host"] = {
        "instance": {
            "vpc_id": "vpc-0123456789abcdef0",
            "subnet_id": "subnet-0123456789abcdef0",
            "dc_cidrs": ["10.0.0.0/24", "10.0.1.0/24"],
            "ami_id": AMI,
        }
    }
    data["directory_network"] = {
        "account_id": DIRECTORY_ACCOUNT,
        "directory": "corp",
        "vpc_id": "vpc-0aaaaaaaaaaaaaaa0",
        "vpc_cidr": "10.0.0.0/16",
        "resolver_subnet_ids": ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"],
        "clients": {"cidrs": ["10.64.0.0/10"]},
        "admin_role_arns": [f"arn:aws:iam::{DIRECTORY_ACCOUNT}:role/ad-admins"],
    }
    data["spokes"][0] |= {
        "directory": "corp",
        "vpcs": {"eu-west-1": [{"vpc_id": "vpc-0bbbbbbbbbbbbbbb0", "vpc_cidr": "10.64.0.0/16"}]},
    }
    return data


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    from modules.stacks import build_app

    tmp = tmp_path_factory.mktemp("units")
    path = tmp / "lz.yaml"
    path.write_text(yaml.safe_dump(full_landing_zone(), sort_keys=False))
    built: list[str] = []
    build_app(
        load_landing_zone(path), tmp / "out", tmp / "artifact" / "domain_join.zip", on_stack=built.append
    ).synth()
    assert built == [name for name, _, _ in load_landing_zone(path).stack_plan()]
    return {p.parent.name: json.loads(p.read_text()) for p in (tmp / "out" / "stacks").glob("*/cdk.tf.json")}


def test_the_hub_writes_the_config_item_and_creates_the_tools_host(stacks: dict[str, dict[str, Any]]) -> None:
    hub = stacks["hub"]["resource"]
    items = {
        json.loads(item["item"])["accountId"]["S"]: item for item in hub["aws_dynamodb_table_item"].values()
    }
    assert set(items) == {SPOKE, "333333333333"}  # the spokes that name a directory
    assert all(i["table_name"].startswith("${aws_dynamodb_table.") for i in items.values())  # created first
    assert len(hub["aws_instance"]) == 1 and len(hub["aws_iam_instance_profile"]) == 1
    assert "tools_host_instance_profile_arn" in stacks["hub"]["output"]
    # THEN the instance runs the file's ami_id, and no public AMI parameter is read for it
    [instance] = hub["aws_instance"].values()
    assert instance["ami"] == AMI
    assert "aws_ssm_parameter" not in stacks["hub"].get("data", {})


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ami_id": "image-1"}, "tools_host.instance.ami_id"),
        ({"ami_parameter": "not a parameter name"}, "tools_host.instance.ami_parameter"),
        (
            {"ami_parameter": "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"},
            "tools_host.instance",
        ),
    ],
)
def test_tools_host_ami_problems_name_the_field(tmp_path: Path, change: dict[str, Any], field: str) -> None:
    # GIVEN a tools-host instance with a malformed AMI, or both an AMI id and a parameter
    data = full_landing_zone()
    data["tools_host"]["instance"] |= change
    path = tmp_path / "lz.yaml"
    path.write_text(yaml.safe_dump(data))
    # WHEN the file is read THEN one problem names the field
    with pytest.raises(LandingZoneError) as caught:
        load_landing_zone(path)
    assert [p for p in caught.value.problems if f": {field}: " in p], caught.value.problems


def test_the_directory_network_is_its_own_stack_in_the_directory_account(
    stacks: dict[str, dict[str, Any]],
) -> None:
    stack = stacks["directory-network"]
    [provider] = stack["provider"]["aws"]
    assert provider["allowed_account_ids"] == [DIRECTORY_ACCOUNT]
    [rule] = stack["resource"]["aws_route53_resolver_rule"].values()
    assert rule["domain_name"] == "corp.example.com"
    assert sorted(t["ip"] for t in rule["target_ip"]) == ["10.0.0.10", "10.0.1.10"]
    # THEN the rule is shared with the spoke whose VPC joins (the default of share_with)
    principals = [a["principal"] for a in stack["resource"]["aws_ram_principal_association"].values()]
    assert principals == [SPOKE]


def test_the_spoke_associates_the_rule_and_reaches_the_dcs(
    stacks: dict[str, dict[str, Any]],
) -> None:
    spoke = stacks[f"spoke-{SPOKE}"]
    [association] = spoke["resource"]["aws_route53_resolver_rule_association"].values()
    assert association["vpc_id"] == "vpc-0bbbbbbbbbbbbbbb0"
    egress = spoke["resource"]["aws_vpc_security_group_egress_rule"].values()
    assert {rule["cidr_ipv4"] for rule in egress} == {"10.0.0.10/32", "10.0.1.10/32"}  # the DNS IPs' /32s


def test_the_spoke_stack_is_deployed_after_the_directory_network(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from modules.stacks import build_app

    tmp = tmp_path_factory.mktemp("dependency")
    path = tmp / "lz.yaml"
    path.write_text(yaml.safe_dump(full_landing_zone(), sort_keys=False))
    build_app(load_landing_zone(path), tmp / "out", tmp / "artifact" / "domain_join.zip").synth()
    manifest = json.loads((tmp / "out" / "manifest.json").read_text())
    assert manifest["stacks"][f"spoke-{SPOKE}"]["dependencies"] == ["directory-network"]
    assert manifest["stacks"]["spoke-333333333333"]["dependencies"] == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"resolver_subnet_ids": ["subnet-0aaaaaaaaaaaaaaa1"]}, "directory_network.resolver_subnet_ids"),
        ({"admin_role_arns": []}, "directory_network.admin_role_arns"),
        ({"clients": {}}, "directory_network.clients"),
        ({"directory": "lab"}, "directory_network.directory"),
        ({"vpc_cidr": "10.0.0.1/16"}, "directory_network.vpc_cidr[0]"),
        ({"share_with": ["o-abc"]}, "directory_network.share_with[0]"),
    ],
)
def test_directory_network_problems_name_the_field(
    tmp_path: Path, change: dict[str, Any], field: str
) -> None:
    data = full_landing_zone()
    data["directory_network"] |= change
    path = tmp_path / "lz.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(LandingZoneError) as caught:
        load_landing_zone(path)
    assert any(f": {field}: " in p for p in caught.value.problems), caught.value.problems


def test_a_spoke_vpc_outside_the_directory_region_or_its_own_regions_is_refused(tmp_path: Path) -> None:
    data = full_landing_zone()
    data["spokes"][0]["vpcs"] = {"eu-central-1": [{"vpc_id": "vpc-0bbbbbbbbbbbbbbb0"}], "ap-south-1": []}
    path = tmp_path / "lz.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(LandingZoneError) as caught:
        load_landing_zone(path)
    problems = caught.value.problems
    assert any("spokes[0].vpcs.eu-central-1[0]: resolver rules are regional" in p for p in problems)
    assert any(
        "spokes[0].vpcs.ap-south-1: 'ap-south-1' is not one of this spoke's regions" in p for p in problems
    )


def test_spoke_vpcs_without_a_directory_network_are_refused(tmp_path: Path) -> None:
    data = full_landing_zone()
    del data["directory_network"]
    path = tmp_path / "lz.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(LandingZoneError) as caught:
        load_landing_zone(path)
    assert any(": directory_network: missing" in p for p in caught.value.problems)
