"""`ec2-domain-join identity check` against moto's sso-admin and identitystore, and its pure decisions.

Stubs (what moto lacks), each in this module only:

* moto's identitystore DescribeGroup never returns ExternalIds (SCIM provisioning is not modelled): a group
  that SCIM would have provisioned gets one through a botocore ``after-call`` hook on DescribeGroup
  (``World.scim``); the others keep moto's empty list.
* "no instance at all": moto creates one IAM Identity Center instance per account and Region and has no call
  that deletes it, so that one test empties moto's instance list in its backend (``World.no_instance``).

moto's ListAccountsForProvisionedPermissionSet answers only moto's own account (123456789012) once a set is
provisioned; an assignment in any other account therefore shows as not provisioned, which the
"not provisioned" test uses as it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto.ssoadmin.models import ssoadmin_backends

from ec2_domain_join import identity as command
from ec2_domain_join.identity import Expected, Group, Instance, Observed, decide_instance, decide_missing
from ec2_domain_join.output import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from handlers.domain_join.adapter.sessions import boto3_client_factory
from modules import naming

from .conftest import HUB_ACCOUNT, HUB_REGION, invoke

ACCOUNT = HUB_ACCOUNT  # moto's account: the management account of the check
OTHER_ACCOUNT = "222222222222"
AD_GROUP, Q_GROUP = "AD Administrators", "Amazon Q Developers"
AD_SET, Q_SET = naming.AD_ADMINISTRATORS_PERMISSION_SET, naming.Q_DEVELOPER_PERMISSION_SET  # the two offered


def landing_zone(tmp_path: Path, *, q_accounts: list[str] | None = None, **identity: Any) -> Path:
    data = {
        "security_account_id": "111111111111",
        "home_region": HUB_REGION,
        "spokes": [{"account_id": ACCOUNT, "regions": [HUB_REGION]}],
        "directories": {
            "corp": {
                "domain": "corp.example.com",
                "dns_ips": ["10.0.0.10"],
                "join_user": "svc-domainjoin",
                "join_password_parameter": "/domain-join/join-password",
            }
        },
        "directory_network": {
            "account_id": ACCOUNT,
            "directory": "corp",
            "vpc_id": "vpc-0123456789abcdef0",
            "vpc_cidr": "10.0.0.0/16",
            "resolver_subnet_ids": ["subnet-0123456789abcdef1", "subnet-0123456789abcdef2"],
            "clients": {"cidrs": ["10.64.0.0/10"]},
            "admin_role_arns": [f"arn:aws:iam::{ACCOUNT}:role/ad-admins"],
        },
        "identity": {
            "account_id": ACCOUNT,
            "region": HUB_REGION,
            "permission_sets": {
                AD_SET: {"assignments": {AD_GROUP: ["directory-network"]}},
                Q_SET: {"assignments": {Q_GROUP: q_accounts or [f"spoke-{ACCOUNT}"]}},
            },
            **identity,
        },
    }
    path = tmp_path / "lz.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@dataclass
class World:
    """IAM Identity Center and its identity store in moto, built the way the stacks and SCIM would."""

    instance_arn: str = ""
    store: str = ""
    scim_groups: set[str] = field(default_factory=set)
    group_ids: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        [instance] = self.sso.list_instances()["Instances"]
        self.instance_arn, self.store = instance["InstanceArn"], instance["IdentityStoreId"]

    @property
    def sso(self) -> Any:
        return boto3.client("sso-admin", region_name=HUB_REGION)

    @property
    def store_client(self) -> Any:
        return boto3.client("identitystore", region_name=HUB_REGION)

    def group(self, name: str, *, scim: bool = True) -> str:
        group_id = self.store_client.create_group(IdentityStoreId=self.store, DisplayName=name)["GroupId"]
        self.group_ids[name] = group_id
        if scim:
            self.scim_groups.add(group_id)
        return str(group_id)

    def permission_set(
        self, name: str, *, assign: str | None = None, account: str = ACCOUNT, provision: bool = True
    ) -> str:
        arn = self.sso.create_permission_set(Name=name, InstanceArn=self.instance_arn)["PermissionSet"][
            "PermissionSetArn"
        ]
        if assign is not None:
            self.sso.create_account_assignment(
                InstanceArn=self.instance_arn,
                TargetId=account,
                TargetType="AWS_ACCOUNT",
                PermissionSetArn=arn,
                PrincipalType="GROUP",
                PrincipalId=self.group_ids[assign],
            )
        if provision:
            self.sso.provision_permission_set(
                InstanceArn=self.instance_arn,
                PermissionSetArn=arn,
                TargetType="AWS_ACCOUNT",
                TargetId=account,
            )
        return str(arn)

    def complete(self) -> None:
        """Everything the landing zone's identity section asks for."""
        self.group(AD_GROUP)
        self.group(Q_GROUP)
        self.permission_set(AD_SET, assign=AD_GROUP)
        self.permission_set(Q_SET, assign=Q_GROUP)

    def scim(self, service: str, region: str, credentials: Any) -> Any:
        """A client factory: moto's clients, with ExternalIds on the groups SCIM provisioned (the stub)."""
        client = boto3_client_factory(service, region, credentials)
        if service == "identitystore":

            def add_external_id(parsed: dict[str, Any], **_: Any) -> None:
                if parsed.get("GroupId") in self.scim_groups:
                    parsed["ExternalIds"] = [{"Issuer": "entra", "Id": f"object-{parsed['GroupId']}"}]

            client.meta.events.register("after-call.identitystore.DescribeGroup", add_external_id)
        return client

    def no_instance(self) -> None:
        ssoadmin_backends[ACCOUNT][HUB_REGION].instances.clear()


@pytest.fixture
def world(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    w = World()
    monkeypatch.setattr(command, "DEFAULT_CLIENT_FACTORY", [w.scim])
    yield w


def check(path: Path, *extra: str) -> tuple[int, list[str]]:
    result = invoke("identity", "check", "--file", str(path), *extra)
    return result.exit_code, result.output.splitlines()


# --- through the command line, against moto --------------------------------------------------------------


def test_everything_in_place_is_one_ok_line_and_exit_0(world: World, tmp_path: Path) -> None:
    world.complete()
    code, lines = check(landing_zone(tmp_path))
    assert code == EXIT_OK, lines
    assert lines == [
        f"ok: 2 group(s) from the external IdP, 2 permission set(s) provisioned and assigned in 1 account(s) "
        f"({HUB_REGION})"
    ]


def test_a_group_scim_has_not_provisioned_is_missing(world: World, tmp_path: Path) -> None:
    world.group(AD_GROUP)
    world.permission_set(AD_SET, assign=AD_GROUP)
    world.permission_set(Q_SET)  # provisioned, but its group is not in the store
    code, lines = check(landing_zone(tmp_path))
    assert code == EXIT_FAILED
    assert lines == [f"missing: group {Q_GROUP!r}: not in identity store {world.store} (SCIM has not "
                     "provisioned it: assign it to the enterprise application and provision it)"]  # fmt: skip


def test_a_group_created_in_identity_center_itself_is_not_external(world: World, tmp_path: Path) -> None:
    world.complete()
    world.scim_groups.discard(world.group_ids[Q_GROUP])  # as if created in the Identity Center directory
    code, lines = check(landing_zone(tmp_path))
    assert code == EXIT_FAILED
    assert len(lines) == 1 and lines[0].startswith(f"missing: group {Q_GROUP!r}: has no external id")


def test_a_permission_set_not_deployed_is_missing(world: World, tmp_path: Path) -> None:
    world.group(AD_GROUP)
    world.group(Q_GROUP)
    world.permission_set(Q_SET, assign=Q_GROUP)
    code, lines = check(landing_zone(tmp_path))
    assert code == EXIT_FAILED
    assert lines == [f"missing: permission set {AD_SET!r}: not in instance {world.instance_arn} (deploy the "
                     "identity stack)"]  # fmt: skip


def test_a_permission_set_not_provisioned_to_an_account_is_missing(world: World, tmp_path: Path) -> None:
    world.complete()
    q_arn = world.sso.list_permission_sets(InstanceArn=world.instance_arn)["PermissionSets"][1]
    world.sso.create_account_assignment(
        InstanceArn=world.instance_arn, TargetId=OTHER_ACCOUNT, TargetType="AWS_ACCOUNT",
        PermissionSetArn=q_arn, PrincipalType="GROUP", PrincipalId=world.group_ids[Q_GROUP],
    )  # fmt: skip
    code, lines = check(landing_zone(tmp_path, q_accounts=[ACCOUNT, OTHER_ACCOUNT]))
    assert code == EXIT_FAILED
    assert lines == [f"missing: permission set {Q_SET!r}: not provisioned to account {OTHER_ACCOUNT}"]


def test_a_group_without_its_assignment_is_missing(world: World, tmp_path: Path) -> None:
    world.group(AD_GROUP)
    world.group(Q_GROUP)
    world.permission_set(AD_SET, assign=AD_GROUP)
    world.permission_set(Q_SET)  # provisioned, never assigned to the group
    code, lines = check(landing_zone(tmp_path))
    assert code == EXIT_FAILED
    assert lines == [
        f"missing: group {Q_GROUP!r}: not assigned permission set {Q_SET!r} in account {ACCOUNT}"
    ]


def test_every_missing_thing_is_its_own_line(world: World, tmp_path: Path) -> None:
    world.group(AD_GROUP, scim=False)
    code, lines = check(landing_zone(tmp_path))
    assert code == EXIT_FAILED
    assert [line.split(":")[1].strip() for line in lines] == [
        f"group {AD_GROUP!r}",
        f"group {Q_GROUP!r}",
        f"permission set {AD_SET!r}",
        f"permission set {Q_SET!r}",
    ]


def test_no_instance_at_all_is_the_only_line(world: World, tmp_path: Path) -> None:
    world.no_instance()
    code, lines = check(landing_zone(tmp_path))
    assert code == EXIT_FAILED
    assert lines == [
        f"missing: IAM Identity Center instance: none in {HUB_REGION} (enable IAM Identity Center, or give "
        "--region)"
    ]


def test_the_files_instance_must_exist(world: World, tmp_path: Path) -> None:
    world.complete()
    absent = "arn:aws:sso:::instance/ssoins-0000000000000000"
    code, lines = check(landing_zone(tmp_path, instance_arn=absent, identity_store_id="d-0123456789"))
    assert code == EXIT_FAILED
    assert lines == [
        f"missing: instance {absent}: not found in {HUB_REGION} (instances: {world.instance_arn})"
    ]


def test_region_option_checks_another_regions_instance(world: World, tmp_path: Path) -> None:
    world.complete()  # in HUB_REGION only
    [other] = boto3.client("sso-admin", region_name="eu-west-1").list_instances()["Instances"]
    code, lines = check(landing_zone(tmp_path), "--region", "eu-west-1")
    assert code == EXIT_FAILED
    wanted = f"missing: permission set {Q_SET!r}: not in instance {other['InstanceArn']} (deploy the "
    assert f"{wanted}identity stack)" in lines
    assert not [line for line in lines if world.instance_arn in line]


def test_credentials_of_another_account_are_the_only_line(world: World, tmp_path: Path) -> None:
    world.complete()
    code, lines = check(landing_zone(tmp_path, account_id=OTHER_ACCOUNT))
    assert code == EXIT_FAILED
    assert lines == [
        f"missing: credentials: of account {ACCOUNT}, identity.account_id is {OTHER_ACCOUNT} (use "
        "credentials of the management account or of the delegated administrator)"
    ]


def test_a_file_without_identity_is_a_usage_error(world: World, tmp_path: Path) -> None:
    path = tmp_path / "plain.yaml"
    spokes = [{"account_id": ACCOUNT, "regions": [HUB_REGION]}]
    path.write_text(
        yaml.safe_dump({"security_account_id": "111111111111", "home_region": HUB_REGION, "spokes": spokes})
    )
    result = invoke("identity", "check", "--file", str(path))
    assert result.exit_code == EXIT_USAGE and "has no identity section" in result.output


# --- the pure decisions ------------------------------------------------------------------------------------

EXPECTED = Expected(
    region="eu-west-1",
    account_id=ACCOUNT,
    instance_arn=None,
    identity_store_id=None,
    groups=(Q_GROUP,),
    permission_sets=(Q_SET,),
    assignments=((Q_GROUP, Q_SET, ACCOUNT), (Q_GROUP, Q_SET, OTHER_ACCOUNT)),
)
INSTANCE = Instance("arn:aws:sso:::instance/ssoins-1111111111111111", "d-1111111111")


def test_decide_instance_needs_exactly_one_unless_named() -> None:
    other = Instance("arn:aws:sso:::instance/ssoins-2222222222222222", "d-2222222222")
    assert decide_instance(EXPECTED, (INSTANCE,)) == (INSTANCE, [])
    chosen, lines = decide_instance(EXPECTED, (INSTANCE, other))
    assert chosen is None and "2 in eu-west-1" in lines[0] and "name one in instance_arn" in lines[0]
    named = Expected(**{**EXPECTED.__dict__, "instance_arn": other.arn, "identity_store_id": "d-9999999999"})
    chosen, lines = decide_instance(named, (INSTANCE, other))
    assert chosen == other and lines == [
        f"instance {other.arn}: its identity store is d-2222222222, the file says d-9999999999"
    ]


def test_decide_missing_is_empty_when_everything_is_in_place_and_names_each_gap() -> None:
    complete = Observed(
        instance=INSTANCE,
        groups={Q_GROUP: Group("g-1", 1)},
        permission_sets={Q_SET: "arn:q"},
        provisioned={Q_SET: frozenset({ACCOUNT, OTHER_ACCOUNT})},
        assigned={(Q_SET, ACCOUNT): frozenset({"g-1"}), (Q_SET, OTHER_ACCOUNT): frozenset({"g-1"})},
    )
    assert decide_missing(EXPECTED, complete) == []
    partial = Observed(
        instance=INSTANCE,
        groups={Q_GROUP: Group("g-1", 1)},
        permission_sets={Q_SET: "arn:q"},
        provisioned={Q_SET: frozenset({ACCOUNT})},
        assigned={(Q_SET, ACCOUNT): frozenset({"g-other"})},
    )
    assert decide_missing(EXPECTED, partial) == [
        f"permission set {Q_SET!r}: not provisioned to account {OTHER_ACCOUNT}",
        f"group {Q_GROUP!r}: not assigned permission set {Q_SET!r} in account {ACCOUNT}",
        f"group {Q_GROUP!r}: not assigned permission set {Q_SET!r} in account {OTHER_ACCOUNT}",
    ]
