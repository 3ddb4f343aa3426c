"""A customer managed KMS key with rotation, its policy and its alias."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from constructs import Construct

from handlers.domain_join import contract

from . import iam
from .cdk import MAIN_RESOURCE_ID, is_token, keep_address
from .grants import either_statement, organization_given
from .iam import Statement
from .validation import PropsError, check_range


@dataclass(frozen=True, kw_only=True)
class EncryptionKeyProps:
    """Inputs of an `EncryptionKey`."""

    account_root_arn: str
    """The key's account (`arn:<partition>:iam::<account>:root`): it administers the key (`kms:*`), so IAM
    policies of that account can grant its use and the key can never become unmanageable.  Required."""
    alias: str
    """The alias, `alias/...`.  Required."""
    description: str
    """What the key encrypts.  Required."""
    users: Sequence[Statement] = ()
    """Further statements of the key policy: who else may use the key (e.g. `service_user`).
    Default: none."""
    deletion_window_days: int = 30
    """Waiting period before a scheduled deletion, 7-30 days.  Default: 30, the longest."""
    depends_on: Sequence[Any] = ()
    """Resources that must exist first: those the policy names (KMS refuses a policy naming an unknown
    principal).  Default: none."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags of the key.  Default: none (the provider's default tags still apply)."""

    def __post_init__(self) -> None:
        if not isinstance(self.alias, str) or not self.alias.startswith("alias/"):
            raise PropsError("alias", f"{self.alias!r} must start with alias/")
        check_range("deletion_window_days", self.deletion_window_days, 7, 30)


class EncryptionKey(Construct):
    """KMS key (rotated yearly) administered by its account, used by `props.users`, plus its alias.

    The key keeps the address of a resource with this construct's id; the alias that of `<id>-alias`.
    """

    def __init__(self, scope: Construct, construct_id: str, props: EncryptionKeyProps) -> None:
        super().__init__(scope, construct_id)
        self.props = props
        self.policy_document = iam.policy_document(
            [
                iam.resource_statement(
                    "AccountAdministersKey", {"AWS": props.account_root_arn}, ["kms:*"], "*"
                ),
                *props.users,
            ]
        )
        self.key = KmsKey(
            self,
            MAIN_RESOURCE_ID,
            description=props.description,
            enable_key_rotation=True,
            deletion_window_in_days=props.deletion_window_days,
            policy=policy_json(self.policy_document),
            depends_on=list(props.depends_on) or None,
            tags=dict(props.tags) or None,
        )
        self.alias = KmsAlias(self, "alias", name=props.alias, target_key_id=self.key.key_id)
        keep_address(self.alias, f"{construct_id}-alias")
        self.arn: str = self.key.arn


def service_user(
    sid: str,
    services: str | Sequence[str],
    actions: Sequence[str],
    conditions: Mapping[str, Any],
) -> Statement:
    """A key policy statement letting AWS services use the key, under `conditions` (no confused deputy)."""
    principal = services if isinstance(services, str) else list(services)
    return iam.resource_statement(sid, {"Service": principal}, actions, "*", conditions=conditions)


# --- sealed one-time passwords (docs/handler.md "Sealed one-time passwords") -------------------------------
# The IAM policy variable of the instance a request comes from (present whenever the caller's role session
# was created by an EC2 instance: its instance-profile credentials).  `policy_json` keeps it from Terraform.
SOURCE_INSTANCE_ARN = "ec2:SourceInstanceARN"
SOURCE_INSTANCE_ARN_VARIABLE = "${" + SOURCE_INSTANCE_ARN + "}"


def policy_json(document: Mapping[str, Any]) -> str:
    """`iam.to_json`, with IAM policy variables (`${ec2:SourceInstanceARN}`) reaching AWS as written.

    Terraform reads `${` in any string as its own interpolation: plain JSON text gets each `${` escaped as
    `$${`; inside `jsonencode(...)` (a document holding Terraform references) cdktf escapes the literals
    itself.
    """
    text = iam.to_json(document)
    return text if is_token(text) else text.replace("${", "$${")


PURPOSE_CONTEXT_KEY = f"kms:EncryptionContext:{contract.SEAL_CONTEXT_PURPOSE}"
INSTANCE_CONTEXT_KEY = f"kms:EncryptionContext:{contract.SEAL_CONTEXT_INSTANCE}"


def own_join_password_conditions() -> dict[str, Any]:
    """Decrypt only a join password sealed for the calling instance itself: the context's instance ARN is the
    caller's `ec2:SourceInstanceARN` (which must be present: the caller runs on an EC2 instance)."""
    return {
        "StringEquals": {
            PURPOSE_CONTEXT_KEY: contract.SEAL_PURPOSE_JOIN,
            INSTANCE_CONTEXT_KEY: SOURCE_INSTANCE_ARN_VARIABLE,
        },
        "Null": {SOURCE_INSTANCE_ARN: "false"},
    }


def sealing_statements(
    *,
    account_root_arn: str,
    sealer_role_arn: str,
    tools_host_role_arn: str,
    organization_id: str | None,
    member_account_root_arns: Sequence[str] | Any = (),
) -> list[Statement]:
    """The key policy statements of sealed one-time passwords.

    - the handler (`sealer_role_arn`) encrypts, only under a sealing purpose;
    - the tools host (`tools_host_role_arn`, matched with `aws:PrincipalArn` so that the key policy stays
      valid before that role exists) decrypts prestage lists, only under the prestage purpose;
    - a principal of the organization (or of the listed accounts) decrypts a join password only when its
      context names the caller's own instance (`own_join_password_conditions`); its IAM policy must allow it
      too (the spoke's managed policy).
    """
    purposes = [contract.SEAL_PURPOSE_PRESTAGE, contract.SEAL_PURPOSE_JOIN]
    given = organization_given(organization_id, member_account_root_arns)
    if given is not None:  # a plain hub given both as variables: both statements, Terraform choosing
        opens = either_statement(
            given,
            _instances_open_own_join_password(organization_id, ()),
            _instances_open_own_join_password(None, member_account_root_arns),
        )
    else:
        opens = _instances_open_own_join_password(organization_id, member_account_root_arns)
    return [
        iam.resource_statement(
            "HandlerSealsOneTimePasswords",
            {"AWS": sealer_role_arn},
            ["kms:Encrypt"],
            "*",
            conditions={"StringEquals": {PURPOSE_CONTEXT_KEY: purposes}},
        ),
        iam.resource_statement(
            "ToolsHostOpensPrestageLists",
            {"AWS": account_root_arn},
            ["kms:Decrypt"],
            "*",
            conditions={
                "ArnEquals": {"aws:PrincipalArn": tools_host_role_arn},
                "StringEquals": {PURPOSE_CONTEXT_KEY: contract.SEAL_PURPOSE_PRESTAGE},
            },
        ),
        opens,
    ]


def _instances_open_own_join_password(
    organization_id: str | None, member_account_root_arns: Sequence[str] | Any
) -> Statement:
    """Members of the organization (or the listed accounts) decrypt their own instance's join password."""
    instances = own_join_password_conditions()
    principal: Any
    if organization_id:
        principal = "*"
        instances["StringEquals"]["aws:PrincipalOrgID"] = organization_id
    else:
        principal = {"AWS": member_account_root_arns}
    return iam.resource_statement(
        "InstancesOpenOwnJoinPassword", principal, ["kms:Decrypt"], "*", conditions=instances
    )
