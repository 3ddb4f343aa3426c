"""Data the engine works on, and the port through which it reaches AWS."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Protocol

from . import arns, contract, patterns
from .contract import CONFIG_TABLE_KEY, DEFAULT_SPOKE_ROLE_NAME
from .errors import ConfigInvalidError
from .naming import DEFAULT_PREFIX, valid_prefix
from .sealing import SealRequest

# Ledger statuses, in the order an instance goes through them.  JOINING and REMOVING are claims: written
# with a condition before any command is sent, they shut out other containers until ``leaseExpiresAt``.
JOINING: Final = "JOINING"  # claimed for a join; redo everything from here once the lease is over
JOIN_SENT: Final = "JOIN_SENT"  # prestage + join commands accepted by SSM
REMOVING: Final = "REMOVING"  # claimed for a removal
REMOVE_SENT: Final = "REMOVE_SENT"  # remove command accepted by SSM
# Given up: the join (remove) command failed on every one of MAX_COMMAND_ATTEMPTS attempts.
JOIN_FAILED: Final = "JOIN_FAILED"
REMOVE_FAILED: Final = "REMOVE_FAILED"
# Key prefix of the ledger items that map a remove command to its instances (for its failure event).
COMMAND_KEY_PREFIX: Final = "command#"
CLAIMS: Final = frozenset({JOINING, REMOVING})

_ROLE_ARN_RE: Final = patterns.ROLE_ARN  # group 2: the account (patterns.ROLE_ARN_ACCOUNT_GROUP)
# The shared formats (patterns.py): the documents' allowedPatterns and the scripts' checks are the same, so a
# bad value is reported as such here instead of as an InvalidParameters error from SendCommand or a failed
# script run.
GROUP_RE: Final = patterns.GROUP
_USER_RE: Final = patterns.USER
_PARAMETER_NAME_RE: Final = patterns.SSM_PARAMETER_NAME
_OU_RE: Final = patterns.OU
_DOMAIN_RE: Final = patterns.DOMAIN
MAX_OU_TAG_VALUES: Final = 50  # entries of an OU-by-tag allow-list


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """One config-table item, validated (seed attribute names kept: ``contract.CONFIG_*``).

    Parameters (as read by ``from_item``): ``account_id`` (the item's key), ``domain`` (``dnsName``),
    ``join_user`` (``adJoinUserName``), ``password_parameter`` (``adJoinUserPwParam``, a SecureString
    name), ``role_arn`` (``assumeRoleARN`` or the default execution role of the hub's partition),
    ``dns_ips`` (``dnsIP1``/``dnsIP2``), ``ou_path``, ``computer_name_prefix``, ``sudo_group``,
    ``install_rds_role``, ``install_packages`` (``installPackages``, default true: false forbids the join
    script to install packages, for private subnets whose images carry the AD client), ``directory_id``
    (``directoryId``: an AWS Directory Service directory of the hub's account and Region; its computers are
    prestaged through the Directory Service API instead of the tools host, see ``prestage.py``).

    Example::

        config = AccountConfig.from_item("111111111111", item, "ec2-domain-join-execution", "aws-us-gov")
        config.role_arn  # 'arn:aws-us-gov:iam::111111111111:role/ec2-domain-join-execution'
    """

    account_id: str
    domain: str
    join_user: str
    password_parameter: str  # the SecureString's NAME; only the tools host reads its value
    role_arn: str
    dns_ips: tuple[str, ...] = ()
    ou_path: str = ""
    computer_name_prefix: str = DEFAULT_PREFIX
    sudo_group: str = ""
    install_rds_role: bool = False
    install_packages: bool = True
    # OU by tag (ouTagKey, ouByTagValue): the instance's tag value picks the OU from this allow-list
    # (value -> OU DN); an unknown or missing value gets ``ou_path``.  Never an OU from the tag itself.
    ou_tag_key: str = ""
    ou_by_tag_value: tuple[tuple[str, str], ...] = ()
    # computerNameTag: the instance tag whose value is the computer name when it is a valid NetBIOS name.
    computer_name_tag: str = ""
    seal_join_passwords: bool = False  # sealJoinPasswords: each OTP sealed for its instance (sealing.py)
    directory_id: str = ""  # AWS Managed Microsoft AD: prestaged with ds:CreateComputer (prestage.py)

    @classmethod
    def from_item(
        cls,
        account_id: str,
        item: Mapping[str, Any],
        spoke_role_name: str = DEFAULT_SPOKE_ROLE_NAME,
        partition: str = arns.DEFAULT_PARTITION,
    ) -> AccountConfig:
        """``spoke_role_name``: the execution role assumed when the item names no ``assumeRoleARN``;
        ``partition``: the hub's partition (``adapter.partition_of`` of its Region), which every spoke
        role must be in (a role is never assumed across partitions)."""

        def text(name: str, required: bool = False, pattern: re.Pattern[str] | None = None) -> str:
            value = item.get(name)
            if value is None or (isinstance(value, str) and not value.strip()):
                if required:
                    raise ConfigInvalidError(f"config of account {account_id} lacks {name}")
                return ""
            if not isinstance(value, str):
                raise ConfigInvalidError(f"config of account {account_id}: {name} is not a string")
            if pattern is not None and not pattern.match(value.strip()):
                raise ConfigInvalidError(f"config of account {account_id}: {name} has characters not allowed")
            return value.strip()

        if item.get(CONFIG_TABLE_KEY, account_id) != account_id:
            raise ConfigInvalidError(f"config item for {account_id} carries another {CONFIG_TABLE_KEY}")
        domain = text(contract.CONFIG_DNS_NAME, required=True)
        if not _DOMAIN_RE.match(domain):
            raise ConfigInvalidError(f"config of account {account_id}: dnsName {domain!r} is not a DNS name")
        dns_ips = tuple(ip for ip in (text(contract.CONFIG_DNS_IP1), text(contract.CONFIG_DNS_IP2)) if ip)
        for ip in dns_ips:
            try:
                ipaddress.IPv4Address(ip)
            except ValueError as exc:
                raise ConfigInvalidError(f"config of account {account_id}: {ip!r} is not IPv4") from exc
        role_arn = text(contract.CONFIG_ROLE_ARN) or arns.role_arn(partition, account_id, spoke_role_name)
        match = _ROLE_ARN_RE.match(role_arn)
        if not match:
            raise ConfigInvalidError(f"config of account {account_id}: assumeRoleARN is not a role ARN")
        if match.group(2) != account_id:
            # Acting on account A's instances with account B's role would be a confused deputy.
            raise ConfigInvalidError(
                f"config of account {account_id}: assumeRoleARN {role_arn} is in account {match.group(2)}"
            )
        if match.group(patterns.ROLE_ARN_PARTITION_GROUP) != partition:
            raise ConfigInvalidError(
                f"config of account {account_id}: assumeRoleARN {role_arn} is not in partition {partition}"
            )
        prefix = (text(contract.CONFIG_COMPUTER_NAME_PREFIX) or DEFAULT_PREFIX).upper()
        if not valid_prefix(prefix):
            raise ConfigInvalidError(
                f"config of account {account_id}: computerNamePrefix {prefix!r} must be 1-7 of "
                "[A-Z0-9-] starting with a letter"
            )
        install_rds = _flag(item.get(contract.CONFIG_INSTALL_RDS_ROLE), default=False)
        ou_tag_key = text(contract.CONFIG_OU_TAG_KEY, pattern=patterns.TAG_KEY)
        ou_by_tag_value = _ou_allow_list(account_id, item.get(contract.CONFIG_OU_BY_TAG_VALUE))
        if bool(ou_tag_key) != bool(ou_by_tag_value):
            raise ConfigInvalidError(
                f"config of account {account_id}: {contract.CONFIG_OU_TAG_KEY} and "
                f"{contract.CONFIG_OU_BY_TAG_VALUE} go together"
            )
        install_packages = _flag(item.get(contract.CONFIG_INSTALL_PACKAGES), default=True)
        return cls(
            account_id=account_id,
            domain=domain,
            join_user=text(contract.CONFIG_JOIN_USER, required=True, pattern=_USER_RE),
            password_parameter=text(
                contract.CONFIG_PASSWORD_PARAMETER, required=True, pattern=_PARAMETER_NAME_RE
            ),
            role_arn=role_arn,
            dns_ips=dns_ips,
            ou_path=text(contract.CONFIG_OU_PATH, pattern=_OU_RE),
            computer_name_prefix=prefix,
            sudo_group=text(contract.CONFIG_SUDO_GROUP, pattern=GROUP_RE),
            install_rds_role=install_rds,
            install_packages=install_packages,
            seal_join_passwords=_flag(item.get(contract.CONFIG_SEAL_JOIN_PASSWORDS), default=False),
            directory_id=text(contract.CONFIG_DIRECTORY_ID, pattern=patterns.DIRECTORY_ID),
            ou_tag_key=ou_tag_key,
            ou_by_tag_value=ou_by_tag_value,
            computer_name_tag=text(contract.CONFIG_COMPUTER_NAME_TAG, pattern=patterns.TAG_KEY),
        )


def _ou_allow_list(account_id: str, value: Any) -> tuple[tuple[str, str], ...]:
    """``ouByTagValue``: a map of at most MAX_OU_TAG_VALUES tag values to OU DNs (the handler's OU format)."""
    if value is None:
        return ()
    where = f"config of account {account_id}: {contract.CONFIG_OU_BY_TAG_VALUE}"
    if not isinstance(value, Mapping):
        raise ConfigInvalidError(f"{where} is not a map of tag values to OU DNs")
    if len(value) > MAX_OU_TAG_VALUES:
        raise ConfigInvalidError(f"{where} has {len(value)} values; at most {MAX_OU_TAG_VALUES}")
    pairs: list[tuple[str, str]] = []
    for tag_value, ou in value.items():
        if not isinstance(tag_value, str) or not patterns.TAG_VALUE.match(tag_value) or not tag_value:
            raise ConfigInvalidError(f"{where}: {str(tag_value)[:40]!r} is not a tag value")
        if not isinstance(ou, str) or not _OU_RE.match(ou.strip()):
            raise ConfigInvalidError(f"{where}: the OU of {tag_value!r} is not an OU distinguished name")
        pairs.append((tag_value, ou.strip()))
    return tuple(sorted(pairs))


def _flag(value: Any, *, default: bool) -> bool:
    """A config item's true/false attribute: a boolean, or the strings true/false in any case."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return text == "true" if default is False else text != "false"


@dataclass(frozen=True, slots=True)
class Spoke:
    """Where an instance lives, and the role that reaches it."""

    account: str
    region: str
    role_arn: str
    """Assumed in every account, the handler's own included: the hub role itself may run no DomainJoin-Join
    (least privilege), so the security account is enrolled with an execution role like any spoke."""


@dataclass(frozen=True, slots=True)
class InstanceFacts:
    instance_id: str
    state: str
    platform: str  # "windows" | "linux"
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One ledger item.  Never holds a password or one-time password."""

    instance_id: str
    account: str
    region: str
    computer_name: str
    domain: str
    status: str
    created_at: int
    updated_at: int
    join_user: str = ""
    password_parameter: str = ""  # name only, so a removal still works if the config item is gone
    platform: str = ""
    prestage_command_id: str = ""
    join_command_id: str = ""
    remove_command_id: str = ""
    expires_at: int = 0  # DynamoDB TTL; 0 = keep
    lease_expires_at: int = 0  # end of a JOINING/REMOVING claim; 0 = released (claimable at once)
    claimed_by: str = ""  # SQS message id of the record that holds the claim
    attempts: int = 0  # join (remove) commands sent for the current join (removal); 0 = before counting
    claim_receive_count: int = 0  # that message's receive count when it claimed

    def moved_to(self, status: str, now: int, **changes: Any) -> LedgerEntry:
        return replace(self, status=status, updated_at=now, **changes)

    def settled(self, status: str, now: int, **changes: Any) -> LedgerEntry:
        """``status`` with the claim given up (no lease, no claimant)."""
        return self.moved_to(status, now, lease_expires_at=0, claimed_by="", claim_receive_count=0, **changes)

    def leased(self, now: int) -> bool:
        """True while a claim on this record is in force."""
        return self.status in CLAIMS and self.lease_expires_at > now

    def claimed_by_earlier_receive(self, message_id: str, receive_count: int) -> bool:
        """The claim was made by an earlier receive of this very message, whose invocation has ended.

        Its retry may take the claim over at once (for instance after the final ledger write failed).  A
        duplicate receive running at the same time has no higher receive count, so it is still shut out.
        """
        return bool(message_id) and self.claimed_by == message_id and self.claim_receive_count < receive_count

    def held_against(self, message_id: str, receive_count: int, now: int) -> bool:
        """True while a claim that this receive of ``message_id`` must respect is in force."""
        return self.leased(now) and not self.claimed_by_earlier_receive(message_id, receive_count)


@dataclass(frozen=True, slots=True)
class DirectoryComputer:
    """One computer to prestage with ``ds:CreateComputer`` (AWS Managed Microsoft AD), never logged whole.

    ``password`` is the one-time password the join document then receives; ``ou_path`` "" lets Directory
    Service pick the directory's default computers OU; ``description`` is our ownership stamp.
    """

    directory_id: str
    computer_name: str
    password: str = field(repr=False)
    ou_path: str
    description: str


@dataclass(frozen=True, slots=True)
class CommandRecord:
    """Ledger item ``command#<id>``: the instances a tools-host command was sent for.

    A remove's failure event names only the tools host; this says which computers to remove again.
    """

    command_id: str
    document: str
    instance_ids: tuple[str, ...]
    created_at: int
    expires_at: int


class AwsPort(Protocol):
    """The AWS operations the engine needs; ``aws.AwsGateway`` is the real one."""

    def load_configs(self, account_ids: Collection[str]) -> dict[str, Mapping[str, Any]]:
        """Raw config items by account id; accounts without an item are absent."""
        ...

    def describe_instances(self, spoke: Spoke, instance_ids: Sequence[str]) -> dict[str, InstanceFacts]:
        """Facts of the instances that still exist; unknown ids are absent."""
        ...

    def online_instances(self, spoke: Spoke, instance_ids: Sequence[str]) -> set[str]:
        """Ids whose SSM agent is registered and Online."""
        ...

    def send_spoke_command(
        self, spoke: Spoke, document: str, instance_ids: Sequence[str], parameters: Mapping[str, str]
    ) -> str: ...

    def tools_host(self) -> str:
        """Instance id of an Online AD tools host in the hub; raises ToolsHostUnavailableError."""
        ...

    def send_tools_command(self, document: str, instance_id: str, parameters: Mapping[str, str]) -> str: ...

    def prestage_refusals(self, command_id: str) -> frozenset[str]:
        """Computer names the tools host refused in that prestage command (an object of that name exists
        that is not ours), from its result lines; raises a DomainJoinError when they cannot be read."""
        ...

    def sealing_key(self) -> str:
        """ARN of the KMS key one-time passwords are sealed with; "" when the handler has none."""
        ...

    def seal(self, requests: Sequence[SealRequest]) -> tuple[str, ...]:
        """One ``kms:Encrypt`` per request under ``sealing_key()``: the ciphertexts, as the wire has them."""
        ...

    def create_directory_computer(self, computer: DirectoryComputer) -> None:
        """``ds:CreateComputer`` in the hub's Region; ``ComputerExistsError`` when the name is taken."""
        ...

    def read_ledger(
        self, instance_ids: Collection[str], command_ids: Collection[str] = ()
    ) -> tuple[dict[str, LedgerEntry], dict[str, CommandRecord]]:
        """Instance records and command items, in one read (consistent)."""
        ...

    def write_ledger(self, entries: Sequence[LedgerEntry], commands: Sequence[CommandRecord] = ()) -> None:
        """Unconditional writes of records this container holds a claim on, and of command items."""
        ...

    def claim_ledger(
        self, entries: Sequence[LedgerEntry], now: int, resends: Mapping[str, str] | None = None
    ) -> None:
        """Write up to 100 JOINING/REMOVING claims atomically (all or none).

        A JOINING claim needs no record, or a JOINING one whose lease is over.  A
        REMOVING claim needs a record of the same account that is JOIN_SENT, or
        JOINING/REMOVING with its lease over.  Raises ``LedgerClaimRefusedError`` naming
        the records that failed their condition; then nothing was written.

        ``resends`` (instance id -> command id) marks claims that send a failed command again: those
        need the record still JOIN_SENT (REMOVE_SENT) with that join (remove) command id, or a claim of
        their own kind that is free.
        """
        ...
