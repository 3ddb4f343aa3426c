"""The landing-zone file `main.py` reads: parsing and validation.

Every problem is collected (not just the first), each as one line naming the
file and the field, so a pipeline run shows everything to fix at once.  Pure
Python (no cdktf), so it is cheap to test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from handlers.domain_join import contract

from .patterns import ACCOUNT_ID, BUCKET, ORGANIZATION_ID, REGION, RESOURCE_NAME, ROLE_NAME, SNS_ARN

DEFAULT_ROLE_NAME = "OrganizationAccountAccessRole"
LOCAL_STATE_FOLDER = "terraform-state"


class LandingZoneError(Exception):
    """The file is invalid; `problems` holds one message per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Spoke:
    account_id: str
    regions: tuple[str, ...]
    role_name: str


@dataclass(frozen=True)
class Backend:
    bucket: str
    key_prefix: str
    region: str


@dataclass(frozen=True)
class ArtifactLocation:
    bucket: str
    key: str
    object_version: str | None


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
    tools_host_tag_key: str = "ADToolsHost"
    tools_host_tag_value: str = "true"
    join_delay_seconds: int = 300
    readiness_deadline_seconds: int = 3600
    max_command_attempts: int = 3
    create_config_table: bool = True
    config_table_name: str = "domain-join-config"
    config_table_billing_mode: str = "PAY_PER_REQUEST"
    ledger_table_name: str = "domain-join-ledger"
    spoke_role_name: str = contract.DEFAULT_SPOKE_ROLE_NAME
    spoke_role_external_id: str | None = None
    alarm_topic_arn: str | None = None
    powertools_layer_version: int = 36
    artifact: ArtifactLocation | None = None
    backend: Backend | None = None
    tags: dict[str, str] = field(default_factory=dict)
    state_dir: Path | None = None  # local state without a backend; default: terraform-state/ beside the file

    @property
    def local_state_dir(self) -> Path:
        """Where stacks without a remote backend keep their state (never inside the output folder)."""
        return self.state_dir if self.state_dir is not None else self.source.parent / LOCAL_STATE_FOLDER

    @property
    def all_regions(self) -> tuple[str, ...]:
        return (self.home_region, *self.extra_regions)

    @property
    def principal_account_ids(self) -> tuple[str, ...]:
        """Accounts allowed on the buses when no organization id is given."""
        return tuple(sorted({self.security_account_id, *(s.account_id for s in self.spokes)}))


TOP_LEVEL_KEYS = {
    "organization_id", "security_account_id", "home_region", "extra_regions", "spokes", "role_name", "name",
    "tools_host_tag", "join_delay_seconds", "readiness_deadline_seconds", "max_command_attempts",
    "config_table", "ledger_table_name", "spoke_role",
    "alarm_topic_arn", "powertools_layer_version", "artifact", "backend", "tags",
}  # fmt: skip


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
            where = f"{field_path}.{key}" if field_path else str(key)
            self.problem(where, f"unknown field (allowed: {', '.join(sorted(allowed))})")

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
        if key not in data or data[key] is None:
            if required:
                self.problem(field_path, "missing (required)")
            return default
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            self.problem(field_path, f"must be {what}, got {value!r}")
            return default
        text = str(value)
        if pattern is not None and not pattern.fullmatch(text):
            hint = (
                " (quote account ids in YAML: leading zeros are lost otherwise)"
                if isinstance(value, int)
                else ""
            )
            self.problem(field_path, f"{value!r} is not {what}{hint}")
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
            if not isinstance(item, str) or not REGION.fullmatch(item):
                self.problem(f"{field_path}[{index}]", f"{item!r} is not an AWS Region name")
            elif item in result:
                self.problem(f"{field_path}[{index}]", f"{item} is listed twice")
            else:
                result.append(item)
        return tuple(result)

    def integer(
        self, data: dict[str, Any], key: str, field_path: str, low: int, high: int, default: int
    ) -> int:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.problem(field_path, f"{value!r} must be an integer between {low} and {high}")
            return default
        return value

    def boolean(self, data: dict[str, Any], key: str, field_path: str, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            self.problem(field_path, f"{value!r} must be true or false")
            return default
        return value


def load_landing_zone(path: Path) -> LandingZone:
    """Read and validate a landing-zone file; raises LandingZoneError listing every problem."""
    reader = _Reader(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LandingZoneError([f"{path}: file not found"]) from None
    except yaml.YAMLError as error:
        raise LandingZoneError([f"{path}: not valid YAML: {error}"]) from None
    if not isinstance(raw, dict):
        raise LandingZoneError([f"{path}: must be a YAML mapping at the top level"])
    return _parse(raw, reader)


def _parse(data: dict[str, Any], r: _Reader) -> LandingZone:
    r.unknown_keys(data, TOP_LEVEL_KEYS, "")
    organization_id = r.string(
        data, "organization_id", "organization_id", ORGANIZATION_ID, "an organization id (o-…)"
    )
    security_account_id = r.account_id(data, "security_account_id", "security_account_id")
    home_region = r.string(data, "home_region", "home_region", REGION, "an AWS Region name", required=True)
    extra_regions = r.regions(data.get("extra_regions"), "extra_regions")
    if home_region and home_region in extra_regions:
        r.problem("extra_regions", f"must not repeat the home Region {home_region}")
    role_name = r.string(
        data, "role_name", "role_name", ROLE_NAME, "an IAM role name", default=DEFAULT_ROLE_NAME
    )
    name = r.string(data, "name", "name", RESOURCE_NAME, "a resource name", default="domain-join")
    known_regions = {home_region, *extra_regions}

    spokes: list[Spoke] = []
    raw_spokes = data.get("spokes")
    if raw_spokes is None:
        raw_spokes = []
    if not isinstance(raw_spokes, list):
        r.problem("spokes", "must be a list of {account_id, regions[, role_name]}")
        raw_spokes = []
    seen_accounts: set[str] = set()
    for index, item in enumerate(raw_spokes):
        where = f"spokes[{index}]"
        entry = r.mapping(item, where)
        r.unknown_keys(entry, {"account_id", "regions", "role_name"}, where)
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
            spokes.append(Spoke(account, tuple(regions), assumed_role or DEFAULT_ROLE_NAME))

    tools_host = r.mapping(data.get("tools_host_tag"), "tools_host_tag")
    r.unknown_keys(tools_host, {"key", "value"}, "tools_host_tag")
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
    r.unknown_keys(raw_backend, {"s3_bucket", "key_prefix", "region"}, "backend")
    if raw_backend:
        state_bucket = r.string(
            raw_backend, "s3_bucket", "backend.s3_bucket", BUCKET, "an S3 bucket name", required=True
        )
        prefix = r.string(
            raw_backend, "key_prefix", "backend.key_prefix", None, "a key prefix", default="ec2-domain-join"
        )
        backend_region = r.string(
            raw_backend, "region", "backend.region", REGION, "an AWS Region name", default=home_region
        )
        if state_bucket and prefix and backend_region:
            backend = Backend(state_bucket, prefix.strip("/"), backend_region)

    tags = r.mapping(data.get("tags"), "tags")
    for key, value in tags.items():
        if not isinstance(key, str) or not isinstance(value, str):
            r.problem(f"tags.{key}", "tag keys and values must be strings")

    lz_fields: dict[str, Any] = {
        "tools_host_tag_key": r.string(
            tools_host, "key", "tools_host_tag.key", None, "a tag key", default="ADToolsHost"
        ),
        "tools_host_tag_value": r.string(
            tools_host, "value", "tools_host_tag.value", None, "a tag value", default="true"
        ),
        "join_delay_seconds": r.integer(data, "join_delay_seconds", "join_delay_seconds", 0, 900, 300),
        "readiness_deadline_seconds": r.integer(
            data, "readiness_deadline_seconds", "readiness_deadline_seconds", 60, 86400, 3600
        ),
        "max_command_attempts": r.integer(data, "max_command_attempts", "max_command_attempts", 1, 10, 3),
        "create_config_table": r.boolean(config_table, "create", "config_table.create", True),
        "config_table_name": r.string(
            config_table,
            "name",
            "config_table.name",
            RESOURCE_NAME,
            "a table name",
            default="domain-join-config",
        ),
        "config_table_billing_mode": billing_mode,
        "ledger_table_name": r.string(
            data,
            "ledger_table_name",
            "ledger_table_name",
            RESOURCE_NAME,
            "a table name",
            default="domain-join-ledger",
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
            spoke_role, "external_id", "spoke_role.external_id", None, "a string"
        ),
        "alarm_topic_arn": r.string(data, "alarm_topic_arn", "alarm_topic_arn", SNS_ARN, "an SNS topic ARN"),
        "powertools_layer_version": r.integer(
            data, "powertools_layer_version", "powertools_layer_version", 1, 10000, 36
        ),
    }
    if organization_id is None and "organization_id" not in data and not spokes:
        r.problem(
            "organization_id", "missing: give organization_id, or list spokes (their accounts are allowed)"
        )
    if r.problems:
        raise LandingZoneError(r.problems)
    if security_account_id is None or home_region is None:  # pragma: no cover - reported above
        raise LandingZoneError([f"{r.source}: incomplete"])
    return LandingZone(
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
        tags={str(k): str(v) for k, v in tags.items()},
        **lz_fields,
    )
