"""The tools-host and directory-config plain modules, read through the plans of their example consumers (the
work dirs and Terraform runs of test_plain_modules.py's consumer jobs: no extra Terraform run).

- tools-host: each planned IAM policy and the role's trust policy are the `ToolsHost` construct's, synthesized
  with cdktf for the same inputs (the consumer's terraform.tfvars; the STS stub's account), statement for
  statement; so are the instance (IMDSv2 only, encrypted root volume, the profile), its security group and
  every egress rule (the AD client port table to each DC network, HTTPS to Systems Manager);
- directory-config: each planned item is the item the landing-zone path writes for the same settings
  (`landing_zone.config_item`), and the handler's `AccountConfig` reads it back from DynamoDB (moto).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import hcl2
import pytest
from moto import mock_aws

from handlers.domain_join import contract, settings
from handlers.domain_join.model import AccountConfig
from modules.directory_config import dynamodb_value
from modules.landing_zone import Directory, Spoke, config_item

from .test_plain_modules import CONSUMER_JOBS
from .tfcli import STUB_DEFAULT_ACCOUNT
from .tier import EXAMPLES, Job, Tier

[TOOLS_HOST_JOB] = [job for job in CONSUMER_JOBS if job.key == "tools-host-consumer"]
[DIRECTORY_CONFIG_JOB] = [job for job in CONSUMER_JOBS if job.key == "directory-config-consumer"]


def tfvars(consumer: str) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, str):
            return value.strip('"')
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k.strip('"'): plain(v) for k, v in value.items() if k != "__is_block__"}
        return value

    return plain(hcl2.loads((EXAMPLES / consumer / "terraform.tfvars").read_text()))  # type: ignore[no-any-return]


def planned(plan: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    """address -> planned values of every instance of `resource_type`."""
    return {
        change["address"]: change["change"]["after"]
        for change in plan["resource_changes"]
        if change["type"] == resource_type and change["mode"] == "managed"
    }


def construct_config(values: dict[str, Any], outdir: Path) -> dict[str, Any]:
    """The ToolsHost construct for the consumer's inputs (its instance too), synthesized: its cdk.tf.json."""
    from cdktf_cdktf_provider_aws.provider import AwsProvider

    from modules.cdk import App, TerraformStack
    from modules.tools_host import ToolsHost, ToolsHostInstanceProps, ToolsHostProps

    app = App(outdir=str(outdir))
    stack = TerraformStack(app, "tools-host")
    AwsProvider(stack, "aws", region=values["home_region"])
    host = ToolsHost(
        stack,
        "tools-host",
        ToolsHostProps(
            account_id=STUB_DEFAULT_ACCOUNT,
            region=values["home_region"],
            password_parameter_names=values["password_parameter_names"],
            password_kms_key_arn=values.get("password_kms_key_arn"),
            instance=ToolsHostInstanceProps(**values["instance"]) if values.get("instance") else None,
        ),
    )
    host.open_sealed_prestage_lists(values["hub_kms_key_arn"])
    host.write_inventory(values["inventory_bucket_arn"])
    app.synth()
    config: dict[str, Any] = json.loads((outdir / "stacks" / "tools-host" / "cdk.tf.json").read_text())
    return config


def construct_policies(values: dict[str, Any], outdir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ToolsHost construct for the consumer's inputs: (policy name -> document, trust)."""
    config = construct_config(values, outdir)
    policies = {
        p["name"]: json.loads(p["policy"]) for p in config["resource"]["aws_iam_role_policy"].values()
    }
    [role] = config["resource"]["aws_iam_role"].values()
    return policies, json.loads(role["assume_role_policy"])


@pytest.mark.terraform
@pytest.mark.parametrize("job", [TOOLS_HOST_JOB], ids=str)
def test_plain_tools_host_grants_exactly_what_the_construct_grants(
    job: Job, tier: Tier, tmp_path: Path
) -> None:
    # GIVEN the plan of the tools-host consumer (join passwords under a customer key, the hub key, the
    # reconciliation bucket) and the ToolsHost construct synthesized for the same inputs
    _, outcome = tier.result(job)
    assert outcome.failed_step is None, outcome.output
    assert outcome.plan is not None
    values = tfvars(job.key)
    expected_policies, expected_trust = construct_policies(values, tmp_path / "synth")
    # WHEN the planned policies are read by name
    policies = {
        after["name"]: json.loads(after["policy"])
        for after in planned(outcome.plan, "aws_iam_role_policy").values()
    }
    [role] = planned(outcome.plan, "aws_iam_role").values()
    # THEN they are the construct's, statement for statement (three policies, the kms one included)
    assert policies == expected_policies
    assert len(policies) == 3
    assert any(s["Sid"] == "DecryptJoinPasswordsThroughSsmOnly" for s in policies["tools-host"]["Statement"])
    assert json.loads(role["assume_role_policy"]) == expected_trust


@pytest.mark.terraform
@pytest.mark.parametrize("job", [TOOLS_HOST_JOB], ids=str)
def test_plain_tools_host_instance_is_the_constructs(job: Job, tier: Tier, tmp_path: Path) -> None:
    # GIVEN the plan of the tools-host consumer with `instance` (a given AMI, two DC networks, HTTPS to the
    # VPC's endpoints) and the ToolsHost construct synthesized with the same instance props
    _, outcome = tier.result(job)
    assert outcome.failed_step is None, outcome.output
    assert outcome.plan is not None
    values = tfvars(job.key)
    config = construct_config(values, tmp_path / "synth")
    resources = config["resource"]
    [expected_instance] = resources["aws_instance"].values()
    [expected_group] = resources["aws_security_group"].values()
    [profile] = planned(outcome.plan, "aws_iam_instance_profile").values()
    # WHEN the planned instance, security group and egress rules are read
    [instance] = planned(outcome.plan, "aws_instance").values()
    [group] = planned(outcome.plan, "aws_security_group").values()
    rules = planned(outcome.plan, "aws_vpc_security_group_egress_rule").values()

    # THEN the instance is the construct's: AMI, type, subnet, no public address, IMDSv2 only, encrypted
    # root volume, user data, tags; and it has the module's instance profile
    for argument in (
        "ami", "instance_type", "subnet_id", "associate_public_ip_address", "monitoring", "ebs_optimized",
    ):  # fmt: skip
        assert instance[argument] == expected_instance[argument], argument
    [metadata] = instance["metadata_options"]
    assert {key: metadata[key] for key in expected_instance["metadata_options"]} == (
        expected_instance["metadata_options"]
    )
    assert metadata["http_tokens"] == "required"
    [root] = instance["root_block_device"]
    assert (root["encrypted"], root["volume_type"]) == (True, "gp3")
    assert expected_instance["root_block_device"] == {"encrypted": True, "volume_type": "gp3"}
    assert instance["user_data"] in (
        expected_instance["user_data"],
        hashlib.sha1(expected_instance["user_data"].encode()).hexdigest(),  # noqa: S324 (the provider's)
    )
    assert instance["tags"] == expected_instance["tags"]
    assert instance["volume_tags"] == expected_instance["volume_tags"]  # the root volume says whose it is
    assert instance["volume_tags"]["Name"] == instance["tags"]["Name"]
    assert instance["tags"][settings.TOOLS_HOST_TAG_KEY.default] == settings.TOOLS_HOST_TAG_VALUE.default
    assert instance["iam_instance_profile"] == profile["name"]
    # AND the security group is the construct's
    for argument in ("name", "description", "vpc_id"):
        assert group[argument] == expected_group[argument], argument

    # AND so is every egress rule: the AD client port table to each DC network, HTTPS to Systems Manager
    def rule(body: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(body[k] for k in ("ip_protocol", "from_port", "to_port", "cidr_ipv4", "description"))

    expected_rules = sorted(rule(b) for b in resources["aws_vpc_security_group_egress_rule"].values())
    assert sorted(rule(b) for b in rules) == expected_rules
    assert len(expected_rules) > len(values["instance"]["dc_cidrs"]) * 10


def landing_zone_item(account_id: str, entry: dict[str, Any]) -> dict[str, Any]:
    """The item the landing-zone path writes for the same settings (one directory, one spoke)."""
    directory = Directory(
        name="d",
        domain=entry["domain"],
        dns_ips=tuple(entry["dns_ips"]),
        join_user=entry["join_user"],
        join_password_parameter=entry["join_password_parameter"],
        default_ou=entry.get("ou"),
        computer_name_prefix=entry.get("computer_name_prefix"),
        directory_id=entry.get("directory_id"),
        sudo_group=entry.get("sudo_group"),
        install_rds_role=entry.get("install_rds_role", False),
        install_packages=entry.get("install_packages", True),
        ou_tag_key=entry.get("ou_tag_key"),
        ou_by_tag=tuple(sorted(entry.get("ou_by_tag", {}).items())),
        computer_name_tag=entry.get("computer_name_tag"),
        seal_join_passwords=entry.get("seal_join_passwords", False),
    )
    spoke = Spoke(account_id=account_id, regions=tuple(entry["regions"]), role_name="r", directory="d")
    # config_item reads only the home Region and the spoke role name of the landing zone
    lz = SimpleNamespace(home_region="eu-west-1", spoke_role_name=settings.SPOKE_ROLE_NAME.default)
    item = config_item(lz, spoke, directory)  # type: ignore[arg-type]
    return {name: dynamodb_value(value) for name, value in item.items()}


@pytest.mark.terraform
@pytest.mark.parametrize("job", [DIRECTORY_CONFIG_JOB], ids=str)
def test_plain_directory_config_writes_the_landing_zone_items(job: Job, tier: Tier) -> None:
    # GIVEN the plan of the directory-config consumer (one account with every option, one minimal)
    _, outcome = tier.result(job)
    assert outcome.failed_step is None, outcome.output
    assert outcome.plan is not None
    accounts = tfvars(job.key)["accounts"]
    # WHEN its planned items are read
    items = {
        json.loads(after["item"])[contract.CONFIG_TABLE_KEY]["S"]: after
        for after in planned(outcome.plan, "aws_dynamodb_table_item").values()
    }
    # THEN there is one per account, the landing-zone path's item for the same settings
    assert set(items) == set(accounts)
    for account, after in items.items():
        assert after["hash_key"] == contract.CONFIG_TABLE_KEY
        assert json.loads(after["item"]) == landing_zone_item(account, accounts[account])
    # AND the handler reads each back from the table (moto) as the settings say
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        client.create_table(
            TableName="cfg",
            KeySchema=[{"AttributeName": contract.CONFIG_TABLE_KEY, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": contract.CONFIG_TABLE_KEY, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for after in items.values():
            client.put_item(TableName="cfg", Item=json.loads(after["item"]))
        table = boto3.resource("dynamodb", region_name="eu-west-1").Table("cfg")
        configs = {
            account: AccountConfig.from_item(account, table.get_item(Key={"accountId": account})["Item"])
            for account in accounts
        }
    for account, entry in accounts.items():
        config = configs[account]
        assert config.dns_ips == tuple(entry["dns_ips"])
        assert config.ou_path == entry.get("ou", "")
        assert config.install_packages == entry.get("install_packages", True)
