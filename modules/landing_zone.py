"""The landing-zone file `main.py` reads: parsing and validation.

Every problem is collected (not just the first), each as one line naming the
file and the field, so a pipeline run shows everything to fix at once.  Pure
Python (no cdktf), so it is cheap to test.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from handlers.domain_join import contract, settings
from handlers.domain_join import patterns as shared
from handlers.domain_join.errors import ConfigInvalidError
from handlers.domain_join.model import MAX_OU_TAG_VALUES, AccountConfig

from . import naming, partitions
from .patterns import (
    ACCOUNT_ID,
    AMI_ID,
    BUCKET,
    EMAIL,
    EXTERNAL_ID,
    GROUP_DISPLAY_NAME,
    GUID,
    HTTPS_URL,
    IDENTITY_STORE_ID,
    INSTANCE_ID,
    KMS_KEY_ARN,
    ORGANIZATION_ID,
    PREFIX_LIST_ID,
    REGION,
    RESOLVER_RULE_ID,
    ROLE_ARN,
    ROLE_NAME,
    SECURITY_GROUP_ID,
    SNS_ARN,
    SSO_INSTANCE_ARN,
    SUBNET_ID,
    SYNCHRONIZATION_TEMPLATE_ID,
    TAG_KEY,
    TAG_VALUE,
    VPC_ID,
)
from .reconcile_props import ReconcileProps
from .validation import PropsError

# The file is configuration written by people: far below these limits.  Above them it is refused
# before parsing, so a mistaken path or a YAML alias bomb cannot exhaust memory or the terminal.
MAX_FILE_BYTES = 1024 * 1024
MAX_ALIASES = 100
MAX_EXPANDED_NODES = 100_000  # values once every alias is expanded (an alias bomb has billions)
MAX_SHOWN = 60  # characters of a bad value quoted in a message
MAX_TAGS = 49  # AWS allows 50 per resource; the stacks add ManagedBy

# A name the units build other names from: letters, digits and '-' only, which every service accepts
# (SQS, SNS, Lambda and KMS aliases refuse dots); the per-service lengths are checked by naming.
DISPLAY_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,256}$")  # an Entra application's display name
UNIT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")
TABLE_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
KMS_KEY = re.compile(
    r"^(arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/[A-Za-z0-9/_-]{1,256}|alias/[A-Za-z0-9/_-]{1,250})$"
)

DEFAULT_ROLE_NAME = "OrganizationAccountAccessRole"
LOCAL_STATE_FOLDER = "terraform-state"


class LandingZoneError(Exception):
    """The file is invalid; `problems` holds one message per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


DIRECTORY_ID = re.compile(r"^d-[0-9a-f]{10}$")
DIRECTORY_KEYS = {
    "domain", "dns_ips", "join_user", "join_password_parameter", "default_ou", "computer_name_prefix",
    "directory_id", "sudo_group", "install_rds_role", "install_packages", "ou_by_tag", "computer_name_tag",
    "seal_join_passwords",
}  # fmt: skip


@dataclass(frozen=True)
class Directory:
    """One Active Directory domain that enrolled accounts join (`directories.<name>` in the file)."""

    name: str
    domain: str
    dns_ips: tuple[str, ...]
    join_user: str
    join_password_parameter: str  # the SecureString's name; its value is never in Terraform
    default_ou: str | None = None
    computer_name_prefix: str | None = None
    directory_id: str | None = None
    sudo_group: str | None = None
    install_rds_role: bool = False
    install_packages: bool = True  # false: private subnets, the AD client is baked into the images
    # `ou_by_tag: {tag: KEY, ous: {value: OU DN}}`: the instance's tag value picks the OU from this allow-list
    ou_tag_key: str | None = None
    ou_by_tag: tuple[tuple[str, str], ...] = ()
    computer_name_tag: str | None = None  # the tag whose value is the computer name when a valid NetBIOS name
    # Seal each instance's one-time password for that instance (its role attaches the spoke's unseal policy).
    seal_join_passwords: bool = False


@dataclass(frozen=True)
class ToolsHostInstance:
    """`tools_host.instance`: create the tools-host instance in this VPC and subnet."""

    vpc_id: str
    subnet_id: str
    dc_cidrs: tuple[str, ...]
    https_egress_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    platform: str = "linux"
    instance_type: str | None = None
    ami_parameter: str | None = None
    ami_id: str | None = None


@dataclass(frozen=True)
class ToolsHostSettings:
    """`tools_host`: the tools host's role and profile (always, once set), optionally its instance."""

    password_kms_key_arn: str | None = None
    instance: ToolsHostInstance | None = None
    instance_id: str | None = None  # also accepted as the tools host, whatever its profile (bring your own)


@dataclass(frozen=True)
class DirectoryNetworkSettings:
    """`directory_network`: the network around the domain controllers (docs/network.md).

    Field names follow `modules.directory_network.DirectoryNetworkProps`, which checks the rest at synth.
    """

    account_id: str
    region: str
    role_name: str
    directory: str
    vpc_id: str
    vpc_cidr: str
    resolver_subnet_ids: tuple[str, ...]
    dc_cidrs: tuple[str, ...]
    admin_role_arns: tuple[str, ...]
    client_cidrs: tuple[str, ...] = ()
    client_prefix_list_ids: tuple[str, ...] = ()
    client_security_group_ids: tuple[str, ...] = ()
    admin_cidrs: tuple[str, ...] = ()
    admin_security_group_ids: tuple[str, ...] = ()
    replication_peer_cidrs: tuple[str, ...] = ()
    network_acl_subnet_ids: tuple[str, ...] = ()
    network_acl_subnet_cidrs: tuple[str, ...] = ()
    share_with: tuple[str, ...] = ()
    endpoint_services: tuple[str, ...] = ()
    endpoint_subnet_ids: tuple[str, ...] = ()
    dc_tag_key: str = "ADDomainController"
    dc_tag_value: str = "true"
    dc_instance_ids: tuple[str, ...] = ()
    notification_topic_arn: str | None = None


@dataclass(frozen=True)
class SpokeVpc:
    """`spokes[].vpcs.<region>[]`: a workload VPC whose instances join (rule association, member group)."""

    region: str
    vpc_id: str
    vpc_cidr: str | None = None
    resolver_rule_id: str | None = None
    endpoint_services: tuple[str, ...] = ()
    endpoint_subnet_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Spoke:
    account_id: str
    regions: tuple[str, ...]
    role_name: str
    directory: str | None = None  # a key of LandingZone.directories; None: the config item is written by hand
    ou: str | None = None  # overrides the directory's default OU for this account
    vpcs: tuple[SpokeVpc, ...] = ()  # workload VPCs to give the directory's DNS and ports (directory_network)


@dataclass(frozen=True)
class Backend:
    bucket: str
    key_prefix: str
    region: str
    kms_key_id: str | None = None  # SSE-KMS for the state objects; default SSE-S3


@dataclass(frozen=True)
class ArtifactLocation:
    bucket: str
    key: str
    object_version: str | None


@dataclass(frozen=True)
class PermissionSetSettings:
    """`identity.permission_sets.<name>`: session duration, tags, and groups given it in accounts."""

    name: str
    session_duration: str
    tags: tuple[tuple[str, str], ...] = ()
    assignments: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (group display name, account ids)


@dataclass(frozen=True)
class EntraSettings:
    """`identity.entra`: the Entra ID side (modules/entra.py); SCIM endpoint and token are never here."""

    tenant_id: str
    saml_entity_id: str
    saml_acs_url: str
    application_name: str = naming.ENTRA_APPLICATION_NAME
    gallery_template: str = naming.ENTRA_GALLERY_TEMPLATE
    scim: bool = True
    synchronization_template_id: str = naming.ENTRA_SYNCHRONIZATION_TEMPLATE
    provisioning_rule_id: str = naming.ENTRA_PROVISIONING_RULE
    notification_emails: tuple[str, ...] = ()


@dataclass(frozen=True)
class IdentitySettings:
    """`identity`: IAM Identity Center permission sets and assignments (docs/identity.md)."""

    account_id: str
    region: str
    role_name: str
    permission_sets: tuple[PermissionSetSettings, ...]
    instance_arn: str | None = None
    identity_store_id: str | None = None
    entra: EntraSettings | None = None

    @property
    def groups(self) -> tuple[str, ...]:
        """Every group display name the assignments name, each once, in order."""
        return tuple(dict.fromkeys(g for s in self.permission_sets for g, _ in s.assignments))


@dataclass(frozen=True)
class LandingZone:
    source: Path
    organization_id: str | None
    security_account_id: str
    home_region: str
    extra_regions: tuple[str, ...]
    spokes: tuple[Spoke, ...]
    role_name: str = DEFAULT_ROLE_NAME
    name: str = "domain-join"
    tools_host_tag_key: str = str(settings.TOOLS_HOST_TAG_KEY.default)
    tools_host_tag_value: str = str(settings.TOOLS_HOST_TAG_VALUE.default)
    join_delay_seconds: int = int(settings.JOIN_DELAY_SECONDS.default or 0)
    readiness_deadline_seconds: int = int(settings.READINESS_DEADLINE_SECONDS.default or 0)
    max_command_attempts: int = int(settings.MAX_COMMAND_ATTEMPTS.default or 0)
    create_config_table: bool = True
    config_table_name: str = naming.DEFAULT_CONFIG_TABLE_NAME
    config_table_billing_mode: str = "PAY_PER_REQUEST"
    ledger_table_name: str = naming.DEFAULT_LEDGER_TABLE_NAME
    spoke_role_name: str = contract.DEFAULT_SPOKE_ROLE_NAME
    spoke_role_external_id: str | None = None
    alarm_topic_arn: str | None = None
    join_failed_alarm_threshold: int = int(settings.JOIN_FAILED_ALARM_THRESHOLD.default or 0)
    join_failed_alarm_period_minutes: int = int(settings.JOIN_FAILED_ALARM_PERIOD_MINUTES.default or 0)
    powertools_layer_version: int = int(settings.POWERTOOLS_LAYER_VERSION.default or 0)
    artifact: ArtifactLocation | None = None
    backend: Backend | None = None
    tags: dict[str, str] = field(default_factory=dict)
    state_dir: Path | None = None  # local state without a backend; default: terraform-state/ beside the file
    directories: dict[str, Directory] = field(default_factory=dict)
    tools_host: ToolsHostSettings | None = None
    directory_network: DirectoryNetworkSettings | None = None
    identity: IdentitySettings | None = None
    reconciliation: ReconcileProps | None = None  # `reconciliation:` (docs/reconcile.md); absent: none

    @property
    def password_parameter_names(self) -> tuple[str, ...]:
        """The join-password parameters of every directory (the tools host may read exactly these)."""
        return tuple(sorted({d.join_password_parameter for d in self.directories.values()}))

    @property
    def directory_ids(self) -> tuple[str, ...]:
        """The Directory Service ids of the directories (the hub may ds:CreateComputer in exactly these)."""
        return tuple(sorted({d.directory_id for d in self.directories.values() if d.directory_id}))

    def config_items(self) -> dict[str, dict[str, Any]]:
        """The config-table item of every spoke that names a directory, keyed by account id (seed names)."""
        return {
            spoke.account_id: config_item(self, spoke, self.directories[spoke.directory])
            for spoke in self.spokes
            if spoke.directory is not None
        }

    @property
    def local_state_dir(self) -> Path:
        """Where stacks without a remote backend keep their state (never inside the output folder)."""
        return self.state_dir if self.state_dir is not None else self.source.parent / LOCAL_STATE_FOLDER

    @property
    def all_regions(self) -> tuple[str, ...]:
        return (self.home_region, *self.extra_regions)

    def stack_plan(self) -> list[tuple[str, str, str]]:
        """(stack name, account, Regions) of every stack this landing zone synthesizes, in build order."""
        plan = [(naming.HUB_STACK, self.security_account_id, self.home_region)]
        if self.directory_network is not None:
            dn = self.directory_network
            plan.append((naming.DIRECTORY_NETWORK_STACK, dn.account_id, dn.region))
        plan += [(naming.forwarder_stack_name(r), self.security_account_id, r) for r in self.extra_regions]
        plan += [
            (naming.spoke_stack_name(s.account_id), s.account_id, ", ".join(s.regions)) for s in self.spokes
        ]
        if self.identity is not None:
            if self.identity.entra is not None:
                plan.append((naming.ENTRA_STACK, f"Entra tenant {self.identity.entra.tenant_id}", "-"))
            plan.append((naming.IDENTITY_STACK, self.identity.account_id, self.identity.region))
        return plan

    @property
    def principal_account_ids(self) -> tuple[str, ...]:
        """Accounts allowed on the buses when no organization id is given."""
        return tuple(sorted({self.security_account_id, *(s.account_id for s in self.spokes)}))


TOP_LEVEL_KEYS = {
    "organization_id", "security_account_id", "home_region", "extra_regions", "spokes", "role_name", "name",
    "tools_host_tag", "join_delay_seconds", "readiness_deadline_seconds", "max_command_attempts",
    "config_table", "ledger_table_name", "spoke_role",
    "alarm_topic_arn", "join_failed_alarm_threshold", "join_failed_alarm_period_minutes",
    "powertools_layer_version", "artifact", "backend", "tags", "local_state_dir",
    "directories", "tools_host", "directory_network", "identity", "reconciliation",
}  # fmt: skip


def show(value: Any) -> str:
    """repr() of a value for a message, cut to MAX_SHOWN characters."""
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else f"{text[: MAX_SHOWN - 3]}..."


class _Reader:
    """Collects problems while reading fields of one file."""

    def __init__(self, source: Path) -> None:
        self.source = source
        self.problems: list[str] = []

    def problem(self, field_path: str, message: str) -> None:
        self.problems.append(f"{self.source}: {field_path}: {message}")

    def mapping(self, value: Any, field_path: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(field_path, "must be a mapping")
            return {}
        return value

    def unknown_keys(self, value: dict[str, Any], allowed: set[str], field_path: str) -> None:
        for key in sorted(set(value) - allowed, key=str):
            where = f"{field_path}.{str(key)[:MAX_SHOWN]}" if field_path else str(key)[:MAX_SHOWN]
            self.problem(where, f"unknown field (allowed: {', '.join(sorted(allowed))})")

    def absent(self, data: dict[str, Any], key: str, field_path: str, required: bool) -> bool:
        """True when the field is not given (a problem when it is required)."""
        if key in data and data[key] is not None:
            return False
        if required:
            self.problem(field_path, "missing (required)")
        return True

    def string(
        self,
        data: dict[str, Any],
        key: str,
        field_path: str,
        pattern: re.Pattern[str] | None,
        what: str,
        *,
        default: str | None = None,
        required: bool = False,
    ) -> str | None:
        if self.absent(data, key, field_path, required):
            return default
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            self.problem(field_path, f"must be {what}, got {show(value)}")
            return default
        text = str(value)
        if pattern is not None and not pattern.fullmatch(text):
            hint = (
                " (quote account ids in YAML: leading zeros are lost otherwise)"
                if isinstance(value, int)
                else ""
            )
            self.problem(field_path, f"{show(value)} is not {what}{hint}")
            return default
        return text

    def account_id(
        self, data: dict[str, Any], key: str, field_path: str, *, required: bool = True
    ) -> str | None:
        return self.string(data, key, field_path, ACCOUNT_ID, "a 12-digit account id", required=required)

    def regions(self, value: Any, field_path: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.problem(field_path, "must be a list of Region names")
            return ()
        result: list[str] = []
        for index, item in enumerate(value):
            problem = region_problem(item)
            if problem is not None:
                self.problem(f"{field_path}[{index}]", problem)
            elif item in result:
                self.problem(f"{field_path}[{index}]", f"{item} is listed twice")
            else:
                result.append(item)
        return tuple(result)

    def setting(self, data: dict[str, Any], key: str, field_path: str, setting: settings.Setting) -> Any:
        """A value of the shared settings table: its default when absent, its own check otherwise."""
        if key not in data or data[key] is None:
            return setting.default
        problem = settings.check(setting, data[key])
        if problem is not None:
            self.problem(field_path, problem.split(": ", 1)[1][: MAX_SHOWN * 2])
            return setting.default
        return data[key]

    def region(
        self,
        data: dict[str, Any],
        key: str,
        field_path: str,
        *,
        default: str | None = None,
        required: bool = False,
    ) -> str | None:
        if self.absent(data, key, field_path, required):
            return default
        problem = region_problem(data[key])
        if problem is not None:
            self.problem(field_path, problem)
            return default
        return str(data[key])

    def tags(self, value: Any, field_path: str) -> dict[str, str]:
        tags = self.mapping(value, field_path)
        result: dict[str, str] = {}
        if len(tags) > MAX_TAGS:
            self.problem(
                field_path, f"{len(tags)} tags: at most {MAX_TAGS} (AWS allows 50; ManagedBy is added)"
            )
        for key, tag_value in tags.items():
            where = f"{field_path}.{str(key)[:MAX_SHOWN]}"
            problem = tag_key_problem(key) or tag_value_problem(tag_value)
            if problem is not None:
                self.problem(where, problem)
            else:
                result[key] = tag_value
        return result

    def boolean(self, data: dict[str, Any], key: str, field_path: str, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            self.problem(field_path, f"{show(value)} must be true or false")
            return default
        return value


def config_item(lz: LandingZone, spoke: Spoke, directory: Directory) -> dict[str, Any]:
    """The config item the hub writes for `spoke` (the original solution's attribute names, plus ours)."""
    partition = partitions.arn_partition(lz.home_region)
    item: dict[str, Any] = {
        contract.CONFIG_TABLE_KEY: spoke.account_id,
        contract.CONFIG_DNS_NAME: directory.domain,
        contract.CONFIG_JOIN_USER: directory.join_user,
        contract.CONFIG_PASSWORD_PARAMETER: directory.join_password_parameter,
        contract.CONFIG_ROLE_ARN: f"arn:{partition}:iam::{spoke.account_id}:role/{lz.spoke_role_name}",
        contract.CONFIG_REGIONS: list(spoke.regions),
        contract.CONFIG_MANAGED_BY: "ec2-domain-join",
    }
    for attribute, ip in zip(
        (contract.CONFIG_DNS_IP1, contract.CONFIG_DNS_IP2), directory.dns_ips, strict=False
    ):
        item[attribute] = ip
    optional = {
        contract.CONFIG_OU_PATH: spoke.ou or directory.default_ou,
        contract.CONFIG_COMPUTER_NAME_PREFIX: directory.computer_name_prefix,
        contract.CONFIG_SUDO_GROUP: directory.sudo_group,
        contract.CONFIG_DIRECTORY_ID: directory.directory_id,
        contract.CONFIG_OU_TAG_KEY: directory.ou_tag_key,
        contract.CONFIG_OU_BY_TAG_VALUE: dict(directory.ou_by_tag),
        contract.CONFIG_COMPUTER_NAME_TAG: directory.computer_name_tag,
    }
    item |= {attribute: value for attribute, value in optional.items() if value}
    if directory.install_rds_role:
        item[contract.CONFIG_INSTALL_RDS_ROLE] = True
    if not directory.install_packages:
        item[contract.CONFIG_INSTALL_PACKAGES] = False
    if directory.seal_join_passwords:
        item[contract.CONFIG_SEAL_JOIN_PASSWORDS] = True
    return item


def region_problem(value: Any) -> str | None:
    """Why `value` is not a Region of any AWS partition (from botocore's data, not a pattern), or None."""
    if not isinstance(value, str) or not REGION.fullmatch(value):
        return f"{show(value)} is not an AWS Region name"
    if not partitions.is_region(value):
        return f"{value} is not a Region of any AWS partition (botocore's Region list)"
    return None


def tag_key_problem(key: Any) -> str | None:
    if not isinstance(key, str) or not TAG_KEY.fullmatch(key):
        return f"tag key {show(key)} must be 1-128 letters, digits, spaces and _.:/=+-@"
    if key.lower().startswith("aws:"):
        return f"tag key {show(key)}: the aws: prefix is reserved by AWS"
    return None


def tag_value_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not TAG_VALUE.fullmatch(value):
        return f"tag value {show(value)} must be a string of 0-256 letters, digits, spaces and _.:/=+-@"
    return None


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and more than MAX_ALIASES aliases."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.aliases_seen = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):  # type: ignore[no-untyped-call]
            self.aliases_seen += 1
            if self.aliases_seen > MAX_ALIASES:
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise yaml.constructor.ConstructorError(
                    None, None, f"more than {MAX_ALIASES} aliases (*name): refused", event.start_mark
                )
        return super().compose_node(parent, index)

    def construct_document(self, node: Any) -> Any:
        expanded = _expanded_size(node, {})
        if expanded > MAX_EXPANDED_NODES:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"expands to more than {MAX_EXPANDED_NODES} values through aliases: refused",
                node.start_mark,
            )
        return super().construct_document(node)  # type: ignore[no-untyped-call]

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            try:
                hash(key)
            except TypeError:
                continue  # SafeLoader reports unhashable keys itself
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"duplicate key {show(key)} (first at line {seen[key].line + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _expanded_size(node: Any, sizes: dict[int, int]) -> int:
    """How many values `node` holds once aliases are expanded (each shared node counted per use)."""
    if id(node) in sizes:
        return sizes[id(node)]
    sizes[id(node)] = 1  # a recursive alias counts once while its size is computed
    total = 1
    if isinstance(node, yaml.SequenceNode):
        total += sum(_expanded_size(child, sizes) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        total += sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    sizes[id(node)] = total
    return total


def _yaml_problem(path: Path, error: yaml.YAMLError) -> str:
    """One line for a YAML error: where (line, column) and what, without the parser's context dump."""
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        return f"{path}: line {mark.line + 1}, column {mark.column + 1}: {error.problem}"
    return f"{path}: not valid YAML: {' '.join(str(error).split())[:300]}"


def read_text(path: Path) -> str:
    """The file's text, or LandingZoneError with one line saying why it cannot be read as UTF-8 YAML."""
    try:
        if path.is_dir():
            raise LandingZoneError([f"{path}: is a directory, not a landing-zone file"])
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise LandingZoneError(
                [f"{path}: {size} bytes: larger than {MAX_FILE_BYTES} is not a landing zone"]
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise LandingZoneError([f"{path}: file not found"]) from None
    except OSError as error:
        raise LandingZoneError([f"{path}: cannot be read: {error.strerror or error}"]) from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data[:4096]:
        raise LandingZoneError([f"{path}: is UTF-16 (or binary): save it as UTF-8"])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise LandingZoneError(
            [f"{path}: not UTF-8 (byte 0x{data[error.start]:02x} at offset {error.start}): save it as UTF-8"]
        ) from None
    return text.removeprefix("\ufeff")


def load_landing_zone(path: Path) -> LandingZone:
    """Read and validate a landing-zone file; raises LandingZoneError listing every problem."""
    reader = _Reader(path)
    text = read_text(path)
    try:
        raw = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        raise LandingZoneError([_yaml_problem(path, error)]) from None
    if not isinstance(raw, dict):
        raise LandingZoneError([f"{path}: must be a YAML mapping at the top level"])
    return _parse(raw, reader)


def _parse(data: dict[str, Any], r: _Reader) -> LandingZone:
    r.unknown_keys(data, TOP_LEVEL_KEYS, "")
    organization_id = r.string(
        data, "organization_id", "organization_id", ORGANIZATION_ID, "an organization id (o-…)"
    )
    security_account_id = r.account_id(data, "security_account_id", "security_account_id")
    home_region = r.region(data, "home_region", "home_region", required=True)
    extra_regions = r.regions(data.get("extra_regions"), "extra_regions")
    if home_region and home_region in extra_regions:
        r.problem("extra_regions", f"must not repeat the home Region {home_region}")
    home_partition = partitions.arn_partition(home_region) if home_region else None
    for index, region in enumerate(extra_regions):
        if home_partition and partitions.arn_partition(region) != home_partition:
            r.problem(
                f"extra_regions[{index}]",
                f"{region} is in partition {partitions.arn_partition(region)}, the home Region in "
                f"{home_partition}: events cannot cross partitions",
            )
    role_name = r.string(
        data, "role_name", "role_name", ROLE_NAME, "an IAM role name", default=DEFAULT_ROLE_NAME
    )
    name = r.string(
        data,
        "name",
        "name",
        UNIT_NAME,
        "a name of letters, digits and '-' (at most 63)",
        default="domain-join",
    )
    known_regions = {home_region, *extra_regions}

    spokes: list[Spoke] = []
    raw_spokes = data.get("spokes")
    if raw_spokes is None:
        raw_spokes = []
    if not isinstance(raw_spokes, list):
        r.problem("spokes", "must be a list of {account_id, regions[, role_name]}")
        raw_spokes = []
    seen_accounts: set[str] = set()
    directories = _directories(data.get("directories"), r)
    for index, item in enumerate(raw_spokes):
        where = f"spokes[{index}]"
        if item is None:
            r.problem(where, "empty entry: give account_id and regions, or remove the line")
            continue
        entry = r.mapping(item, where)
        r.unknown_keys(entry, {"account_id", "regions", "role_name", "directory", "ou", "vpcs"}, where)
        if not entry:
            if item is not None and isinstance(item, dict):
                r.problem(f"{where}.account_id", "missing (required)")
            continue
        account = r.account_id(entry, "account_id", f"{where}.account_id")
        if "regions" not in entry:
            r.problem(f"{where}.regions", "missing (required)")
        regions = r.regions(entry.get("regions"), f"{where}.regions")
        if entry.get("regions") == []:
            r.problem(f"{where}.regions", "must list at least one Region")
        for region_index, region in enumerate(regions):
            if home_region and region not in known_regions:
                r.problem(
                    f"{where}.regions[{region_index}]",
                    f"{region} has no hub or forwarder rule of the security account: its events would "
                    "reach no queue; add it to extra_regions (or use the home Region)"
                    if account is not None and account == security_account_id
                    else f"{region} has no domain-join bus: add it to extra_regions (or use the home Region)",
                )
        assumed_role = r.string(
            entry, "role_name", f"{where}.role_name", ROLE_NAME, "an IAM role name", default=role_name
        )
        if account is not None:
            if account in seen_accounts:
                r.problem(f"{where}.account_id", f"{account} is listed twice")
            seen_accounts.add(account)
            directory = r.string(entry, "directory", f"{where}.directory", None, "a directory name")
            if directory is not None and directory not in directories:
                known = ", ".join(sorted(directories)) or "none defined"
                r.problem(f"{where}.directory", f"{directory!r} is not under directories ({known})")
            ou = r.string(entry, "ou", f"{where}.ou", shared.OU, "an OU distinguished name")
            if ou is not None and directory is None:
                r.problem(f"{where}.ou", "needs directory: the OU overrides that directory's default_ou")
            vpcs = _spoke_vpcs(entry.get("vpcs"), f"{where}.vpcs", regions, r)
            spokes.append(
                Spoke(account, tuple(regions), assumed_role or DEFAULT_ROLE_NAME, directory, ou, vpcs)
            )

    directory_network = _directory_network(
        data.get("directory_network"), r, directories, security_account_id, home_region, role_name, spokes
    )
    tools_host = r.mapping(data.get("tools_host_tag"), "tools_host_tag")
    r.unknown_keys(tools_host, {"key", "value"}, "tools_host_tag")
    if "key" in tools_host and (problem := tag_key_problem(tools_host["key"])):
        r.problem("tools_host_tag.key", problem)
    if "value" in tools_host and (problem := tag_value_problem(tools_host["value"])):
        r.problem("tools_host_tag.value", problem)
    config_table = r.mapping(data.get("config_table"), "config_table")
    r.unknown_keys(config_table, {"name", "create", "billing_mode"}, "config_table")
    billing_mode = config_table.get("billing_mode", "PAY_PER_REQUEST")
    if billing_mode not in ("PAY_PER_REQUEST", "PROVISIONED"):
        r.problem("config_table.billing_mode", f"{billing_mode!r} must be PAY_PER_REQUEST or PROVISIONED")
        billing_mode = "PAY_PER_REQUEST"
    spoke_role = r.mapping(data.get("spoke_role"), "spoke_role")
    r.unknown_keys(spoke_role, {"name", "external_id"}, "spoke_role")

    artifact = None
    raw_artifact = r.mapping(data.get("artifact"), "artifact")
    r.unknown_keys(raw_artifact, {"s3_bucket", "s3_key", "s3_object_version"}, "artifact")
    if raw_artifact:
        bucket = r.string(
            raw_artifact, "s3_bucket", "artifact.s3_bucket", BUCKET, "an S3 bucket name", required=True
        )
        key = r.string(raw_artifact, "s3_key", "artifact.s3_key", None, "an S3 key", required=True)
        version = r.string(
            raw_artifact, "s3_object_version", "artifact.s3_object_version", None, "a version id"
        )
        if bucket and key:
            artifact = ArtifactLocation(bucket, key, version)

    backend = None
    raw_backend = r.mapping(data.get("backend"), "backend")
    r.unknown_keys(raw_backend, {"s3_bucket", "key_prefix", "region", "kms_key_id"}, "backend")
    if raw_backend:
        state_bucket = r.string(
            raw_backend, "s3_bucket", "backend.s3_bucket", BUCKET, "an S3 bucket name", required=True
        )
        prefix = r.string(
            raw_backend, "key_prefix", "backend.key_prefix", None, "a key prefix", default="ec2-domain-join"
        )
        backend_region = r.region(raw_backend, "region", "backend.region", default=home_region)
        kms_key_id = r.string(
            raw_backend, "kms_key_id", "backend.kms_key_id", KMS_KEY, "a KMS key ARN, alias ARN or alias/name"
        )
        if state_bucket and prefix and backend_region:
            backend = Backend(state_bucket, prefix.strip("/"), backend_region, kms_key_id)

    tags = r.tags(data.get("tags"), "tags")

    state_dir = None
    raw_state_dir = r.string(data, "local_state_dir", "local_state_dir", None, "a folder path")
    if raw_state_dir is not None:
        if not raw_state_dir.strip() or "\x00" in raw_state_dir:
            r.problem("local_state_dir", "must be a folder path")
        else:
            state_dir = (r.source.parent / raw_state_dir).resolve()

    lz_fields: dict[str, Any] = {
        "tools_host_tag_key": r.string(
            tools_host,
            "key",
            "tools_host_tag.key",
            None,
            "a tag key",
            default=str(settings.TOOLS_HOST_TAG_KEY.default),
        ),
        "tools_host_tag_value": r.string(
            tools_host,
            "value",
            "tools_host_tag.value",
            None,
            "a tag value",
            default=str(settings.TOOLS_HOST_TAG_VALUE.default),
        ),
        "join_delay_seconds": r.setting(
            data, "join_delay_seconds", "join_delay_seconds", settings.JOIN_DELAY_SECONDS
        ),
        "readiness_deadline_seconds": r.setting(
            data,
            "readiness_deadline_seconds",
            "readiness_deadline_seconds",
            settings.READINESS_DEADLINE_SECONDS,
        ),
        "max_command_attempts": r.setting(
            data, "max_command_attempts", "max_command_attempts", settings.MAX_COMMAND_ATTEMPTS
        ),
        "create_config_table": r.boolean(config_table, "create", "config_table.create", True),
        "config_table_name": r.string(
            config_table,
            "name",
            "config_table.name",
            TABLE_NAME,
            "a DynamoDB table name (3-255 letters, digits, _.-)",
            default=naming.DEFAULT_CONFIG_TABLE_NAME,
        ),
        "config_table_billing_mode": billing_mode,
        "ledger_table_name": r.string(
            data,
            "ledger_table_name",
            "ledger_table_name",
            TABLE_NAME,
            "a DynamoDB table name (3-255 letters, digits, _.-)",
            default=naming.DEFAULT_LEDGER_TABLE_NAME,
        ),
        "spoke_role_name": r.string(
            spoke_role,
            "name",
            "spoke_role.name",
            ROLE_NAME,
            "an IAM role name",
            default=contract.DEFAULT_SPOKE_ROLE_NAME,
        ),
        "spoke_role_external_id": r.string(
            spoke_role,
            "external_id",
            "spoke_role.external_id",
            EXTERNAL_ID,
            "an external id (2-1224 letters, digits and +=,.@:/-)",
        ),
        "alarm_topic_arn": r.string(data, "alarm_topic_arn", "alarm_topic_arn", SNS_ARN, "an SNS topic ARN"),
        "join_failed_alarm_threshold": r.setting(
            data,
            "join_failed_alarm_threshold",
            "join_failed_alarm_threshold",
            settings.JOIN_FAILED_ALARM_THRESHOLD,
        ),
        "join_failed_alarm_period_minutes": r.setting(
            data,
            "join_failed_alarm_period_minutes",
            "join_failed_alarm_period_minutes",
            settings.JOIN_FAILED_ALARM_PERIOD_MINUTES,
        ),
        "powertools_layer_version": r.setting(
            data, "powertools_layer_version", "powertools_layer_version", settings.POWERTOOLS_LAYER_VERSION
        ),
    }
    if organization_id is None and "organization_id" not in data and not spokes:
        r.problem(
            "organization_id", "missing: give organization_id, or list spokes (their accounts are allowed)"
        )
    for index, spoke in enumerate(spokes):
        for region_index, region in enumerate(spoke.regions):
            if home_partition and partitions.arn_partition(region) != home_partition:
                r.problem(
                    f"spokes[{index}].regions[{region_index}]",
                    f"{region} is in partition {partitions.arn_partition(region)}, "
                    f"the hub in {home_partition}",
                )
    if not r.problems:  # names built from valid parts: check each against its service's limits
        for problem in naming.name_problems(
            name or naming.DEFAULT_NAME,
            config_table_name=lz_fields["config_table_name"],
            ledger_table_name=lz_fields["ledger_table_name"],
            spoke_role_name=lz_fields["spoke_role_name"],
        ):
            r.problem("name", problem)
    if r.problems:
        raise LandingZoneError(r.problems)
    if security_account_id is None or home_region is None:  # pragma: no cover - reported above
        raise LandingZoneError([f"{r.source}: incomplete"])
    tools_host_settings = _tools_host(data.get("tools_host"), r)
    reconciliation = _reconciliation(data.get("reconciliation"), r) if "reconciliation" in data else None
    identity = _identity(
        data.get("identity"), r, security_account_id, home_region, role_name or DEFAULT_ROLE_NAME, spokes,
        directory_network,
    )  # fmt: skip
    if tools_host_settings is not None and not directories:
        r.problem("tools_host", "needs directories: the host may read only their join-password parameters")
    _check_directory_placement(directories, directory_network, security_account_id, home_region, r)
    if r.problems:
        raise LandingZoneError(r.problems)
    lz = LandingZone(
        source=r.source,
        organization_id=organization_id,
        security_account_id=security_account_id,
        home_region=home_region,
        extra_regions=extra_regions,
        spokes=tuple(spokes),
        role_name=role_name or DEFAULT_ROLE_NAME,
        name=name or "domain-join",
        artifact=artifact,
        backend=backend,
        tags=tags,
        state_dir=state_dir,
        directories=directories,
        tools_host=tools_host_settings,
        directory_network=directory_network,
        identity=identity,
        reconciliation=reconciliation,
        **lz_fields,
    )
    _check_config_items(lz, r)
    return lz


RECONCILIATION_KEYS = {
    "enabled", "schedule", "dry_run", "max_removals", "max_removal_percent", "retry_period_seconds",
    "quarantine_days", "worker_concurrency", "function_timeout_seconds", "inventory_retention_days",
    "orphan_alarm_runs", "orphan_alarm_period_seconds", "reader_principal_arns",
}  # fmt: skip


def _reconciliation(value: Any, r: _Reader) -> ReconcileProps | None:
    """`reconciliation`: the scheduled repair loop (docs/reconcile.md); `{}` (or null) for the defaults."""
    raw = r.mapping(value if value is not None else {}, "reconciliation")
    r.unknown_keys(raw, RECONCILIATION_KEYS, "reconciliation")
    fields = {key: raw[key] for key in RECONCILIATION_KEYS if key in raw}
    try:
        return ReconcileProps(**fields)
    except (PropsError, TypeError) as exc:
        r.problem("reconciliation", str(exc))
        return None


def _directories(value: Any, r: _Reader) -> dict[str, Directory]:
    """`directories`: name -> domain settings, each field checked with the handler's own patterns."""
    result: dict[str, Directory] = {}
    for name, raw in r.mapping(value, "directories").items():
        where = f"directories.{str(name)[:MAX_SHOWN]}"
        if not isinstance(name, str) or not UNIT_NAME.fullmatch(name):
            r.problem(where, "a directory name is letters, digits and '-'")
            continue
        entry = r.mapping(raw, where)
        r.unknown_keys(entry, DIRECTORY_KEYS, where)
        domain = r.string(
            entry, "domain", f"{where}.domain", shared.DOMAIN, "a DNS domain name", required=True
        )
        dns_ips = _dns_ips(entry.get("dns_ips"), f"{where}.dns_ips", r)
        join_user = r.string(
            entry, "join_user", f"{where}.join_user", shared.USER, "a user name", required=True
        )
        parameter = r.string(
            entry,
            "join_password_parameter",
            f"{where}.join_password_parameter",
            shared.SSM_PARAMETER_NAME,
            "an SSM parameter name (the SecureString holding the join password)",
            required=True,
        )
        default_ou = r.string(
            entry, "default_ou", f"{where}.default_ou", shared.OU, "an OU distinguished name"
        )
        prefix = r.string(
            entry,
            "computer_name_prefix",
            f"{where}.computer_name_prefix",
            shared.COMPUTER_NAME_PREFIX,
            "1-7 of A-Z, 0-9 and '-', starting with a letter",
        )
        directory_id = r.string(
            entry, "directory_id", f"{where}.directory_id", DIRECTORY_ID, "a Directory Service id (d-…)"
        )
        sudo_group = r.string(entry, "sudo_group", f"{where}.sudo_group", shared.GROUP, "a group name")
        rds = r.boolean(entry, "install_rds_role", f"{where}.install_rds_role", False)
        install = r.boolean(entry, "install_packages", f"{where}.install_packages", True)
        seal = r.boolean(entry, "seal_join_passwords", f"{where}.seal_join_passwords", False)
        ou_tag_key, ou_by_tag = _ou_by_tag(entry.get("ou_by_tag"), f"{where}.ou_by_tag", r)
        name_tag = r.string(
            entry, "computer_name_tag", f"{where}.computer_name_tag", shared.TAG_KEY, "a tag key"
        )
        if domain and join_user and parameter:
            result[name] = Directory(
                name,
                domain,
                dns_ips,
                join_user,
                parameter,
                default_ou,
                prefix,
                directory_id,
                sudo_group,
                rds,
                install,
                ou_tag_key=ou_tag_key,
                ou_by_tag=ou_by_tag,
                computer_name_tag=name_tag,
                seal_join_passwords=seal,
            )
    return result


def _ou_by_tag(value: Any, where: str, r: _Reader) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """`ou_by_tag: {tag: KEY, ous: {value: OU DN}}`: a tag key and an allow-list of its values' OUs (the
    handler's own tag-value and OU formats; at most MAX_OU_TAG_VALUES)."""
    if value is None:
        return None, ()
    raw = r.mapping(value, where)
    r.unknown_keys(raw, {"tag", "ous"}, where)
    tag = r.string(raw, "tag", f"{where}.tag", shared.TAG_KEY, "a tag key", required=True)
    ous = raw.get("ous")
    if not isinstance(ous, dict) or not ous:
        r.problem(f"{where}.ous", "must map at least one tag value to an OU distinguished name")
        return None, ()
    if len(ous) > MAX_OU_TAG_VALUES:
        r.problem(f"{where}.ous", f"{len(ous)} values: at most {MAX_OU_TAG_VALUES}")
        return None, ()
    pairs: list[tuple[str, str]] = []
    for tag_value, ou in ous.items():
        at = f"{where}.ous.{str(tag_value)[:MAX_SHOWN]}"
        if not isinstance(tag_value, str) or not shared.TAG_VALUE.fullmatch(tag_value):
            r.problem(at, f"{show(tag_value)} is not a tag value (1-256 of A-Z a-z 0-9 space _.:/=+@-)")
        elif not isinstance(ou, str) or not shared.OU.fullmatch(ou):
            r.problem(at, f"{show(ou)} is not an OU distinguished name")
        else:
            pairs.append((tag_value, ou))
    return (tag, tuple(sorted(pairs))) if tag and len(pairs) == len(ous) else (None, ())


INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")


def _cidrs(value: Any, where: str, r: _Reader, *, required: bool) -> tuple[str, ...]:
    if value is None and not required:
        return ()
    if not isinstance(value, list) or not value:
        r.problem(where, "must be a list of IPv4 CIDR blocks")
        return ()
    result = []
    for index, cidr in enumerate(value):
        try:
            result.append(str(ipaddress.IPv4Network(cidr if isinstance(cidr, str) else "", strict=True)))
        except ValueError:
            r.problem(f"{where}[{index}]", f"{show(cidr)} is not an IPv4 CIDR block (network address/prefix)")
    return tuple(result)


SHARE_PRINCIPAL = re.compile(
    r"^([0-9]{12}|arn:aws[a-z-]*:organizations::[0-9]{12}:(organization/o-[a-z0-9]{10,32}"
    r"|ou/o-[a-z0-9]{10,32}/ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}))$"
)
ENDPOINT_SERVICES = ("ssm", "ssmmessages", "ec2messages", "kms", "logs")
DIRECTORY_NETWORK_KEYS = {
    "account_id", "region", "role_name", "directory", "vpc_id", "vpc_cidr", "resolver_subnet_ids",
    "dc_cidrs", "admin_role_arns", "clients", "admins", "replication_peer_cidrs", "network_acl",
    "share_with", "endpoints", "dc_tag", "dc_instance_ids", "notification_topic_arn",
}  # fmt: skip


def _ids(value: Any, where: str, pattern: re.Pattern[str], what: str, r: _Reader) -> tuple[str, ...]:
    """A list of ids of one shape (possibly empty)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        r.problem(where, f"must be a list of {what}s")
        return ()
    result = []
    for index, item in enumerate(value):
        if not isinstance(item, str) or not pattern.fullmatch(item):
            r.problem(f"{where}[{index}]", f"{show(item)} is not {what}")
        elif item in result:
            r.problem(f"{where}[{index}]", f"{item} is listed twice")
        else:
            result.append(item)
    return tuple(result)


def _endpoints(value: Any, where: str, r: _Reader) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """`{services, subnet_ids}` of interface endpoints."""
    raw = r.mapping(value, where)
    r.unknown_keys(raw, {"services", "subnet_ids"}, where)
    services = raw.get("services") or []
    if not isinstance(services, list) or any(s not in ENDPOINT_SERVICES for s in services):
        r.problem(f"{where}.services", f"must list some of {', '.join(ENDPOINT_SERVICES)}")
        services = []
    subnets = _ids(raw.get("subnet_ids"), f"{where}.subnet_ids", SUBNET_ID, "a subnet id (subnet-…)", r)
    if services and not subnets:
        r.problem(f"{where}.subnet_ids", "needed with services: one subnet per Availability Zone")
    return tuple(services), subnets


def _directory_network(
    value: Any,
    r: _Reader,
    directories: dict[str, Directory],
    security_account_id: str | None,
    home_region: str | None,
    role_name: str | None,
    spokes: list[Spoke],
) -> DirectoryNetworkSettings | None:
    if value is None:
        if any(spoke.vpcs for spoke in spokes):
            r.problem(
                "directory_network", "missing: spokes list vpcs, which join the directory network's rule"
            )
        return None
    where = "directory_network"
    raw = r.mapping(value, where)
    r.unknown_keys(raw, DIRECTORY_NETWORK_KEYS, where)
    account = r.account_id(raw, "account_id", f"{where}.account_id", required=False) or security_account_id
    region = r.region(raw, "region", f"{where}.region", default=home_region)
    assumed = r.string(
        raw, "role_name", f"{where}.role_name", ROLE_NAME, "an IAM role name", default=role_name
    )
    directory = r.string(raw, "directory", f"{where}.directory", None, "a directory name", required=True)
    if directory is not None and directory not in directories:
        r.problem(f"{where}.directory", f"{directory!r} is not under directories")
    vpc = r.string(raw, "vpc_id", f"{where}.vpc_id", VPC_ID, "a VPC id (vpc-…)", required=True)
    vpc_cidr = _cidrs([raw["vpc_cidr"]] if "vpc_cidr" in raw else None, f"{where}.vpc_cidr", r, required=True)
    resolver_subnets = _ids(
        raw.get("resolver_subnet_ids"), f"{where}.resolver_subnet_ids", SUBNET_ID, "a subnet id (subnet-…)", r
    )
    if len(resolver_subnets) < 2:
        r.problem(f"{where}.resolver_subnet_ids", "give two subnets in two Availability Zones")
    admin_roles = _ids(raw.get("admin_role_arns"), f"{where}.admin_role_arns", ROLE_ARN, "a role ARN", r)
    if not admin_roles:
        r.problem(f"{where}.admin_role_arns", "name the AD-admin role(s): only they may stop or change DCs")
    clients = r.mapping(raw.get("clients"), f"{where}.clients")
    r.unknown_keys(clients, {"cidrs", "prefix_list_ids", "security_group_ids"}, f"{where}.clients")
    admins = r.mapping(raw.get("admins"), f"{where}.admins")
    r.unknown_keys(admins, {"cidrs", "security_group_ids"}, f"{where}.admins")
    acl = r.mapping(raw.get("network_acl"), f"{where}.network_acl")
    r.unknown_keys(acl, {"subnet_ids", "subnet_cidrs"}, f"{where}.network_acl")
    dc_tag = r.mapping(raw.get("dc_tag"), f"{where}.dc_tag")
    r.unknown_keys(dc_tag, {"key", "value"}, f"{where}.dc_tag")
    for key in ("key", "value"):
        if key in dc_tag and (
            problem := (tag_key_problem if key == "key" else tag_value_problem)(dc_tag[key])
        ):
            r.problem(f"{where}.dc_tag.{key}", problem)
    services, endpoint_subnets = _endpoints(raw.get("endpoints"), f"{where}.endpoints", r)
    client_cidrs = _cidrs(clients.get("cidrs"), f"{where}.clients.cidrs", r, required=False)
    prefix_lists = _ids(
        clients.get("prefix_list_ids"),
        f"{where}.clients.prefix_list_ids",
        PREFIX_LIST_ID,
        "a prefix list id",
        r,
    )
    client_groups = _ids(
        clients.get("security_group_ids"),
        f"{where}.clients.security_group_ids",
        SECURITY_GROUP_ID,
        "a group id",
        r,
    )
    if not (client_cidrs or prefix_lists or client_groups):
        r.problem(
            f"{where}.clients", "give cidrs, prefix_list_ids or security_group_ids of the domain members"
        )
    share = _ids(
        raw.get("share_with"), f"{where}.share_with", SHARE_PRINCIPAL, "an organization/OU ARN or account", r
    )
    if "share_with" not in raw:  # default: the accounts whose VPCs join, other than the directory's own
        share = tuple(sorted({s.account_id for s in spokes if s.vpcs and s.account_id != account}))
    chosen = directories.get(directory or "")
    dc_cidrs = _cidrs(raw.get("dc_cidrs"), f"{where}.dc_cidrs", r, required=False)
    if not dc_cidrs and chosen is not None:
        dc_cidrs = tuple(f"{ip}/32" for ip in chosen.dns_ips)
    if chosen is not None and not chosen.dns_ips:
        r.problem(
            f"{where}.directory", f"directories.{directory}.dns_ips is needed: the resolver rule's targets"
        )
    for index, spoke in enumerate(spokes):
        for vpc_index, spoke_vpc in enumerate(spoke.vpcs):
            if spoke_vpc.region != region:
                r.problem(
                    f"spokes[{index}].vpcs.{spoke_vpc.region}[{vpc_index}]",
                    f"resolver rules are regional: the directory network is in {region}",
                )
            if spoke.account_id == account and spoke_vpc.vpc_id == vpc:
                r.problem(f"spokes[{index}].vpcs", f"{vpc} is the directory's own VPC, associated already")
    if not (account and region and assumed and vpc and vpc_cidr and chosen and dc_cidrs):
        return None
    return DirectoryNetworkSettings(
        account_id=account,
        region=region,
        role_name=assumed,
        directory=chosen.name,
        vpc_id=vpc,
        vpc_cidr=vpc_cidr[0],
        resolver_subnet_ids=resolver_subnets,
        dc_cidrs=dc_cidrs,
        admin_role_arns=admin_roles,
        client_cidrs=client_cidrs,
        client_prefix_list_ids=prefix_lists,
        client_security_group_ids=client_groups,
        admin_cidrs=_cidrs(admins.get("cidrs"), f"{where}.admins.cidrs", r, required=False),
        admin_security_group_ids=_ids(
            admins.get("security_group_ids"),
            f"{where}.admins.security_group_ids",
            SECURITY_GROUP_ID,
            "a group id",
            r,
        ),
        replication_peer_cidrs=_cidrs(
            raw.get("replication_peer_cidrs"), f"{where}.replication_peer_cidrs", r, required=False
        ),
        network_acl_subnet_ids=_ids(
            acl.get("subnet_ids"), f"{where}.network_acl.subnet_ids", SUBNET_ID, "a subnet id", r
        ),
        network_acl_subnet_cidrs=_cidrs(
            acl.get("subnet_cidrs"), f"{where}.network_acl.subnet_cidrs", r, required=False
        ),
        share_with=share,
        endpoint_services=services,
        endpoint_subnet_ids=endpoint_subnets,
        dc_tag_key=str(dc_tag.get("key", "ADDomainController")),
        dc_tag_value=str(dc_tag.get("value", "true")),
        dc_instance_ids=_ids(
            raw.get("dc_instance_ids"), f"{where}.dc_instance_ids", INSTANCE_ID, "an instance id", r
        ),
        notification_topic_arn=r.string(
            raw,
            "notification_topic_arn",
            f"{where}.notification_topic_arn",
            SNS_ARN,
            "an SNS topic ARN",
        ),
    )


def _spoke_vpcs(value: Any, where: str, regions: tuple[str, ...], r: _Reader) -> tuple[SpokeVpc, ...]:
    """`vpcs: {<region>: [{vpc_id, vpc_cidr?, resolver_rule_id?, endpoints?}]}` of one spoke."""
    result: list[SpokeVpc] = []
    for region, entries in r.mapping(value, where).items():
        at = f"{where}.{str(region)[:MAX_SHOWN]}"
        if region not in regions:
            r.problem(at, f"{show(region)} is not one of this spoke's regions")
            continue
        if not isinstance(entries, list) or not entries:
            r.problem(at, "must be a list of {vpc_id, vpc_cidr, resolver_rule_id, endpoints}")
            continue
        for index, entry in enumerate(entries):
            spec = r.mapping(entry, f"{at}[{index}]")
            r.unknown_keys(spec, {"vpc_id", "vpc_cidr", "resolver_rule_id", "endpoints"}, f"{at}[{index}]")
            vpc = r.string(spec, "vpc_id", f"{at}[{index}].vpc_id", VPC_ID, "a VPC id (vpc-…)", required=True)
            cidr = _cidrs(
                [spec["vpc_cidr"]] if "vpc_cidr" in spec else None,
                f"{at}[{index}].vpc_cidr",
                r,
                required=False,
            )
            rule = r.string(
                spec,
                "resolver_rule_id",
                f"{at}[{index}].resolver_rule_id",
                RESOLVER_RULE_ID,
                "a resolver rule id",
            )
            services, subnets = _endpoints(spec.get("endpoints"), f"{at}[{index}].endpoints", r)
            if services and not cidr:
                r.problem(f"{at}[{index}].vpc_cidr", "needed with endpoints: they admit HTTPS from the VPC")
            if vpc:
                result.append(SpokeVpc(str(region), vpc, cidr[0] if cidr else None, rule, services, subnets))
    return tuple(result)


def _tools_host(value: Any, r: _Reader) -> ToolsHostSettings | None:
    if value is None:
        return None
    raw = r.mapping(value, "tools_host")
    r.unknown_keys(raw, {"password_kms_key_arn", "instance", "instance_id"}, "tools_host")
    key = r.string(
        raw, "password_kms_key_arn", "tools_host.password_kms_key_arn", KMS_KEY_ARN, "a KMS key ARN"
    )
    instance_id = r.string(
        raw, "instance_id", "tools_host.instance_id", shared.INSTANCE_ID, "an instance id (i-…)"
    )
    instance = None
    if raw.get("instance") is not None:
        spec = r.mapping(raw["instance"], "tools_host.instance")
        allowed = {
            "vpc_id",
            "subnet_id",
            "dc_cidrs",
            "https_egress_cidrs",
            "platform",
            "instance_type",
            "ami_parameter",
            "ami_id",
        }
        r.unknown_keys(spec, allowed, "tools_host.instance")
        vpc = r.string(
            spec, "vpc_id", "tools_host.instance.vpc_id", VPC_ID, "a VPC id (vpc-…)", required=True
        )
        subnet = r.string(
            spec,
            "subnet_id",
            "tools_host.instance.subnet_id",
            SUBNET_ID,
            "a subnet id (subnet-…)",
            required=True,
        )
        dc_cidrs = _cidrs(spec.get("dc_cidrs"), "tools_host.instance.dc_cidrs", r, required=True)
        https = _cidrs(
            spec.get("https_egress_cidrs"), "tools_host.instance.https_egress_cidrs", r, required=False
        )
        platform = spec.get("platform", "linux")
        if platform not in ("linux", "windows"):
            r.problem("tools_host.instance.platform", f"{show(platform)} must be linux or windows")
        instance_type = r.string(
            spec, "instance_type", "tools_host.instance.instance_type", INSTANCE_TYPE, "an instance type"
        )
        ami_parameter = r.string(
            spec,
            "ami_parameter",
            "tools_host.instance.ami_parameter",
            shared.SSM_PARAMETER_NAME,
            "an SSM parameter name (the public parameter holding the AMI id)",
        )
        ami_id = r.string(spec, "ami_id", "tools_host.instance.ami_id", AMI_ID, "an AMI id (ami-…)")
        if ami_parameter is not None and ami_id is not None:
            r.problem("tools_host.instance", "give ami_parameter or ami_id, not both")
        if vpc and subnet and dc_cidrs:
            instance = ToolsHostInstance(
                vpc,
                subnet,
                dc_cidrs,
                https or ("0.0.0.0/0",),
                str(platform),
                instance_type,
                ami_parameter,
                ami_id,
            )
    return ToolsHostSettings(key, instance, instance_id)


def _dns_ips(value: Any, where: str, r: _Reader) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > 2:
        r.problem(where, "must be a list of one or two IPv4 addresses (the config item holds dnsIP1, dnsIP2)")
        return ()
    result = []
    for index, ip in enumerate(value):
        try:
            result.append(str(ipaddress.IPv4Address(ip if isinstance(ip, str) else "")))
        except ValueError:
            r.problem(f"{where}[{index}]", f"{show(ip)} is not an IPv4 address")
    return tuple(result)


def _check_directory_placement(
    directories: dict[str, Directory],
    directory_network: DirectoryNetworkSettings | None,
    security_account_id: str,
    home_region: str,
    r: _Reader,
) -> None:
    """A `directory_id` is prestaged with ds:CreateComputer from the hub, with the handler's own credentials
    and in its Region: the directory must be in the security account's home Region (docs/handler.md)."""
    if directory_network is None:
        return
    directory = directories.get(directory_network.directory)
    if directory is None or not directory.directory_id:
        return
    if (directory_network.account_id, directory_network.region) != (security_account_id, home_region):
        r.problem(
            f"directories.{directory.name}.directory_id",
            f"the hub prestages through Directory Service only in its own account and Region "
            f"({security_account_id}, {home_region}); directory_network puts this directory in "
            f"{directory_network.account_id}, {directory_network.region}: remove directory_id to prestage "
            "through the tools host",
        )


def _check_config_items(lz: LandingZone, r: _Reader) -> None:
    """Each generated item must pass the handler's own reading (AccountConfig), or synth stops here."""
    partition = partitions.arn_partition(lz.home_region)
    for index, spoke in enumerate(lz.spokes):
        if spoke.directory is None:
            continue
        item = config_item(lz, spoke, lz.directories[spoke.directory])
        try:
            AccountConfig.from_item(spoke.account_id, item, lz.spoke_role_name, partition)
        except ConfigInvalidError as error:
            r.problem(f"spokes[{index}].directory", f"the handler would refuse the config item: {error}")
    if r.problems:
        raise LandingZoneError(r.problems)


IDENTITY_KEYS = {
    "account_id", "region", "role_name", "instance_arn", "identity_store_id", "permission_sets", "entra",
}  # fmt: skip
PERMISSION_SET_KEYS = {"session_duration", "tags", "assignments"}
PERMISSION_SET_DEFAULT_DURATIONS = {
    naming.AD_ADMINISTRATORS_PERMISSION_SET: "PT1H",  # administrators: short sessions
    naming.Q_DEVELOPER_PERMISSION_SET: "PT8H",  # a working day in the IDE and console
}
ENTRA_KEYS = {
    "tenant_id", "saml", "application_name", "gallery_template", "scim", "synchronization_template_id",
    "provisioning_rule_id", "notification_emails",
}  # fmt: skip


def _identity(
    value: Any,
    r: _Reader,
    security_account_id: str | None,
    home_region: str | None,
    role_name: str,
    spokes: list[Spoke],
    directory_network: DirectoryNetworkSettings | None,
) -> IdentitySettings | None:
    """`identity`: the management (or delegated administrator) account's permission sets and assignments."""
    if value is None:
        return None
    where = "identity"
    raw = r.mapping(value, where)
    r.unknown_keys(raw, IDENTITY_KEYS, where)
    account = r.account_id(raw, "account_id", f"{where}.account_id")
    region = r.region(raw, "region", f"{where}.region", default=home_region)
    assumed = r.string(
        raw, "role_name", f"{where}.role_name", ROLE_NAME, "an IAM role name", default=role_name
    )
    instance_arn = r.string(
        raw, "instance_arn", f"{where}.instance_arn", SSO_INSTANCE_ARN, "an IAM Identity Center instance ARN"
    )
    store = r.string(
        raw,
        "identity_store_id",
        f"{where}.identity_store_id",
        IDENTITY_STORE_ID,
        "an identity store id (d-…)",
    )
    if ("instance_arn" in raw) != ("identity_store_id" in raw):
        r.problem(
            f"{where}.instance_arn",
            "give instance_arn and identity_store_id together (or neither: looked up)",
        )
    if instance_arn and region and not instance_arn.startswith(f"arn:{partitions.arn_partition(region)}:"):
        r.problem(f"{where}.instance_arn", f"not in the partition of {region}")
    # where assignments may point: an account id, or a stack of this file (its account)
    stacks = {naming.HUB_STACK: security_account_id}
    stacks |= {naming.spoke_stack_name(s.account_id): s.account_id for s in spokes}
    if directory_network is not None:
        stacks[naming.DIRECTORY_NETWORK_STACK] = directory_network.account_id
    sets_raw = r.mapping(raw.get("permission_sets"), f"{where}.permission_sets")
    known = set(PERMISSION_SET_DEFAULT_DURATIONS)
    r.unknown_keys(sets_raw, known, f"{where}.permission_sets")
    if not sets_raw:
        r.problem(f"{where}.permission_sets", f"name at least one of {', '.join(sorted(known))}")
    permission_sets = []
    for name in sorted(set(sets_raw) & known):
        at = f"{where}.permission_sets.{name}"
        spec = r.mapping(sets_raw[name], at)
        r.unknown_keys(spec, PERMISSION_SET_KEYS, at)
        duration = spec.get("session_duration", PERMISSION_SET_DEFAULT_DURATIONS[name])
        if problem := naming.session_duration_problem(duration):
            r.problem(f"{at}.session_duration", problem)
        tags = r.tags(spec.get("tags"), f"{at}.tags")
        assignments = []
        for group, targets in r.mapping(spec.get("assignments"), f"{at}.assignments").items():
            place = f"{at}.assignments.{str(group)[:MAX_SHOWN]}"
            if not isinstance(group, str) or not GROUP_DISPLAY_NAME.fullmatch(group):
                r.problem(place, "a group display name is 1-1024 printable characters")
                continue
            accounts = _assignment_accounts(targets, place, stacks, r)
            if accounts:
                assignments.append((group, accounts))
        if name == naming.AD_ADMINISTRATORS_PERMISSION_SET and directory_network is None:
            r.problem(
                at, "needs directory_network: its policy is that unit's AD-admin port-forwarding policy"
            )
        permission_sets.append(
            PermissionSetSettings(name, str(duration), tuple(sorted(tags.items())), tuple(assignments))
        )
    entra = _entra(raw.get("entra"), f"{where}.entra", r)
    if not (account and region and assumed):
        return None
    return IdentitySettings(account, region, assumed, tuple(permission_sets), instance_arn, store, entra)


def _assignment_accounts(
    targets: Any, where: str, stacks: dict[str, str | None], r: _Reader
) -> tuple[str, ...]:
    """The accounts of `[account id or stack name, ...]`, each once."""
    if not isinstance(targets, list) or not targets:
        r.problem(where, "must list accounts (12-digit ids) or stacks of this file (spoke-<id>, hub, ...)")
        return ()
    result: list[str] = []
    for index, target in enumerate(targets):
        account = (
            target if isinstance(target, str) and ACCOUNT_ID.fullmatch(target) else stacks.get(str(target))
        )
        if account is None:
            known = ", ".join(sorted(stacks))
            r.problem(f"{where}[{index}]", f"{show(target)} is neither an account id nor a stack ({known})")
        elif account in result:
            r.problem(f"{where}[{index}]", f"account {account} is listed twice")
        else:
            result.append(account)
    return tuple(result)


def _entra(value: Any, where: str, r: _Reader) -> EntraSettings | None:
    if value is None:
        return None
    raw = r.mapping(value, where)
    r.unknown_keys(raw, ENTRA_KEYS, where)
    tenant = r.string(
        raw, "tenant_id", f"{where}.tenant_id", GUID, "an Entra tenant id (a GUID)", required=True
    )
    saml = r.mapping(raw.get("saml"), f"{where}.saml")
    r.unknown_keys(saml, {"entity_id", "acs_url"}, f"{where}.saml")
    entity = r.string(saml, "entity_id", f"{where}.saml.entity_id", HTTPS_URL, "an https URL", required=True)
    acs = r.string(saml, "acs_url", f"{where}.saml.acs_url", HTTPS_URL, "an https URL", required=True)
    names = {
        key: r.string(
            raw, key, f"{where}.{key}", DISPLAY_NAME, "a display name (1-256 characters)", default=default
        )
        for key, default in (
            ("application_name", naming.ENTRA_APPLICATION_NAME),
            ("gallery_template", naming.ENTRA_GALLERY_TEMPLATE),
        )
    }
    template = r.string(
        raw,
        "synchronization_template_id",
        f"{where}.synchronization_template_id",
        SYNCHRONIZATION_TEMPLATE_ID,
        "a synchronization template id",
        default=naming.ENTRA_SYNCHRONIZATION_TEMPLATE,
    )
    rule = r.string(
        raw,
        "provisioning_rule_id",
        f"{where}.provisioning_rule_id",
        GUID,
        "a synchronization rule id (GUID)",
        default=naming.ENTRA_PROVISIONING_RULE,
    )
    emails = _ids(
        raw.get("notification_emails"), f"{where}.notification_emails", EMAIL, "an email address", r
    )
    scim = r.boolean(raw, "scim", f"{where}.scim", True)
    if not (tenant and entity and acs):
        return None
    return EntraSettings(
        tenant, entity, acs, str(names["application_name"]), str(names["gallery_template"]), scim,
        str(template), str(rule), emails,
    )  # fmt: skip
