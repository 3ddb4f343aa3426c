"""`ec2-domain-join identity check`: what the landing zone's `identity` section needs, read from the APIs.

It verifies, in the IAM Identity Center instance of `identity.account_id` / `identity.region` (with the
operator's credentials, which must be of that account):

0. the credentials are of `identity.account_id` (sts GetCallerIdentity);
1. the instance exists (sso-admin ListInstances; the one of `identity.instance_arn`, or the only one);
2. every group the assignments name is in the identity store (identitystore GetGroupId by DisplayName) and
   came from the external identity provider (DescribeGroup: it carries an ExternalId);
3. every permission set exists (ListPermissionSets, DescribePermissionSet), is provisioned to each account
   it is assigned in (ListAccountsForProvisionedPermissionSet), and each group holds its assignment there
   (ListAccountAssignments).

The identity source itself: no API returns it.  sso-admin DescribeInstance gives the instance's name,
status, owner, Regions and identity store, and nothing else in boto3 (nor in moto) names the source (the
console's Settings page reads an internal API).  What this checks instead is its effect: a group that SCIM
provisioned from the external IdP carries an ExternalId (the IdP's object id); a group created in the
Identity Center directory, or left over from before the switch, has none.

Each missing thing is one line; the command exits 1 when there is any.  Pure decisions (`decide_*`) over
frozen dataclasses; `IdentityReader` is the thin reader (clients from the handler's `Sessions`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from handlers.domain_join.adapter.errors import failed_code, translated
from handlers.domain_join.adapter.sessions import ClientFactory, Sessions, boto3_client_factory
from handlers.domain_join.errors import AwsRequestError
from modules.landing_zone import IdentitySettings

# Tests may replace this (the CLI's other commands do the same); moto patches boto3 itself.
DEFAULT_CLIENT_FACTORY: list[ClientFactory] = [boto3_client_factory]
NOT_FOUND: Final = "ResourceNotFoundException"


@dataclass(frozen=True)
class Expected:
    """What the landing zone's `identity` section asks for."""

    region: str
    account_id: str
    instance_arn: str | None
    identity_store_id: str | None
    groups: tuple[str, ...]
    permission_sets: tuple[str, ...]
    assignments: tuple[tuple[str, str, str], ...]  # (group, permission set, account)

    @classmethod
    def from_settings(cls, identity: IdentitySettings, region: str | None = None) -> Expected:
        return cls(
            region=region or identity.region,
            account_id=identity.account_id,
            instance_arn=identity.instance_arn,
            identity_store_id=identity.identity_store_id,
            groups=identity.groups,
            permission_sets=tuple(s.name for s in identity.permission_sets),
            assignments=tuple(
                (group, spec.name, account)
                for spec in identity.permission_sets
                for group, accounts in spec.assignments
                for account in accounts
            ),
        )

    def accounts_of(self, permission_set: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a for _, s, a in self.assignments if s == permission_set))


@dataclass(frozen=True)
class Instance:
    arn: str
    identity_store_id: str


@dataclass(frozen=True)
class Group:
    """A group of the identity store, as found by its display name."""

    group_id: str
    external_ids: int  # how many ExternalIds it carries (0: not from the external IdP)


@dataclass(frozen=True)
class Observed:
    """What the APIs answered, for the instance `decide_instance` chose."""

    instance: Instance
    groups: Mapping[str, Group | None] = field(default_factory=dict)  # None: not in the store
    permission_sets: Mapping[str, str] = field(default_factory=dict)  # name -> ARN (existing ones)
    provisioned: Mapping[str, frozenset[str]] = field(default_factory=dict)  # name -> accounts
    assigned: Mapping[tuple[str, str], frozenset[str]] = field(default_factory=dict)  # (set, account) -> ids


def decide_account(expected: Expected, caller_account: str) -> list[str]:
    """The credentials must be of the identity account: elsewhere every answer would be about another one."""
    if caller_account == expected.account_id:
        return []
    return [
        f"credentials: of account {caller_account}, identity.account_id is {expected.account_id} (use "
        "credentials of the management account or of the delegated administrator)"
    ]


def decide_instance(expected: Expected, instances: tuple[Instance, ...]) -> tuple[Instance | None, list[str]]:
    """The instance to check, or the line that says why there is none (or why it is not the file's)."""
    where = f"in {expected.region}"
    if expected.instance_arn is not None:
        found = [i for i in instances if i.arn == expected.instance_arn]
        if not found:
            listed = ", ".join(i.arn for i in instances) or "none"
            return None, [f"instance {expected.instance_arn}: not found {where} (instances: {listed})"]
        chosen = found[0]
        if expected.identity_store_id not in (None, chosen.identity_store_id):
            return chosen, [
                f"instance {chosen.arn}: its identity store is {chosen.identity_store_id}, "
                f"the file says {expected.identity_store_id}"
            ]
        return chosen, []
    if not instances:
        return None, [
            f"IAM Identity Center instance: none {where} (enable IAM Identity Center, or give --region)"
        ]
    if len(instances) > 1:
        arns = ", ".join(i.arn for i in instances)
        return None, [
            f"IAM Identity Center instance: {len(instances)} {where} ({arns}): name one in instance_arn"
        ]
    return instances[0], []


def decide_missing(expected: Expected, observed: Observed) -> list[str]:
    """Every missing thing, one line each (empty: all is in place)."""
    lines: list[str] = []
    store = observed.instance.identity_store_id
    for name in expected.groups:
        group = observed.groups.get(name)
        if group is None:
            lines.append(
                f"group {name!r}: not in identity store {store} (SCIM has not provisioned it: assign it to "
                "the enterprise application and provision it)"
            )
        elif group.external_ids == 0:
            lines.append(
                f"group {name!r}: has no external id: it was not provisioned by the external identity "
                "provider (is the identity source external? procedure step 2)"
            )
    for permission_set in expected.permission_sets:
        if permission_set not in observed.permission_sets:
            lines.append(
                f"permission set {permission_set!r}: not in instance {observed.instance.arn} "
                "(deploy the identity stack)"
            )
            continue
        provisioned = observed.provisioned.get(permission_set, frozenset())
        lines += [
            f"permission set {permission_set!r}: not provisioned to account {account}"
            for account in expected.accounts_of(permission_set)
            if account not in provisioned
        ]
    for group_name, permission_set, account in expected.assignments:
        group = observed.groups.get(group_name)
        if group is None or permission_set not in observed.permission_sets:
            continue  # reported above
        if group.group_id not in observed.assigned.get((permission_set, account), frozenset()):
            lines.append(
                f"group {group_name!r}: not assigned permission set {permission_set!r} in account {account}"
            )
    return lines


class IdentityReader:
    """The sso-admin and identitystore reads of the check, in one Region, with the operator's credentials."""

    def __init__(self, region: str, client_factory: ClientFactory | None = None) -> None:
        self.sessions = Sessions(region, "", client_factory or DEFAULT_CLIENT_FACTORY[0])

    def _client(self, service: str) -> Any:
        return self.sessions.hub_client(service)

    def _pages(self, service: str, operation: str, action: str, key: str, **request: Any) -> Iterator[Any]:
        """Every item under `key` of every page (NextToken pagination)."""
        client = self._client(service)
        while True:
            with translated(action):
                response = getattr(client, operation)(**request)
            yield from response.get(key, [])
            if not response.get("NextToken"):
                return
            request["NextToken"] = response["NextToken"]

    def caller_account(self) -> str:
        with translated("sts:GetCallerIdentity"):
            return str(self._client("sts").get_caller_identity()["Account"])

    def instances(self) -> tuple[Instance, ...]:
        return tuple(
            Instance(str(i["InstanceArn"]), str(i["IdentityStoreId"]))
            for i in self._pages("sso-admin", "list_instances", "sso:ListInstances", "Instances")
        )

    def group(self, store: str, display_name: str) -> Group | None:
        client = self._client("identitystore")
        identifier = {"UniqueAttribute": {"AttributePath": "DisplayName", "AttributeValue": display_name}}
        try:
            with translated("identitystore:GetGroupId"):
                group_id = str(
                    client.get_group_id(IdentityStoreId=store, AlternateIdentifier=identifier)["GroupId"]
                )
        except AwsRequestError as error:
            if failed_code(error) == NOT_FOUND:
                return None
            raise
        with translated("identitystore:DescribeGroup"):
            described = client.describe_group(IdentityStoreId=store, GroupId=group_id)
        return Group(group_id, len(described.get("ExternalIds") or []))

    def permission_sets(self, instance: str) -> dict[str, str]:
        client = self._client("sso-admin")
        names: dict[str, str] = {}
        for arn in self._pages(
            "sso-admin",
            "list_permission_sets",
            "sso:ListPermissionSets",
            "PermissionSets",
            InstanceArn=instance,
        ):
            with translated("sso:DescribePermissionSet"):
                described = client.describe_permission_set(InstanceArn=instance, PermissionSetArn=arn)
            names[str(described["PermissionSet"]["Name"])] = str(arn)
        return names

    def provisioned_accounts(self, instance: str, permission_set_arn: str) -> frozenset[str]:
        return frozenset(
            str(account)
            for account in self._pages(
                "sso-admin",
                "list_accounts_for_provisioned_permission_set",
                "sso:ListAccountsForProvisionedPermissionSet",
                "AccountIds",
                InstanceArn=instance,
                PermissionSetArn=permission_set_arn,
            )
        )

    def assigned_groups(self, instance: str, account: str, permission_set_arn: str) -> frozenset[str]:
        return frozenset(
            str(a["PrincipalId"])
            for a in self._pages(
                "sso-admin",
                "list_account_assignments",
                "sso:ListAccountAssignments",
                "AccountAssignments",
                InstanceArn=instance,
                AccountId=account,
                PermissionSetArn=permission_set_arn,
            )
            if a.get("PrincipalType") == "GROUP"
        )


def check(expected: Expected, reader: IdentityReader) -> list[str]:
    """Read what `expected` needs and return the missing lines (the thin orchestrator)."""
    wrong_account = decide_account(expected, reader.caller_account())
    if wrong_account:
        return wrong_account
    instance, lines = decide_instance(expected, reader.instances())
    if instance is None:
        return lines
    arn, store = instance.arn, instance.identity_store_id
    sets = reader.permission_sets(arn)
    wanted = {name: sets[name] for name in expected.permission_sets if name in sets}
    observed = Observed(
        instance=instance,
        groups={name: reader.group(store, name) for name in expected.groups},
        permission_sets=wanted,
        provisioned={name: reader.provisioned_accounts(arn, ps_arn) for name, ps_arn in wanted.items()},
        assigned={
            (name, account): reader.assigned_groups(arn, account, wanted[name])
            for _, name, account in expected.assignments
            if name in wanted
        },
    )
    return lines + decide_missing(expected, observed)


def run(
    identity: IdentitySettings,
    region: str | None,
    echo: Callable[[str], None],
    reader_factory: Callable[[str], IdentityReader] = IdentityReader,
) -> bool:
    """The command: prints `missing: ...` lines (or one `ok:` line); True when nothing is missing."""
    expected = Expected.from_settings(identity, region)
    missing = check(expected, reader_factory(expected.region))
    for line in missing:
        echo(f"missing: {line}")
    if not missing:
        echo(
            f"ok: {len(expected.groups)} group(s) from the external IdP, {len(expected.permission_sets)} "
            f"permission set(s) provisioned and assigned in {len({a for *_, a in expected.assignments})} "
            f"account(s) ({expected.region})"
        )
    return not missing
