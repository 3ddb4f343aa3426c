"""The AD tools host as a module: exactly the permissions its scripts need; a hardened optional instance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import parliament
import pytest
import yaml
from modules_testlib import SynthesizedApp, run_checkov
from pin_addresses import EXAMPLE_LANDING_ZONE

from handlers.domain_join import settings
from modules import ports
from modules.artifact import LocalArtifact
from modules.tools_host import ToolsHostInstanceProps, ToolsHostProps
from modules.validation import PropsError

ACCOUNT = "111111111111"
KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
DC_CIDRS = ("10.0.0.0/24", "10.0.1.0/24")


def props(**changes: Any) -> ToolsHostProps:
    base: dict[str, Any] = {
        "account_id": ACCOUNT,
        "region": "eu-west-1",
        "password_parameter_names": ("/domain-join/join-password", "/domain-join/lab-password"),
        "password_kms_key_arn": KEY,
        "instance": ToolsHostInstanceProps(vpc_id="vpc-0abc", subnet_id="subnet-0abc", dc_cidrs=DC_CIDRS),
    }
    return ToolsHostProps(**(base | changes))


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, Any]]]:
    """Two stacks synthesized once: eu-west-1 with the instance, us-gov-west-1 with the identity only."""
    from cdktf_cdktf_provider_aws.provider import AwsProvider

    from modules.cdk import App, TerraformStack
    from modules.tools_host import ToolsHost

    out = tmp_path_factory.mktemp("tools-host")
    app = App(outdir=str(out))
    for name, region, given in (
        ("commercial", "eu-west-1", props()),
        (
            "govcloud",
            "us-gov-west-1",
            props(region="us-gov-west-1", password_kms_key_arn=None, instance=None),
        ),
    ):
        stack = TerraformStack(app, name)
        AwsProvider(stack, "aws", region=region)
        ToolsHost(stack, "tools-host", given)
    app.synth()
    return out, {
        name: json.loads((out / "stacks" / name / "cdk.tf.json").read_text())
        for name in ("commercial", "govcloud")
    }


def policy(stack: dict[str, Any]) -> dict[str, Any]:
    [body] = stack["resource"]["aws_iam_role_policy"].values()
    return dict(json.loads(body["policy"]))


def test_the_role_reads_exactly_the_join_password_parameters(
    stacks: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    statements = {s["Sid"]: s for s in policy(stacks[1]["commercial"])["Statement"]}
    assert statements["ReadJoinPasswords"]["Action"] == "ssm:GetParameter"
    assert statements["ReadJoinPasswords"]["Resource"] == [
        f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/domain-join/join-password",
        f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/domain-join/lab-password",
    ]
    decrypt = statements["DecryptJoinPasswordsThroughSsmOnly"]
    assert decrypt["Resource"] == KEY
    assert decrypt["Condition"]["StringEquals"] == {"kms:ViaService": "ssm.eu-west-1.amazonaws.com"}
    assert (
        decrypt["Condition"]["ForAnyValue:StringEquals"]["kms:EncryptionContext:PARAMETER_ARN"]
        == (statements["ReadJoinPasswords"]["Resource"])
    )
    # THEN nothing else: only the agent's channels are on "*", which those services require
    assert set(statements) == {
        "AgentRegistersItself",
        "AgentChannels",
        "ReadJoinPasswords",
        "DecryptJoinPasswordsThroughSsmOnly",
    }
    wildcard = [sid for sid, s in statements.items() if s["Resource"] == "*"]
    assert wildcard == ["AgentChannels"]
    assert all(
        a.split(":")[0] in ("ec2messages", "ssmmessages") for a in statements["AgentChannels"]["Action"]
    )


def test_the_policy_passes_parliament(stacks: tuple[Path, dict[str, dict[str, Any]]]) -> None:
    for name in ("commercial", "govcloud"):
        findings = parliament.analyze_policy_string(json.dumps(policy(stacks[1][name]))).findings
        assert findings == [], (name, [(f.issue, f.detail) for f in findings])


def test_without_a_customer_key_there_is_no_kms_statement_and_arns_follow_the_partition(
    stacks: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    gov = stacks[1]["govcloud"]
    sids = {s["Sid"] for s in policy(gov)["Statement"]}
    assert "DecryptJoinPasswordsThroughSsmOnly" not in sids
    text = json.dumps(gov["resource"])
    assert "arn:aws-us-gov:ssm:us-gov-west-1" in text and "arn:aws:" not in text
    assert "aws_instance" not in gov["resource"]


def test_the_instance_is_private_imdsv2_encrypted_and_tagged_as_the_tools_host(
    stacks: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    resources = stacks[1]["commercial"]["resource"]
    [instance] = resources["aws_instance"].values()
    assert instance["associate_public_ip_address"] is False
    assert instance["metadata_options"]["http_tokens"] == "required"
    assert instance["root_block_device"]["encrypted"] is True
    assert instance["tags"]["ADToolsHost"] == "true"
    assert instance["volume_tags"]["Name"] == instance["tags"]["Name"]  # the root volume is tagged too
    assert "adcli" in instance["user_data"] and "openldap-clients" in instance["user_data"]
    [profile] = resources["aws_iam_instance_profile"].values()
    assert instance["iam_instance_profile"].startswith("${aws_iam_instance_profile.")
    assert profile["name"] == "domain-join-tools-host"


def test_egress_is_the_client_port_table_to_each_dc_network_plus_https(
    stacks: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    rules = stacks[1]["commercial"]["resource"]["aws_vpc_security_group_egress_rule"].values()
    seen = sorted((r["ip_protocol"], r["from_port"], r["to_port"], r["cidr_ipv4"]) for r in rules)
    expected = [
        (a.rule.protocol, a.rule.from_port, a.rule.to_port, a.cidr) for a in ports.egress_rules(DC_CIDRS)
    ]
    expected.append(("tcp", 443, 443, "0.0.0.0/0"))
    assert seen == sorted(expected)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"password_parameter_names": ()}, "password_parameter_names"),
        ({"password_parameter_names": ("bad name",)}, "password_parameter_names[0]"),
        ({"password_kms_key_arn": "alias/aws/ssm"}, "password_kms_key_arn"),
        ({"region": "mars-1"}, "region"),
        ({"tag_key": ""}, "tools_host_tag_key"),
    ],
)
def test_invalid_props_name_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(PropsError) as caught:
        props(**changes)
    assert caught.value.field == field


def test_invalid_instance_props_name_the_field() -> None:
    with pytest.raises(PropsError) as caught:
        ToolsHostInstanceProps(vpc_id="vpc-1", subnet_id="subnet-1", dc_cidrs=(), platform="linux")
    assert caught.value.field == "instance.dc_cidrs"
    with pytest.raises(PropsError) as caught:
        ToolsHostInstanceProps(vpc_id="vpc-1", subnet_id="subnet-1", dc_cidrs=DC_CIDRS, platform="bsd")
    assert caught.value.field == "instance.platform"
    with pytest.raises(PropsError) as caught:  # a given AMI (the plain module's offline plans) is an AMI id
        ToolsHostInstanceProps(vpc_id="vpc-1", subnet_id="subnet-1", dc_cidrs=DC_CIDRS, ami_id="image-1")
    assert caught.value.field == "instance.ami_id"
    given = ToolsHostInstanceProps(
        vpc_id="vpc-1", subnet_id="subnet-1", dc_cidrs=DC_CIDRS, ami_id="ami-0123456789abcdef0"
    )
    assert given.ami_id == "ami-0123456789abcdef0"


def test_checkov_finds_nothing_on_the_tools_host(stacks: tuple[Path, dict[str, dict[str, Any]]]) -> None:
    terraform_json = run_checkov(stacks[0])
    failed = [(c["check_id"], c["resource"]) for c in terraform_json["results"]["failed_checks"]]
    assert failed == []


# --- the hub pins the handler to the tools host's profile (issue 9) ------------------------------------
def test_the_hub_pins_the_handler_to_the_tools_host_profile_and_alarms_on_ambiguity(
    example: SynthesizedApp,
) -> None:
    # GIVEN the example landing zone (it has a tools_host section), synthesized
    from handlers.domain_join import contract

    env = example.resource("hub", "aws_lambda_function")["environment"]["variables"]
    (profile_name,) = example.resources("hub", "aws_iam_instance_profile")

    # THEN the handler's environment carries a reference to the ToolsHost's instance profile ARN
    assert (
        env[contract.ENV_TOOLS_HOST_INSTANCE_PROFILE_ARN]
        == f"${{aws_iam_instance_profile.{profile_name}.arn}}"
    )
    assert contract.ENV_TOOLS_HOST_INSTANCE_ID not in env
    # AND an alarm watches the handler's ToolsHostAmbiguous metric in its namespace and service
    alarm = example.resource("hub", "aws_cloudwatch_metric_alarm", "tools-host-ambiguous")
    assert (alarm["metric_name"], alarm["namespace"]) == (
        contract.METRIC_TOOLS_HOST_AMBIGUOUS,
        env["POWERTOOLS_METRICS_NAMESPACE"],
    )
    assert alarm["dimensions"] == {"service": env["POWERTOOLS_SERVICE_NAME"]}


def test_both_pins_reach_the_handler_environment_in_a_form_it_accepts(tmp_path: Path) -> None:
    # GIVEN a hub given both pins (a plain ARN and an instance id)
    from cdktf_cdktf_provider_aws.provider import AwsProvider

    from handlers.domain_join import contract
    from modules.artifact import S3Artifact
    from modules.cdk import App, TerraformStack
    from modules.hub import Hub, HubProps

    profile = f"arn:aws:iam::{ACCOUNT}:instance-profile/domain-join-tools-host"
    app = App(outdir=str(tmp_path))
    stack = TerraformStack(app, "pinned")
    AwsProvider(stack, "aws", region="eu-west-1")
    Hub(
        stack,
        "hub",
        HubProps(
            account_id=ACCOUNT,
            region="eu-west-1",
            artifact=S3Artifact("bucket", "key"),
            organization_id="o-abcdefghij",
            tools_host_instance_profile_arn=profile,
            tools_host_instance_id="i-0123456789abcdef0",
        ),
    )

    # WHEN synthesized
    app.synth()
    hub = json.loads((tmp_path / "stacks" / "pinned" / "cdk.tf.json").read_text())
    (function,) = hub["resource"]["aws_lambda_function"].values()
    env = function["environment"]["variables"]

    # THEN the handler's settings parser reads both back
    assert (
        settings.parse(
            settings.TOOLS_HOST_INSTANCE_PROFILE_ARN, env[contract.ENV_TOOLS_HOST_INSTANCE_PROFILE_ARN]
        )
        == profile
    )
    assert (
        settings.parse(settings.TOOLS_HOST_INSTANCE_ID, env[contract.ENV_TOOLS_HOST_INSTANCE_ID])
        == "i-0123456789abcdef0"
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tools_host_instance_profile_arn", f"arn:aws:iam::{ACCOUNT}:role/domain-join-tools-host"),
        ("tools_host_instance_id", "host-1"),
    ],
)
def test_a_malformed_pin_is_refused_by_the_hub_props(field: str, value: str) -> None:
    from modules.artifact import S3Artifact
    from modules.hub import HubProps

    with pytest.raises(PropsError) as caught:
        HubProps(
            account_id=ACCOUNT,
            region="eu-west-1",
            artifact=S3Artifact("bucket", "key"),
            organization_id="o-abcdefghij",
            **{field: value},
        )
    assert caught.value.field == field


def test_an_explicit_tools_host_instance_id_reaches_the_handler(
    write_landing_zone: Any, tmp_path: Path
) -> None:
    # GIVEN the landing zone names the tools host's instance id
    from handlers.domain_join import contract
    from modules.landing_zone import load_landing_zone
    from modules.stacks import hub_props

    data = yaml.safe_load(EXAMPLE_LANDING_ZONE.read_text())
    data["tools_host"] = {"instance_id": "i-0123456789abcdef0"}
    lz = load_landing_zone(write_landing_zone(data, "instance-id.yaml"))

    # WHEN the hub's props are built from it
    props_ = hub_props(lz, LocalArtifact(tmp_path / "artifact.zip", "hash"))

    # THEN they carry the id (the handler's environment is built from the props by the settings table)
    assert props_.tools_host_instance_id == "i-0123456789abcdef0"
    assert settings.TOOLS_HOST_INSTANCE_ID.env == contract.ENV_TOOLS_HOST_INSTANCE_ID


def test_a_malformed_tools_host_instance_id_is_refused_with_its_field(write_landing_zone: Any) -> None:
    from modules.landing_zone import LandingZoneError, load_landing_zone

    data = yaml.safe_load(EXAMPLE_LANDING_ZONE.read_text())
    data["tools_host"] = {"instance_id": "host-1"}
    with pytest.raises(LandingZoneError) as caught:
        load_landing_zone(write_landing_zone(data, "bad-instance-id.yaml"))
    assert any("tools_host.instance_id" in problem for problem in caught.value.problems)
