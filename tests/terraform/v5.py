"""What the Terraform tier changes in a configuration before reading it with provider 5.100, offline.

Every adaptation, and why (nothing else is changed: every other argument, block, reference and name is read by
`terraform validate` and `terraform plan` exactly as synthesized or generated).  (1) The per-resource `region`
argument (provider v6 lets one provider configuration place each resource in its own Region) is deleted, and
only from `resource`/`data` blocks whose type has no settable `region` in the mirror provider's own schema
(`terraform providers schema -json`), so it is a no-op with a v6 mirror; the instances then all plan in the
provider's Region, which changes no other argument.  (2) `data.aws_region.<name>.region` becomes `.name`, v5's
attribute for the same value, only while the schema of `aws_region` has no `region`.  (3) The hashicorp/aws
version constraint (stacks pin the bindings' 6.x version, plain modules ask for >= 6.0) is widened to
`WIDENED_AWS_CONSTRAINT`, which admits 5.100 and every later version.  (4) A stack's backend (local state
beside the landing-zone file, or S3) is removed and `init -backend=false` used: a check must neither read nor
write state.  (5) The provider configuration is made offline: static dummy credentials, `max_retries = 1`
and the skip flags `skip_credentials_validation`, `skip_requesting_account_id`, `skip_metadata_api_check`,
`skip_region_validation`; `assume_role` is removed (configuring it calls STS AssumeRole) and so is
`allowed_account_ids` (checking it needs the caller's account from STS); `region` and `default_tags` stay.
(6) The provider's STS endpoint is a stub on 127.0.0.1 (`tfcli.StsStub`): an `aws_caller_identity` data
source reads STS GetCallerIdentity at plan time whatever the skip flags, and the stub answers with the stack's
own account (its `allowed_account_ids`), so account-derived names and ARNs are those of a real deployment;
every other AWS endpoint points at the stub too (AWS_ENDPOINT_URL), which refuses any other call.
A plain module is adapted in a copy (1 and 2 in its files, 3 through an override file); its example consumer
keeps its provider blocks and gets 5 and 6 through an override file, one block per provider configuration (the
default and each alias, as a consumer that calls a module once per Region has; consumers assume no role by
default).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2

WIDENED_AWS_CONSTRAINT = ">= 5.100.0"
OVERRIDE_FILE = "zz_terraform_tier_override.tf.json"
DUMMY_ACCESS_KEY = "AKIAOFFLINEPLANTIER0"
DUMMY_SECRET_KEY = "offline-plan-dummy-secret-key"
OFFLINE_SETTINGS: dict[str, Any] = {
    "access_key": DUMMY_ACCESS_KEY,
    "secret_key": DUMMY_SECRET_KEY,
    "skip_credentials_validation": True,
    "skip_requesting_account_id": True,
    "skip_metadata_api_check": True,
    "skip_region_validation": True,
    "max_retries": 1,
}
# Provider arguments that need AWS (assume_role, allowed_account_ids) or name other credentials.
DROPPED_PROVIDER_ARGUMENTS = frozenset(
    {
        "assume_role",
        "assume_role_with_web_identity",
        "allowed_account_ids",
        "forbidden_account_ids",
        "profile",
        "shared_config_files",
        "shared_credentials_files",
        "token",
        "endpoints",
    }
)
AWS_REGION_ATTRIBUTE = re.compile(r"\bdata\.aws_region\.([A-Za-z_][A-Za-z0-9_-]*)\.region(?![A-Za-z0-9_-])")
HCL_BLOCK_HEADER = re.compile(r'^[ \t]*(resource|data)[ \t]+"([^"]+)"[ \t]+"([^"]+)"[ \t]*\{', re.MULTILINE)
HCL_REGION_ATTRIBUTE = re.compile(r"^[ \t]*region[ \t]*=", re.MULTILINE)
HEREDOC_OPENER = re.compile(r"<<-?([A-Za-z_][A-Za-z0-9_-]*)[ \t]*\r?\n")


@dataclass(frozen=True)
class Schema:
    """Which block types accept a `region` argument, and which attributes `data.aws_region` has."""

    settable_region: frozenset[tuple[str, str]]  # ("resource" | "data", type)
    aws_region_attributes: frozenset[str]

    @classmethod
    def from_provider_schema(cls, schema: dict[str, Any]) -> Schema:
        settable = set()
        for kind, key in (("resource", "resource_schemas"), ("data", "data_source_schemas")):
            for type_name, type_schema in schema[key].items():
                region = type_schema["block"].get("attributes", {}).get("region", {})
                if region.get("optional") or region.get("required"):
                    settable.add((kind, type_name))
        aws_region = schema["data_source_schemas"]["aws_region"]["block"].get("attributes", {})
        return cls(frozenset(settable), frozenset(aws_region))

    def strips_region(self, kind: str, type_name: str) -> bool:
        return (kind, type_name) not in self.settable_region

    @property
    def maps_aws_region_name(self) -> bool:
        return "region" not in self.aws_region_attributes


def map_aws_region_attribute(text: str, schema: Schema) -> str:
    """Adaptation 2, on JSON or HCL text alike."""
    if not schema.maps_aws_region_name:
        return text
    return AWS_REGION_ATTRIBUTE.sub(r"data.aws_region.\1.name", text)


def strip_region_json(config: dict[str, Any], schema: Schema) -> list[str]:
    """Adaptation 1 on a JSON configuration, in place; returns the addresses it changed."""
    stripped = []
    for kind, prefix in (("resource", ""), ("data", "data.")):
        for type_name, blocks in config.get(kind, {}).items():
            for name, body in blocks.items():
                for block in body if isinstance(body, list) else [body]:
                    if "region" in block and schema.strips_region(kind, type_name):
                        del block["region"]
                        stripped.append(f"{prefix}{type_name}.{name}")
    return stripped


def _string_end(text: str, start: int) -> int:
    """Index just past the quoted template starting at `start` (a '"'), nested interpolations included."""
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
        elif char == '"':
            return i + 1
        elif text.startswith(("${", "%{"), i) and not text.startswith(("$${", "%%{"), i - 1):
            i = _code_end(text, i + 2, "}")
        else:
            i += 1
    return i


def _code_end(text: str, start: int, closer: str) -> int:
    """Index just past the `closer` that ends the expression code starting at `start`."""
    depth, i = 0, start
    while i < len(text):
        char = text[i]
        if char == '"':
            i = _string_end(text, i)
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            if depth == 0 and closer == "}":
                return i + 1
            depth -= 1
        i += 1
    return i


def mask_hcl(text: str) -> str:
    """`text` with comments, string contents and heredoc bodies blanked (same length, newlines kept), so
    braces and `name =` can be found by position without mistaking text inside strings for structure."""
    out = list(text)

    def blank(begin: int, end: int) -> None:
        for k in range(begin, min(end, len(text))):
            if out[k] != "\n":
                out[k] = " "

    i = 0
    while i < len(text):
        if text[i] == "#" or text.startswith("//", i):
            end = text.find("\n", i)
            end = len(text) if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = len(text) if end < 0 else end + 2
        elif text[i] == '"':
            end = _string_end(text, i)
            blank(i + 1, end - 1)
            i = end
            continue
        elif heredoc := HEREDOC_OPENER.match(text, i):
            marker, end = heredoc.group(1), heredoc.end()
            while end < len(text):
                line_end = text.find("\n", end)
                line_end = len(text) if line_end < 0 else line_end
                if text[end:line_end].strip() == marker:
                    end = line_end
                    break
                end = line_end + 1
            blank(heredoc.end(), end)
            i = end
            continue
        else:
            i += 1
            continue
        blank(i, end)
        i = end
    return "".join(out)


def strip_region_hcl(text: str, schema: Schema) -> tuple[str, list[str]]:
    """Adaptation 1 on HCL text: deletes the lines of each top-level `region = ...` argument of the
    resource/data blocks whose type has no settable region; returns the new text and the changed addresses."""
    masked = mask_hcl(text)
    cuts: list[tuple[int, int]] = []
    stripped = []
    for header in HCL_BLOCK_HEADER.finditer(masked):
        kind = header.group(1)
        type_name, name = (
            text[header.start(group) : header.end(group)] for group in (2, 3)
        )  # blank in `masked`
        body_start = header.end()
        body_end = _code_end(masked, body_start, "}") - 1
        if not schema.strips_region(kind, type_name):
            continue
        for attribute in HCL_REGION_ATTRIBUTE.finditer(masked, body_start, body_end):
            if _depth(masked, body_start, attribute.start()) != 0:
                continue  # inside a nested block or expression
            line_start = masked.rfind("\n", 0, attribute.start()) + 1
            end = attribute.end()
            depth = 0
            while end < body_end and not (masked[end] == "\n" and depth == 0):
                depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(masked[end], 0)
                end += 1
            cuts.append((line_start, min(end + 1, len(text))))
            stripped.append(f"{'data.' if kind == 'data' else ''}{type_name}.{name}")
    for begin, end in sorted(cuts, reverse=True):
        text = text[:begin] + text[end:]
    return text, stripped


def _depth(masked: str, begin: int, end: int) -> int:
    depth = 0
    for char in masked[begin:end]:
        depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(char, 0)
    return depth


def offline_provider(original: dict[str, Any], sts_endpoint: str) -> dict[str, Any]:
    """Adaptations 5 and 6 for one provider configuration block."""
    kept = {key: value for key, value in original.items() if key not in DROPPED_PROVIDER_ARGUMENTS}
    return {**kept, **OFFLINE_SETTINGS, "endpoints": [{"sts": sts_endpoint}]}


def stack_account(config: dict[str, Any]) -> str | None:
    """The account a stack deploys to (its AWS provider's allowed_account_ids), if it names one."""
    providers = config.get("provider", {}).get("aws", [])
    for block in providers if isinstance(providers, list) else [providers]:
        accounts = block.get("allowed_account_ids") or []
        if len(accounts) == 1:
            return str(accounts[0])
    return None


@dataclass
class Adapted:
    config: dict[str, Any]
    region_stripped: list[str]


def adapt_stack(config: dict[str, Any], schema: Schema, sts_endpoint: str) -> Adapted:
    """Adaptations 1 to 6 on a synthesized stack (cdk.tf.json), returning a new configuration."""
    adapted: dict[str, Any] = json.loads(map_aws_region_attribute(json.dumps(config), schema))
    stripped = strip_region_json(adapted, schema)
    terraform = adapted.setdefault("terraform", {})
    terraform.pop("backend", None)
    terraform.setdefault("required_providers", {}).setdefault("aws", {"source": "hashicorp/aws"})
    terraform["required_providers"]["aws"]["version"] = WIDENED_AWS_CONSTRAINT
    providers = adapted.get("provider", {}).get("aws", [{}])
    blocks = providers if isinstance(providers, list) else [providers]
    adapted.setdefault("provider", {})["aws"] = [offline_provider(block, sts_endpoint) for block in blocks]
    return Adapted(adapted, stripped)


def adapt_module_dir(directory: Path, schema: Schema) -> list[str]:
    """Adaptations 1 to 3 on a copy of a plain module (JSON or HCL files), in place."""
    stripped = []
    for path in sorted(directory.glob("*.tf.json")):
        config = json.loads(map_aws_region_attribute(path.read_text(), schema))
        stripped += strip_region_json(config, schema)
        path.write_text(json.dumps(config, indent=2))
    for path in sorted(directory.glob("*.tf")):
        text, changed = strip_region_hcl(map_aws_region_attribute(path.read_text(), schema), schema)
        stripped += changed
        path.write_text(text)
    (directory / OVERRIDE_FILE).write_text(json.dumps(version_override(), indent=2))
    return stripped


def version_override() -> dict[str, Any]:
    return {
        "terraform": {
            "required_providers": {"aws": {"source": "hashicorp/aws", "version": WIDENED_AWS_CONSTRAINT}}
        }
    }


def consumer_override(sts_endpoint: str, aliases: Sequence[str] = ()) -> dict[str, Any]:
    """Override file for an example consumer: adaptations 3, 5 and 6 merged into its own blocks (override
    files merge argument by argument, so `null` unsets allowed_account_ids).  An override provider block
    merges with the block of the same alias only: one block each for the default `aws` provider and for
    every alias in `aliases` (a consumer with one provider configuration per Region)."""
    settings = {**OFFLINE_SETTINGS, "allowed_account_ids": None, "endpoints": [{"sts": sts_endpoint}]}
    if not aliases:
        return {**version_override(), "provider": {"aws": settings}}
    blocks = [settings, *({"alias": alias, **settings} for alias in aliases)]
    return {**version_override(), "provider": {"aws": blocks}}


def aws_provider_aliases(directory: Path) -> list[str]:
    """The aliases of the `aws` provider blocks in a root module's .tf files (python-hcl2 keeps quotes)."""
    aliases = set()
    for path in sorted(directory.glob("*.tf")):
        for block in hcl2.loads(path.read_text()).get("provider", []):
            for name, body in block.items():
                if name.strip('"') == "aws" and "alias" in body:
                    aliases.add(str(body["alias"]).strip('"'))
    return sorted(aliases)
