"""Directory configuration as code: the landing zone's directories become config items the handler accepts."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from handlers.domain_join import contract
from handlers.domain_join.errors import ConfigInvalidError
from handlers.domain_join.model import AccountConfig
from handlers.domain_join.patterns import ACCOUNT_ID
from modules.landing_zone import LandingZone, LandingZoneError, load_landing_zone

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "landing-zone.yaml"
CORP = {
    "domain": "corp.example.com",
    "dns_ips": ["10.0.0.10", "10.0.1.10"],
    "join_user": "svc-domainjoin",
    "join_password_parameter": "/domain-join/join-password",
    "default_ou": "OU=EC2,OU=Servers,DC=corp,DC=example,DC=com",
    "computer_name_prefix": "EC2",
    "sudo_group": "linux-admins",
    "install_packages": False,
    "ou_by_tag": {
        "tag": "Environment",
        "ous": {"prod": "OU=Prod,DC=corp,DC=example,DC=com", "dev": "OU=Dev,DC=corp,DC=example,DC=com"},
    },
    "computer_name_tag": "Name",
}


def landing_zone(tmp_path: Path, **changes: Any) -> Path:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["directories"] = {"corp": dict(CORP)}
    data["spokes"][0]["directory"] = "corp"
    data["spokes"][1] |= {"directory": "corp", "ou": "OU=Team,DC=corp,DC=example,DC=com"}
    data |= changes
    path = tmp_path / "lz.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> tuple[LandingZone, dict[str, Any]]:
    """A stack holding only DirectoryConfig for the example's directories (cdktf loads once per module)."""
    from cdktf_cdktf_provider_aws.provider import AwsProvider

    from modules.cdk import App, TerraformStack
    from modules.directory_config import DirectoryConfig, DirectoryConfigProps

    tmp = tmp_path_factory.mktemp("directory-config")
    lz = load_landing_zone(landing_zone(tmp))
    app = App(outdir=str(tmp / "out"))
    stack = TerraformStack(app, "config")
    AwsProvider(stack, "aws", region="eu-west-1")
    DirectoryConfig(
        stack, "directory-config", DirectoryConfigProps(table_name="cfg", items=lz.config_items())
    )
    app.synth()
    return lz, json.loads((tmp / "out" / "stacks" / "config" / "cdk.tf.json").read_text())


def test_one_item_per_account_that_names_a_directory(synthesized: tuple[LandingZone, dict[str, Any]]) -> None:
    lz, stack = synthesized
    items = stack["resource"]["aws_dynamodb_table_item"]
    accounts = {json.loads(item["item"])["accountId"]["S"] for item in items.values()}
    assert accounts == {s.account_id for s in lz.spokes if s.directory} == {"222222222222", "333333333333"}
    assert all(
        item["hash_key"] == contract.CONFIG_TABLE_KEY and item["table_name"] == "cfg"
        for item in items.values()
    )


def test_items_written_to_dynamodb_are_read_back_by_the_handler(
    synthesized: tuple[LandingZone, dict[str, Any]],
) -> None:
    # GIVEN the synthesized items, put into a table as Terraform's provider would (moto)
    _, stack = synthesized
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        client.create_table(
            TableName="cfg",
            KeySchema=[{"AttributeName": contract.CONFIG_TABLE_KEY, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": contract.CONFIG_TABLE_KEY, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for resource in stack["resource"]["aws_dynamodb_table_item"].values():
            client.put_item(TableName="cfg", Item=json.loads(resource["item"]))
        # WHEN the handler's model reads each account's item back
        table = boto3.resource("dynamodb", region_name="eu-west-1").Table("cfg")
        configs = {
            account: AccountConfig.from_item(account, table.get_item(Key={"accountId": account})["Item"])
            for account in ("222222222222", "333333333333")
        }
    # THEN the directory's settings arrive, with the per-account OU override and no secret
    assert configs["222222222222"].ou_path == CORP["default_ou"]
    assert configs["333333333333"].ou_path == "OU=Team,DC=corp,DC=example,DC=com"
    assert configs["222222222222"].dns_ips == ("10.0.0.10", "10.0.1.10")
    assert configs["222222222222"].password_parameter == "/domain-join/join-password"
    assert configs["222222222222"].role_arn == "arn:aws:iam::222222222222:role/ec2-domain-join-execution"
    assert configs["222222222222"].sudo_group == "linux-admins"
    assert configs["222222222222"].install_packages is False
    # AND the OU-by-tag allow-list (a DynamoDB map) and the name tag arrive for every account
    for config in configs.values():
        assert (config.ou_tag_key, config.computer_name_tag) == ("Environment", "Name")
        assert dict(config.ou_by_tag_value) == CORP["ou_by_tag"]["ous"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("option", "value", "field"),
    [
        ("ou_by_tag", {"tag": "Env\nironment", "ous": {"prod": "OU=P"}}, "directories.corp.ou_by_tag.tag"),
        ("ou_by_tag", {"tag": "Environment", "ous": {"prod": "OU=P;x"}},
         "directories.corp.ou_by_tag.ous.prod"),
        ("ou_by_tag", {"tag": "Environment", "ous": {}}, "directories.corp.ou_by_tag.ous"),
        ("ou_by_tag", {"tag": "Environment", "ous": {f"v{i}": "OU=P" for i in range(51)}},
         "directories.corp.ou_by_tag.ous"),
        ("ou_by_tag", {"tag": "Environment", "ous": {"prod": "OU=P"}, "default": "OU=D"},
         "directories.corp.ou_by_tag.default"),
        ("computer_name_tag", "Na;me", "directories.corp.computer_name_tag"),
    ],
)  # fmt: skip
def test_bad_tag_options_name_the_field(tmp_path: Path, option: str, value: Any, field: str) -> None:
    path = landing_zone(tmp_path, directories={"corp": dict(CORP, **{option: value})})
    with pytest.raises(LandingZoneError) as caught:
        load_landing_zone(path)
    assert any(f": {field}: " in p for p in caught.value.problems), caught.value.problems


def test_a_directory_value_the_handler_would_refuse_fails_at_load(tmp_path: Path) -> None:
    # GIVEN an OU with a newline and a DNS address that is not IPv4
    bad = dict(CORP, default_ou="OU=A\nB,DC=corp", dns_ips=["10.0.0.300"])
    path = landing_zone(tmp_path, directories={"corp": bad})
    with pytest.raises(LandingZoneError) as caught:
        load_landing_zone(path)
    fields = {problem.split(": ")[1] for problem in caught.value.problems}
    assert {"directories.corp.default_ou", "directories.corp.dns_ips[0]"} <= fields


def test_a_spoke_naming_an_unknown_directory_is_refused(tmp_path: Path) -> None:
    path = landing_zone(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["spokes"][0]["directory"] = "lab"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(LandingZoneError) as caught:
        load_landing_zone(path)
    assert any(
        ": spokes[0].directory: 'lab' is not under directories (corp)" in p for p in caught.value.problems
    )


def test_tools_host_reads_exactly_the_directories_parameters(tmp_path: Path) -> None:
    instance = {
        "vpc_id": "vpc-0123456789abcdef0",
        "subnet_id": "subnet-0123456789abcdef0",
        "dc_cidrs": ["10.0.0.0/24"],
    }
    lz = load_landing_zone(landing_zone(tmp_path, tools_host={"instance": instance}))
    assert lz.password_parameter_names == ("/domain-join/join-password",)
    assert lz.tools_host is not None and lz.tools_host.instance is not None
    assert lz.tools_host.instance.https_egress_cidrs == ("0.0.0.0/0",)


VPC, SUBNET = "vpc-0123456789abcdef0", "subnet-0123456789abcdef0"


@pytest.mark.parametrize(
    ("tools_host", "field"),
    [
        ({"instance": {"vpc_id": "vpc-1", "subnet_id": SUBNET, "dc_cidrs": ["10.0.0.0/24"]}},
         "tools_host.instance.vpc_id"),
        ({"instance": {"vpc_id": VPC, "subnet_id": SUBNET, "dc_cidrs": ["10.0.0.1/24"]}},
         "tools_host.instance.dc_cidrs[0]"),
        ({"password_kms_key_arn": "alias/aws/ssm"}, "tools_host.password_kms_key_arn"),
    ],
)  # fmt: skip
def test_tools_host_problems_name_the_field(tmp_path: Path, tools_host: dict[str, Any], field: str) -> None:
    with pytest.raises(LandingZoneError) as caught:
        load_landing_zone(landing_zone(tmp_path, tools_host=tools_host))
    assert any(f": {field}: " in p for p in caught.value.problems), caught.value.problems


def test_tools_host_without_directories_is_refused(tmp_path: Path) -> None:
    path = landing_zone(tmp_path, tools_host={}, directories={})
    data = yaml.safe_load(path.read_text())
    for spoke in data["spokes"]:
        spoke.pop("directory", None), spoke.pop("ou", None)
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(LandingZoneError) as caught:
        load_landing_zone(path)
    assert any(": tools_host: needs directories" in p for p in caught.value.problems)


# --- the plain module (terraform/modules/directory-config) --------------------------------------------


@pytest.fixture(scope="module")
def plain_directory_config(plain_modules: Path) -> Any:
    from modules.plain_modules import build_modules

    return build_modules()["directory-config"]  # the one the plain_modules fixture rendered (cached)


def test_plain_module_writes_one_item_resource_over_the_accounts_map(plain_directory_config: Any) -> None:
    # GIVEN the plain module, THEN one aws_dynamodb_table_item iterates over var.accounts (an account added or
    # removed is one instance more or less, never a new resource address)
    items = plain_directory_config.resources["aws_dynamodb_table_item"]
    assert list(items) == ["config"]
    assert items["config"]["for_each"] == "${var.create ? var.accounts : {}}"
    assert items["config"]["hash_key"] == contract.CONFIG_TABLE_KEY
    assert items["config"]["table_name"] == "${var.table_name}"


def _regex_of(plain_directory_config: Any, subject: str) -> re.Pattern[str]:
    """The regex the `accounts` validation applies to `subject` (e.g. `a.ou`), as Python reads it."""
    for validation in plain_directory_config.variables["accounts"]["validation"]:
        found = re.search(
            r'regex\(("(?:[^"\\]|\\.)*"), ' + re.escape(subject) + r"\)", validation["condition"]
        )
        if found:
            return re.compile(json.loads(found.group(1)))
    raise AssertionError(f"no validation of {subject}")


@pytest.mark.parametrize(
    ("subject", "value", "field"),
    [
        ("id", "222222222222", None), ("id", "22222222222", "account id"),
        ("a.domain", "corp.example.com", None), ("a.domain", "corp", "dnsName"),
        ("ip", "10.0.0.10", None), ("ip", "10.0.0.300", "dnsIP1"),
        ("a.join_user", "CORP\\svc-join", None), ("a.join_user", "-svc", "adJoinUserName"),
        ("a.join_password_parameter", "/domain-join/pw", None),
        ("a.join_password_parameter", "-pw", "adJoinUserPwParam"),
        ("a.ou", "OU=Büro,DC=corp,DC=example,DC=com", None), ("a.ou", "OU=A;B,DC=corp", "ouPath"),
        ("a.sudo_group", "Linux Admins", None), ("a.sudo_group", "admins;x", "sudoGroupName"),
    ],
)  # fmt: skip
def test_plain_module_validation_agrees_with_the_handler(
    plain_directory_config: Any, subject: str, value: str, field: str | None
) -> None:
    """GIVEN a value of an `accounts` field, THEN the module's validation regex accepts it exactly when the
    handler's reading of the item (AccountConfig, or the account-id pattern) does."""
    item = {
        contract.CONFIG_DNS_NAME: "corp.example.com",
        contract.CONFIG_JOIN_USER: "svc",
        contract.CONFIG_PASSWORD_PARAMETER: "/p",
    }
    attribute = {
        "a.domain": contract.CONFIG_DNS_NAME, "ip": contract.CONFIG_DNS_IP1,
        "a.join_user": contract.CONFIG_JOIN_USER,
        "a.join_password_parameter": contract.CONFIG_PASSWORD_PARAMETER, "a.ou": contract.CONFIG_OU_PATH,
        "a.sudo_group": contract.CONFIG_SUDO_GROUP,
    }  # fmt: skip
    account = "222222222222"
    if subject == "id":
        account = value
    else:
        item[attribute[subject]] = value
    try:
        AccountConfig.from_item(account, item)
        handler_accepts = ACCOUNT_ID.match(account) is not None
    except ConfigInvalidError:
        handler_accepts = False
    assert handler_accepts == (field is None)
    assert bool(_regex_of(plain_directory_config, subject).match(value)) == handler_accepts
