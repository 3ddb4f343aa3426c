"""DirectoryNetwork and MemberNetwork, synthesized once for this module: rules from the port table, DNS
forwarding and its share, the admin and protection policies, partitions, props validation, checkov."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import parliament
import pytest
from modules_testlib import SynthesizedApp, load_stacks, statements_by_sid, unescape_terraform
from moto import mock_aws
from test_policies import _resource_type, run_checkov

from modules import ports
from modules.checkov_skips import CHECKOV_SKIPS, NETWORK_CHECKOV_SKIPS
from modules.ports import ADMIN_TO_DC, CLIENT_TO_DC, DC_TO_DC, Role
from modules.validation import PropsError

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

ACCOUNT, MEMBER_ACCOUNT, GOV_ACCOUNT = "111111111111", "222222222222", "444444444444"
REGION, GOV_REGION = "eu-west-1", "us-gov-west-1"
VPC, VPC_CIDR = "vpc-0123456789abcdef0", "10.0.0.0/16"
DNS_IPS = ["10.0.1.10", "10.0.2.10"]
RESOLVER_SUBNETS = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
CLIENT_CIDR, CLIENT_PREFIX_LIST, CLIENT_GROUP = "10.0.0.0/16", "pl-0123456789abcdef0", "sg-0123456789abcdef0"
ADMIN_CIDR, ADMIN_GROUP = "192.168.10.0/24", "sg-0aaaaaaaaaaaaaaa0"
PEER_CIDR = "172.16.0.0/24"
ORG_ARN = f"arn:aws:organizations::{ACCOUNT}:organization/o-abcdefghij"
OU_ARN = f"arn:aws:organizations::{ACCOUNT}:ou/o-abcdefghij/ou-ab12-cdefghij"
ADMIN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ad-admins"
DC_INSTANCE = "i-0123456789abcdef0"
MEMBER_VPCS = [
    ("vpc-0bbbbbbbbbbbbbbb0", REGION, None),
    ("vpc-0cccccccccccccccc", "us-east-1", "rslvr-rr-0123456789abcdef0"),
]
DC_CIDRS = ["10.0.1.0/24", "10.0.2.0/24"]
DC_GROUP_REF = "${aws_security_group.dc_security_group.id}"

# Until modules/checkov_skips.py lists it (the lead integrates): the DC and member groups are attached to
# instances launched elsewhere (the DCs, the members), never to a resource of these stacks.


def directory_props(**changes: Any) -> Any:
    from modules.directory_network import DirectoryNetworkProps

    base = DirectoryNetworkProps(
        account_id=ACCOUNT,
        region=REGION,
        vpc_id=VPC,
        vpc_cidr=VPC_CIDR,
        domain_name="corp.example.com",
        dns_server_ips=DNS_IPS,
        resolver_subnet_ids=RESOLVER_SUBNETS,
        client_cidrs=[CLIENT_CIDR],
        client_prefix_list_ids=[CLIENT_PREFIX_LIST],
        client_security_group_ids=[CLIENT_GROUP],
        admin_cidrs=[ADMIN_CIDR],
        admin_security_group_ids=[ADMIN_GROUP],
        replication_peer_cidrs=[PEER_CIDR],
        share_principals=[ORG_ARN, OU_ARN, MEMBER_ACCOUNT],
        endpoint_services=["ssm", "ssmmessages", "ec2messages"],
        endpoint_subnet_ids=RESOLVER_SUBNETS,
        admin_role_arns=[ADMIN_ROLE],
        dc_instance_ids=[DC_INSTANCE],
        security_group_rule_quota=120,
    )
    return replace(base, **changes)


def gov_props() -> Any:
    """One summarised network for clients, admins and DCs (so the network ACL fits the default quota)."""
    return directory_props(
        account_id=GOV_ACCOUNT,
        region=GOV_REGION,
        client_prefix_list_ids=[],
        client_security_group_ids=[],
        admin_cidrs=[VPC_CIDR],
        admin_security_group_ids=[],
        replication_peer_cidrs=[],
        create_network_acl=True,
        dc_subnet_ids=["subnet-0dddddddddddddddd"],
        dc_subnet_cidrs=[VPC_CIDR],
        share_principals=[MEMBER_ACCOUNT],
        endpoint_services=["ssm", "kms", "logs"],
        admin_role_arns=[f"arn:aws-us-gov:iam::{GOV_ACCOUNT}:role/ad-admins"],
        dc_instance_ids=[],
    )


def member_props(**changes: Any) -> Any:
    from modules.member_network import MemberNetworkProps, MemberVpc

    vpcs = [
        MemberVpc(
            region=region,
            vpc_id=vpc_id,
            resolver_rule_id=rule_id,
            vpc_cidr="10.9.0.0/16" if rule_id else None,
            endpoint_services=["ssm", "ssmmessages", "ec2messages"] if rule_id else [],
            endpoint_subnet_ids=["subnet-0eeeeeeeeeeeeeeee"] if rule_id else [],
        )
        for vpc_id, region, rule_id in MEMBER_VPCS
    ]
    base = MemberNetworkProps(account_id=MEMBER_ACCOUNT, vpcs=vpcs, dc_cidrs=DC_CIDRS)
    return replace(base, **changes)


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    """Three stacks: the directory (every source kind), a GovCloud directory with the network ACL, a member"""
    from cdktf_cdktf_provider_aws.provider import AwsProvider

    from modules.cdk import App, TerraformOutput, TerraformStack
    from modules.directory_network import DirectoryNetwork
    from modules.member_network import MemberNetwork

    outdir = tmp_path_factory.mktemp("network") / "out"
    app = App(outdir=str(outdir))
    for stack_id, region, props in (
        ("directory", REGION, directory_props()),
        ("gov", GOV_REGION, gov_props()),
    ):
        stack = TerraformStack(app, stack_id)
        AwsProvider(stack, "aws", region=region)
        directory = DirectoryNetwork(stack, "directory", props)
        for output, value in directory.outputs.items():
            if value is not None:
                TerraformOutput(stack, output, value=value)
    stack = TerraformStack(app, "member")
    AwsProvider(stack, "aws", region=REGION)
    member = MemberNetwork(stack, "member", member_props())
    for output, value in member.outputs.items():
        TerraformOutput(stack, output, value=value)
    app.synth()
    return SynthesizedApp(outdir, load_stacks(outdir))


def _source(rule: dict[str, Any]) -> str:
    for key in ("cidr_ipv4", "prefix_list_id", "referenced_security_group_id"):
        if key in rule:
            return str(rule[key])
    raise AssertionError(f"rule without a peer: {rule}")


def _rows(rules: list[dict[str, Any]]) -> Counter[tuple[str, int, int, str]]:
    return Counter((r["ip_protocol"], r["from_port"], r["to_port"], _source(r)) for r in rules)


def _group_rules(synth: SynthesizedApp, stack: str, kind: str, group_ref: str) -> list[dict[str, Any]]:
    resource_type = f"aws_vpc_security_group_{kind}_rule"
    return [r for r in synth.resources(stack, resource_type).values() if r["security_group_id"] == group_ref]


def _expected(rows: tuple[ports.PortRule, ...], sources: list[str]) -> Counter[tuple[str, int, int, str]]:
    return Counter((r.protocol, r.from_port, r.to_port, s) for r in rows for s in sources)


# --- the DC security group -----------------------------------------------------------------------------


def test_dc_group_admits_exactly_the_table_from_each_source(network: SynthesizedApp) -> None:
    # GIVEN the directory with client, admin and DC sources of every kind
    ingress = _group_rules(network, "directory", "ingress", DC_GROUP_REF)
    # THEN each row of each table appears exactly once per source of its role, and no other rule exists
    expected = (
        _expected(CLIENT_TO_DC, [CLIENT_CIDR, CLIENT_PREFIX_LIST, CLIENT_GROUP])
        + _expected(ADMIN_TO_DC, [ADMIN_CIDR, ADMIN_GROUP])
        + _expected(DC_TO_DC, [DC_GROUP_REF, PEER_CIDR])
    )
    assert _rows(ingress) == expected
    assert set(_rows(ingress).values()) == {1}
    assert all(r["description"] for r in ingress)


def test_admin_ports_are_open_only_to_the_admin_sources(network: SynthesizedApp) -> None:
    ingress = _group_rules(network, "directory", "ingress", DC_GROUP_REF)
    admin_only = {(r.protocol, r.from_port) for r in ADMIN_TO_DC} - {
        (r.protocol, r.from_port) for r in (*CLIENT_TO_DC, *DC_TO_DC)
    }
    assert admin_only  # 443, 3389, 5985 are nobody else's
    for rule in ingress:
        if (rule["ip_protocol"], rule["from_port"]) in admin_only:
            assert _source(rule) in {ADMIN_CIDR, ADMIN_GROUP}, rule


def test_dc_to_dc_rules_reference_the_group_itself_both_ways(network: SynthesizedApp) -> None:
    ingress = _group_rules(network, "directory", "ingress", DC_GROUP_REF)
    egress = _group_rules(network, "directory", "egress", DC_GROUP_REF)
    self_in = [r for r in ingress if r.get("referenced_security_group_id") == DC_GROUP_REF]
    self_out = [r for r in egress if r.get("referenced_security_group_id") == DC_GROUP_REF]
    assert _rows(self_in) == _rows(self_out) == _expected(DC_TO_DC, [DC_GROUP_REF])
    # egress: the DC table to itself and to the replication peers, HTTPS to the VPC's endpoints, nothing else
    assert _rows(egress) == _expected(DC_TO_DC, [DC_GROUP_REF, PEER_CIDR]) + Counter(
        [("tcp", ports.HTTPS_PORT, ports.HTTPS_PORT, VPC_CIDR)]
    )


def test_every_security_group_description_is_one_ec2_accepts(network: SynthesizedApp) -> None:
    from modules.directory_network import SECURITY_GROUP_DESCRIPTION

    kinds = (
        "aws_security_group",
        "aws_vpc_security_group_ingress_rule",
        "aws_vpc_security_group_egress_rule",
    )
    descriptions = [
        body["description"]
        for stack in network.stacks
        for kind in kinds
        for body in network.resources(stack, kind).values()
    ]
    assert len(descriptions) > 100
    assert [d for d in descriptions if not SECURITY_GROUP_DESCRIPTION.fullmatch(d)] == []


def test_security_group_rule_addresses_name_the_row_and_the_source(network: SynthesizedApp) -> None:
    names = set(network.resources("directory", "aws_vpc_security_group_ingress_rule"))
    assert "dc_in_client_tcp_88_10_0_0_0_16" in names
    assert "dc_in_dc_udp_49152_65535_self" in names
    assert "dc_in_admin_tcp_3389_sg_0aaaaaaaaaaaaaaa0" in names


# --- the network ACL (GovCloud stack) ------------------------------------------------------------------


def test_network_acl_covers_every_row_once_and_fits_the_quota(network: SynthesizedApp) -> None:
    [acl] = network.resources("gov", "aws_network_acl").values()
    assert acl["subnet_ids"] == ["subnet-0dddddddddddddddd"]
    entries = list(network.resources("gov", "aws_network_acl_rule").values())
    for egress in (False, True):
        side = [e for e in entries if e["egress"] is egress]
        assert 0 < len(side) <= 20
        assert len({e["rule_number"] for e in side}) == len(side)
        assert {e["rule_action"] for e in side} == {"allow"} and {e["cidr_block"] for e in side} == {VPC_CIDR}
    inbound = [e for e in entries if e["egress"] is False]
    for role in Role:
        for row in ports.rules_between(role, Role.DOMAIN_CONTROLLER):
            covering = [
                e
                for e in inbound
                if e["protocol"] == row.protocol
                and e["from_port"] <= row.from_port
                and row.to_port <= e["to_port"]
            ]
            assert len(covering) == 1, row


# --- DNS -----------------------------------------------------------------------------------------------


def test_resolver_rule_forwards_the_domain_to_the_dns_servers_on_53(network: SynthesizedApp) -> None:
    from modules.directory_network import resolver_endpoint_name, resolver_rule_name

    [endpoint] = network.resources("directory", "aws_route53_resolver_endpoint").values()
    assert endpoint["direction"] == "OUTBOUND" and endpoint["name"] == resolver_endpoint_name()
    assert sorted(a["subnet_id"] for a in endpoint["ip_address"]) == RESOLVER_SUBNETS
    assert endpoint["security_group_ids"] == ["${aws_security_group.resolver_security_group.id}"]
    [rule] = network.resources("directory", "aws_route53_resolver_rule").values()
    assert rule["rule_type"] == "FORWARD" and rule["domain_name"] == "corp.example.com"
    assert rule["name"] == resolver_rule_name()
    assert rule["resolver_endpoint_id"] == "${aws_route53_resolver_endpoint.resolver_endpoint.id}"
    assert sorted((t["ip"], t["port"]) for t in rule["target_ip"]) == [(ip, 53) for ip in DNS_IPS]
    # the endpoint's group: DNS out to the DNS servers only, nothing in
    group_ref = "${aws_security_group.resolver_security_group.id}"
    assert _group_rules(network, "directory", "ingress", group_ref) == []
    expected = Counter((p, 53, 53, f"{ip}/32") for ip in DNS_IPS for p in ("tcp", "udp"))
    assert _rows(_group_rules(network, "directory", "egress", group_ref)) == expected
    # and the directory's own VPC resolves the domain too
    [association] = network.resources("directory", "aws_route53_resolver_rule_association").values()
    assert association["vpc_id"] == VPC and association["resolver_rule_id"].endswith("resolver_rule.id}")


def test_ram_share_carries_the_rule_to_each_principal(network: SynthesizedApp) -> None:
    [share] = network.resources("directory", "aws_ram_resource_share").values()
    assert share["allow_external_principals"] is False
    share_ref = "${aws_ram_resource_share.resolver_rule_share.arn}"
    [resource] = network.resources("directory", "aws_ram_resource_association").values()
    assert resource == resource | {
        "resource_arn": "${aws_route53_resolver_rule.resolver_rule.arn}",
        "resource_share_arn": share_ref,
    }
    principals = network.resources("directory", "aws_ram_principal_association").values()
    assert sorted(p["principal"] for p in principals) == sorted([ORG_ARN, OU_ARN, MEMBER_ACCOUNT])
    assert {p["resource_share_arn"] for p in principals} == {share_ref}


# --- interface endpoints -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stack", "region", "services"),
    [
        ("directory", REGION, ["ec2messages", "ssm", "ssmmessages"]),
        ("gov", GOV_REGION, ["kms", "logs", "ssm"]),
    ],
)
def test_interface_endpoints_admit_https_from_the_vpc_only(
    network: SynthesizedApp, stack: str, region: str, services: list[str]
) -> None:
    endpoints = network.resources(stack, "aws_vpc_endpoint").values()
    assert sorted(e["service_name"] for e in endpoints) == [f"com.amazonaws.{region}.{s}" for s in services]
    group_ref = "${aws_security_group.endpoint_security_group.id}"
    for endpoint in endpoints:
        assert endpoint["vpc_endpoint_type"] == "Interface" and endpoint["private_dns_enabled"] is True
        assert endpoint["security_group_ids"] == [group_ref]
    assert _rows(_group_rules(network, stack, "ingress", group_ref)) == Counter([("tcp", 443, 443, VPC_CIDR)])
    assert _group_rules(network, stack, "egress", group_ref) == []


@pytest.mark.parametrize(
    "region", ["eu-west-1", "cn-north-1", "cn-northwest-1", "us-gov-west-1", "us-iso-east-1"]
)
def test_endpoint_service_names_keep_the_common_prefix_in_every_partition(region: str) -> None:
    from modules.directory_network import ENDPOINT_SERVICES, endpoint_service_name

    names = [endpoint_service_name(region, service) for service in ENDPOINT_SERVICES]
    assert names == [f"com.amazonaws.{region}.{service}" for service in ENDPOINT_SERVICES]
    with pytest.raises(ValueError):
        endpoint_service_name(region, "ec2")  # its China name differs: not offered


# --- member side ---------------------------------------------------------------------------------------


def test_member_vpcs_each_associate_the_shared_rule(network: SynthesizedApp) -> None:
    from modules.directory_network import resolver_rule_name

    associations = network.resources("member", "aws_route53_resolver_rule_association")
    lookups = network.stack("member").get("data", {}).get("aws_route53_resolver_rule", {})
    assert len(associations) == len(MEMBER_VPCS)
    for vpc_id, region, rule_id in MEMBER_VPCS:
        [association] = [a for a in associations.values() if a["vpc_id"] == vpc_id]
        assert association["region"] == region
        if rule_id:
            assert association["resolver_rule_id"] == rule_id
        else:  # found by the name the directory gives its rule, in the VPC's Region
            [(address, lookup)] = [(k, v) for k, v in lookups.items() if v["region"] == region]
            assert lookup["name"] == resolver_rule_name() and lookup["rule_type"] == "FORWARD"
            assert (
                association["resolver_rule_id"]
                == f"${{data.aws_route53_resolver_rule.{address}.resolver_rule_id}}"
            )
    assert len(lookups) == sum(1 for _, _, rule_id in MEMBER_VPCS if rule_id is None)


def test_member_group_egress_is_the_client_table_to_the_dcs(network: SynthesizedApp) -> None:
    groups = network.resources("member", "aws_security_group")
    for vpc_id, region, _ in MEMBER_VPCS:
        [(address, group)] = [(k, g) for k, g in groups.items() if g["vpc_id"] == vpc_id and "member" in k]
        assert group["region"] == region
        ref = f"${{aws_security_group.{address}.id}}"
        assert _rows(_group_rules(network, "member", "egress", ref)) == _expected(CLIENT_TO_DC, DC_CIDRS)
        assert _group_rules(network, "member", "ingress", ref) == []
    # endpoints only where asked, in that VPC's Region
    [endpoint_vpc] = [vpc for vpc, _, rule_id in MEMBER_VPCS if rule_id]
    endpoints = network.resources("member", "aws_vpc_endpoint").values()
    assert {e["vpc_id"] for e in endpoints} == {endpoint_vpc}
    assert sorted(e["service_name"] for e in endpoints) == [
        f"com.amazonaws.us-east-1.{s}" for s in ("ec2messages", "ssm", "ssmmessages")
    ]


# --- partitions ----------------------------------------------------------------------------------------


def test_every_arn_is_in_the_stacks_partition(network: SynthesizedApp) -> None:
    gov = json.dumps(network.stack("gov"))
    assert "arn:aws:" not in gov and "arn:aws-us-gov:" in gov
    commercial = json.dumps(network.stack("directory"))
    assert "arn:aws-" not in commercial and "arn:aws:" in commercial


# --- administration and protection ---------------------------------------------------------------------


def _policy(network: SynthesizedApp, stack: str, address: str) -> dict[str, Any]:
    text = network.resources(stack, "aws_iam_policy")[address]["policy"]
    return dict(json.loads(unescape_terraform(text)))


def test_rdp_document_pins_the_remote_port(network: SynthesizedApp) -> None:
    from modules.directory_network import port_forwarding_document_name

    [document] = network.resources("directory", "aws_ssm_document").values()
    assert document["document_type"] == "Session" and document["name"] == port_forwarding_document_name()
    content = json.loads(document["content"])
    assert content["sessionType"] == "Port"
    assert content["properties"]["portNumber"] == "3389"
    assert set(content["parameters"]) == {"localPortNumber"}  # the remote port is not a parameter


def test_admin_policy_allows_port_forwarding_to_dcs_only(network: SynthesizedApp) -> None:
    from modules.directory_network import port_forwarding_document_name

    statements = statements_by_sid(_policy(network, "directory", "ad_admin_policy"))
    documents = statements["StartSessionsWithPortForwardingDocumentsOnly"]
    assert documents["Action"] == "ssm:StartSession"
    assert sorted(documents["Resource"]) == sorted(
        [
            f"arn:aws:ssm:{REGION}:{ACCOUNT}:document/{port_forwarding_document_name()}",
            f"arn:aws:ssm:{REGION}::document/AWS-StartPortForwardingSession",
        ]
    )
    check = {"ssm:SessionDocumentAccessCheck": "true"}
    assert documents["Condition"]["BoolIfExists"] == check
    instances = statements["StartSessionsOnDomainControllersOnly"]
    assert instances["Resource"] == f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/*"
    assert instances["Condition"] == {
        "StringEquals": {"ssm:resourceTag/ADDomainController": "true"},
        "BoolIfExists": check,
    }
    own = statements["EndOrResumeOwnSessionsOnly"]
    assert sorted(own["Action"]) == ["ssm:ResumeSession", "ssm:TerminateSession"]
    assert own["Resource"] == f"arn:aws:ssm:{REGION}:{ACCOUNT}:session/${{aws:userid}}-*"
    # StartSession appears nowhere else; nothing is allowed on "*" except listing
    for sid, statement in statements.items():
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if statement["Resource"] == "*":
            assert all(":Describe" in a for a in actions), sid
        assert all(not a.endswith("*") for a in actions), sid


# parliament reads identity policies; this finding is expected by construction.
JUSTIFIED_FINDINGS = {
    ("UNKNOWN_CONDITION_FOR_ACTION", "ssm:SessionDocumentAccessCheck"): "parliament's action data lacks this "
    "condition key of ssm:StartSession, which Session Manager documents for exactly this use",
}


@pytest.mark.parametrize("address", ["ad_admin_policy", "dc_protection_policy"])
def test_policies_pass_parliament_except_justified_findings(network: SynthesizedApp, address: str) -> None:
    for stack in ("directory", "gov"):
        findings = parliament.analyze_policy_string(json.dumps(_policy(network, stack, address))).findings
        unjustified = [
            (f.issue, f.detail)
            for f in findings
            if not any(f.issue == issue and key in str(f.detail) for issue, key in JUSTIFIED_FINDINGS)
        ]
        assert unjustified == [], (stack, address)


def test_protection_policy_denies_changes_to_dcs_except_admins(network: SynthesizedApp) -> None:
    from modules.directory_network import PROTECTED_ACTIONS

    policy = _policy(network, "directory", "dc_protection_policy")
    statements = statements_by_sid(policy)
    protect = statements["ProtectDomainControllers"]
    assert protect["Effect"] == "Deny"
    assert {"ec2:StopInstances", "ec2:TerminateInstances", "ec2:ModifyInstanceAttribute"} <= set(
        protect["Action"]
    )
    assert set(protect["Action"]) == set(PROTECTED_ACTIONS)
    assert protect["Condition"]["StringEquals"] == {"aws:ResourceTag/ADDomainController": "true"}
    assert protect["Condition"]["ArnNotLike"] == {"aws:PrincipalArn": [ADMIN_ROLE]}
    tag = statements["ProtectTheDomainControllerTag"]
    assert tag["Effect"] == "Deny" and tag["Condition"]["ForAnyValue:StringEquals"] == {
        "aws:TagKeys": ["ADDomainController"]
    }
    # the same document is an output, for an SCP
    output = network.stack("directory")["output"]["protection_policy_json"]["value"]
    assert json.loads(output) == policy


def test_notification_reaches_the_topic_only_for_dcs(network: SynthesizedApp) -> None:
    [rule] = network.resources("directory", "aws_cloudwatch_event_rule").values()
    [target] = network.resources("directory", "aws_cloudwatch_event_target").values()
    assert target["arn"] == f"arn:aws:sns:{REGION}:{ACCOUNT}:domain-join-dc-access"
    pattern = rule["event_pattern"]

    def call(name: str, parameters: dict[str, Any]) -> dict[str, Any]:
        detail = {"eventSource": "ssm.amazonaws.com", "eventName": name, "requestParameters": parameters}
        return {
            "Source": "aws.ssm",
            "DetailType": "AWS API Call via CloudTrail",
            "Detail": json.dumps(detail),
        }

    with mock_aws():
        events = boto3.client("events", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.create_queue(QueueName="seen")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="r", EventPattern=pattern)
        events.put_targets(Rule="r", Targets=[{"Id": "q", "Arn": arn}])
        # WHEN a session and a command target the DC, and others target another instance
        events.put_events(
            Entries=[
                call(
                    "StartSession", {"target": DC_INSTANCE, "documentName": "AWS-StartPortForwardingSession"}
                ),
                call(
                    "SendCommand", {"instanceIds": [DC_INSTANCE], "documentName": "AWS-RunPowerShellScript"}
                ),
                call("StartSession", {"target": "i-0fffffffffffffff0"}),
                call("SendCommand", {"instanceIds": ["i-0fffffffffffffff0"]}),
                call("GetConnectionStatus", {"target": DC_INSTANCE}),
            ]
        )
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    # THEN only the two calls on the DC are delivered
    seen = sorted(json.loads(m["Body"])["detail"]["eventName"] for m in messages)
    assert seen == ["SendCommand", "StartSession"]


def test_created_topic_is_encrypted_and_admits_only_the_rule(network: SynthesizedApp) -> None:
    [topic] = network.resources("gov", "aws_sns_topic").values()
    assert topic["kms_master_key_id"] == "${aws_kms_key.notification_key.arn}"
    [policy] = network.resources("gov", "aws_sns_topic_policy").values()
    statements = statements_by_sid(json.loads(policy["policy"]))
    rule_arn = f"arn:aws-us-gov:events:{GOV_REGION}:{GOV_ACCOUNT}:rule/domain-join-dc-session-or-command"
    assert statements["NotificationRulePublishes"]["Condition"] == {"ArnEquals": {"aws:SourceArn": rule_arn}}
    # no DC ids: every session and command of the directory's account and Region is reported
    [rule] = network.resources("gov", "aws_cloudwatch_event_rule").values()
    assert "$or" not in json.loads(rule["event_pattern"])["detail"]


# --- props ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "changes"),
    [
        ("account_id", {"account_id": "1234"}),
        ("region", {"region": "mars-east-1"}),
        ("vpc_id", {"vpc_id": "vpc-xyz"}),
        ("vpc_cidr", {"vpc_cidr": "10.0.0.1/16"}),
        ("domain_name", {"domain_name": "corp"}),
        ("dns_server_ips", {"dns_server_ips": []}),
        ("dns_server_ips[1]", {"dns_server_ips": ["10.0.0.1", "dc1"]}),
        ("resolver_subnet_ids", {"resolver_subnet_ids": ["subnet-0123456789abcdef0"]}),
        ("client_cidrs", {"client_cidrs": [], "client_prefix_list_ids": [], "client_security_group_ids": []}),
        ("client_cidrs[0]", {"client_cidrs": ["0.0.0.0/0"]}),
        ("admin_cidrs[0]", {"admin_cidrs": ["fd00::/8"]}),
        ("client_prefix_list_ids[0]", {"client_prefix_list_ids": ["sg-0123456789abcdef0"]}),
        ("share_principals[0]", {"share_principals": ["o-abcdefghij"]}),
        ("share_principals[0]", {"share_principals": [ORG_ARN.replace("arn:aws:", "arn:aws-cn:")]}),
        ("endpoint_services[0]", {"endpoint_services": ["s3"]}),
        ("endpoint_subnet_ids", {"endpoint_subnet_ids": []}),
        ("admin_role_arns", {"admin_role_arns": []}),
        ("admin_role_arns[0]", {"admin_role_arns": ["arn:aws-us-gov:iam::111111111111:role/x"]}),
        ("dc_tag_key", {"dc_tag_key": "aws:dc"}),
        ("notification_topic_arn", {"notification_topic_arn": "topic"}),
        ("security_group_rule_quota", {"security_group_rule_quota": 60}),
        ("dc_subnet_ids", {"create_network_acl": True}),
        ("client_prefix_list_ids", {"create_network_acl": True, "dc_subnet_ids": ["subnet-0123456789abcdef0"],
                                     "dc_subnet_cidrs": ["10.0.1.0/24"]}),
        ("local_port", {"local_port": 80}),
        ("name", {"name": "a" * 50}),  # valid itself, but its rule name exceeds EventBridge's 64
    ],
)  # fmt: skip
def test_directory_props_errors_name_the_field(field: str, changes: dict[str, Any]) -> None:
    with pytest.raises(PropsError) as error:
        directory_props(**changes)
    assert error.value.field == field


def test_network_acl_beyond_the_quota_is_refused_with_advice() -> None:
    with pytest.raises(PropsError) as error:
        directory_props(
            client_prefix_list_ids=[], client_security_group_ids=[], admin_security_group_ids=[],
            create_network_acl=True, dc_subnet_ids=["subnet-0123456789abcdef0"],
            dc_subnet_cidrs=["10.0.1.0/24"],
        )  # fmt: skip
    assert error.value.field == "network_acl_rule_quota" and "summarise" in str(error.value)


@pytest.mark.parametrize(
    ("field", "changes"),
    [
        ("account_id", {"account_id": "x"}),
        ("vpcs", {"vpcs": []}),
        ("dc_cidrs", {"dc_cidrs": []}),
        ("dc_cidrs[0]", {"dc_cidrs": ["10.0.1.1/24"]}),
        ("roles", {"roles": [Role.DOMAIN_CONTROLLER]}),
        ("name", {"name": "-bad"}),
        ("name", {"name": "n" * 42}),  # valid itself, but the association names would exceed 64
        (
            "security_group_rule_quota",
            {"dc_cidrs": ["10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24", "10.0.4.0/24"]},
        ),
    ],
)
def test_member_props_errors_name_the_field(field: str, changes: dict[str, Any]) -> None:
    with pytest.raises(PropsError) as error:
        member_props(**changes)
    assert error.value.field == field


def test_member_vpc_errors_name_the_vpc_and_field() -> None:
    from modules.member_network import MemberVpc

    good = MemberVpc(region=REGION, vpc_id="vpc-0bbbbbbbbbbbbbbb0")
    cases = {
        "vpcs[1].region": replace(good, vpc_id="vpc-0bbbbbbbbbbbbbbb1", region="nowhere-1"),
        "vpcs[1].resolver_rule_id": replace(good, vpc_id="vpc-0bbbbbbbbbbbbbbb1", resolver_rule_id="rule"),
        "vpcs[1].endpoint_subnet_ids": replace(
            good, vpc_id="vpc-0bbbbbbbbbbbbbbb1", endpoint_services=["ssm"]
        ),
        "vpcs": good,  # listed twice
    }
    for field, second in cases.items():
        with pytest.raises(PropsError) as error:
            member_props(vpcs=[good, second])
        assert error.value.field == field


# --- checkov -------------------------------------------------------------------------------------------


def test_checkov_has_no_failure_beyond_the_justified_skips(network: SynthesizedApp) -> None:
    report = run_checkov(Path(network.outdir))
    assert report["summary"]["parsing_errors"] == 0 and report["summary"]["passed"] > 100
    failed = {(check["check_id"], _resource_type(check)) for check in report["results"]["failed_checks"]}
    justified = {
        (check_id, skip.resource_type)
        for check_id, skip in {**CHECKOV_SKIPS, **NETWORK_CHECKOV_SKIPS}.items()
    }
    assert failed - justified == set()
    network_justified = {(check_id, skip.resource_type) for check_id, skip in NETWORK_CHECKOV_SKIPS.items()}
    assert network_justified - failed == set(), "a listed network skip is no longer needed: remove it"


# --- the same constructs fed with Terraform values (the plain modules) -------------------------------------


def test_port_table_local_carries_every_row_of_the_table_once() -> None:
    # GIVEN the plain modules' `ad_ports` local, THEN each role pair's list is that pair's rows of the port
    # table (protocol and ports), with keys unique in the list: a row lost or retyped fails here
    from modules.directory_network import PORT_TABLE_LOCAL, port_table_locals

    table = port_table_locals()[PORT_TABLE_LOCAL]
    for pair, source in (("client_to_dc", Role.CLIENT), ("dc_to_dc", Role.DOMAIN_CONTROLLER),
                         ("admin_to_dc", Role.ADMIN)):  # fmt: skip
        rows = table[pair]
        assert [(r["protocol"], r["from_port"], r["to_port"]) for r in rows] == [
            (r.protocol, r.from_port, r.to_port) for r in ports.rules_between(source, Role.DOMAIN_CONTROLLER)
        ]
        assert len({r["key"] for r in rows}) == len(rows)


def test_terraform_inputs_need_every_list_as_a_terraform_value() -> None:
    # GIVEN props whose vpc_id (directory) or VPC list (member) is a Terraform value but one list is a Python
    # list, THEN the props refuse it by name (the plain path renders lists as Terraform expressions only)
    from modules.cdk import App, TerraformStack, TerraformVariable
    from modules.directory_network import TERRAFORM_LISTS
    from modules.member_network import MemberNetworkProps

    stack = TerraformStack(App(skip_validation=True), "inputs")

    def variable(name: str, kind: str = "list(string)") -> Any:
        value = TerraformVariable(stack, name, type=kind)
        return value.list_value if kind.startswith("list") else value.string_value

    lists = {name: variable(name) for name in TERRAFORM_LISTS}
    with pytest.raises(PropsError, match=r"^client_cidrs: "):
        directory_props(vpc_id=variable("vpc_id", "string"), **{**lists, "client_cidrs": [CLIENT_CIDR]})
    assert directory_props(vpc_id=variable("vpc", "string"), **lists).terraform_inputs
    with pytest.raises(PropsError, match=r"^dc_cidrs: "):
        MemberNetworkProps(account_id=MEMBER_ACCOUNT, vpcs=variable("vpc_ids"), dc_cidrs=DC_CIDRS)
    assert not member_props().terraform_inputs


def _preconditions(main_tf: Path, resource_type: str, name: str) -> list[dict[str, str]]:
    import hcl2

    def plain(value: Any) -> Any:
        return value.strip('"') if isinstance(value, str) else value

    for block in hcl2.loads(main_tf.read_text())["resource"]:
        body = block.get(f'"{resource_type}"', {}).get(f'"{name}"')
        if body is not None:
            return [{k: plain(v) for k, v in c.items()} for c in body["lifecycle"][0]["precondition"]]
    raise AssertionError(f"{resource_type}.{name} is not in {main_tf}")


def test_plain_module_refuses_what_the_props_refuse_with_their_messages() -> None:
    # GIVEN the committed plain directory-network module (a test regenerates it, so it is the generator's) and
    # props that break each network ACL need, or exceed a quota
    from modules.directory_network import NETWORK_ACL_NEEDS

    main_tf = Path(__file__).resolve().parents[2] / "terraform" / "modules" / "directory-network" / "main.tf"
    acl = _preconditions(main_tf, "aws_network_acl", "dc_subnets")
    [group] = _preconditions(main_tf, "aws_security_group", "domain_controllers")
    acl_on = {"create_network_acl": True, "client_prefix_list_ids": [], "client_security_group_ids": [],
              "admin_security_group_ids": [], "dc_subnet_ids": [RESOLVER_SUBNETS[0]],
              "dc_subnet_cidrs": ["10.0.1.0/24"], "network_acl_rule_quota": 40}  # fmt: skip
    breaking = {  # field -> changes that break only its need
        "dc_subnet_ids": {"dc_subnet_ids": []},
        "dc_subnet_cidrs": {"dc_subnet_cidrs": []},
        "client_cidrs": {"client_cidrs": [], "client_prefix_list_ids": [CLIENT_PREFIX_LIST]},
        "client_prefix_list_ids": {"client_prefix_list_ids": [CLIENT_PREFIX_LIST]},
        "client_security_group_ids": {"client_security_group_ids": [CLIENT_GROUP]},
        "admin_security_group_ids": {"admin_security_group_ids": [ADMIN_GROUP]},
    }
    assert set(breaking) == {field for field, _, _ in NETWORK_ACL_NEEDS}
    for field, changes in breaking.items():
        with pytest.raises(PropsError) as error:
            directory_props(**{**acl_on, **changes})
        assert error.value.field == field
        # THEN the module's precondition on that field carries the props' message
        [check] = [c for c in acl if f"var.{field})" in c["condition"]]
        assert check["error_message"] == f"{error.value}.", field
    # AND the quota checks read the quotas and say what the props say, with Terraform's count in place
    with pytest.raises(PropsError) as error:
        directory_props(**{**acl_on, "network_acl_rule_quota": 20})
    count = str(error.value).split(" needs ")[1].split(" ")[0]
    quota = [c for c in acl if "var.network_acl_rule_quota" in c["condition"]]
    assert len(quota) == 2  # inbound and outbound
    assert f"{error.value}." in {re.sub(r"\$\{[^}]*\}", count, c["error_message"]) for c in quota}
    with pytest.raises(PropsError) as error:
        directory_props(security_group_rule_quota=10)
    count = str(error.value).split(" needs ")[1].split(" ")[0]
    assert "var.security_group_rule_quota" in group["condition"]
    assert re.sub(r"\$\{.*?\)\}", count, group["error_message"]) == f"{error.value}."
