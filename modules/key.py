"""A customer managed KMS key with rotation, its policy and its alias."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from constructs import Construct

from . import iam
from .cdk import MAIN_RESOURCE_ID, keep_address
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
            policy=iam.to_json(self.policy_document),
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
