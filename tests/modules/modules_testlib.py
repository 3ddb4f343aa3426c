"""Shared data and helpers of the module tests (imported by conftest and the tests)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modules.hub import HubProps

ORG_ID = "o-testorg1234"
SECURITY_ACCOUNT = "111111111111"
HOME_REGION = "eu-west-1"
EXTRA_REGIONS = ["eu-central-1", "us-east-1"]
SPOKE_SMALL = "222222222222"
SPOKE_WIDE = "333333333333"
SECURITY_SPOKE_EXTRA_REGION = "us-east-1"


def organization_landing_zone() -> dict[str, Any]:
    return {
        "organization_id": ORG_ID,
        "security_account_id": SECURITY_ACCOUNT,
        "home_region": HOME_REGION,
        "extra_regions": list(EXTRA_REGIONS),
        "tools_host_tag": {"key": "ADToolsHost", "value": "true"},
        "join_delay_seconds": 240,
        "alarm_topic_arn": f"arn:aws:sns:{HOME_REGION}:{SECURITY_ACCOUNT}:ops-alerts",
        "tags": {"Project": "ec2-domain-join-tests"},
        "spokes": [
            {"account_id": SPOKE_SMALL, "regions": [HOME_REGION]},
            {
                "account_id": SPOKE_WIDE,
                "regions": [HOME_REGION, *EXTRA_REGIONS],
                "role_name": "AWSControlTowerExecution",
            },
            # the security account enrolled for its own instances (documents + execution role only)
            {"account_id": SECURITY_ACCOUNT, "regions": [HOME_REGION, SECURITY_SPOKE_EXTRA_REGION]},
        ],
    }


def account_list_landing_zone() -> dict[str, Any]:
    """No organization id: explicit accounts, provisioned table, S3 artifact and backend, external id."""
    return {
        "security_account_id": SECURITY_ACCOUNT,
        "home_region": HOME_REGION,
        "spoke_role": {"name": "domain-join-exec", "external_id": "landing-zone-7"},
        "readiness_deadline_seconds": 86400,
        "max_command_attempts": 5,
        "config_table": {"name": "existing-config", "create": True, "billing_mode": "PROVISIONED"},
        "artifact": {
            "s3_bucket": "artifacts-bucket",
            "s3_key": "domain_join.zip",
            "s3_object_version": "v42",
        },
        "backend": {"s3_bucket": "state-bucket", "key_prefix": "edj", "region": HOME_REGION},
        "spokes": [{"account_id": SPOKE_SMALL, "regions": [HOME_REGION]}],
    }


@dataclass
class SynthesizedApp:
    outdir: Path
    stacks: dict[str, dict[str, Any]]

    def stack(self, name: str) -> dict[str, Any]:
        return self.stacks[name]

    def resources(self, stack: str, resource_type: str) -> dict[str, dict[str, Any]]:
        return self.stacks[stack].get("resource", {}).get(resource_type, {})

    def resource(self, stack: str, resource_type: str, name_part: str = "") -> dict[str, Any]:
        matches = [body for name, body in self.resources(stack, resource_type).items() if name_part in name]
        assert len(matches) == 1, f"{resource_type} {name_part!r} in {stack}: {len(matches)} matches"
        return matches[0]


@dataclass
class LandingZones:
    org: SynthesizedApp
    accounts: SynthesizedApp
    org_config: Path
    accounts_config: Path

    def all_apps(self) -> Iterator[SynthesizedApp]:
        yield self.org
        yield self.accounts


def load_stacks(outdir: Path) -> dict[str, dict[str, Any]]:
    return {
        path.parent.name: json.loads(path.read_text())
        for path in sorted((outdir / "stacks").glob("*/cdk.tf.json"))
    }


def synthesize_landing_zone(config: Path, outdir: Path) -> SynthesizedApp:
    """Every stack of the landing-zone file `config`, synthesized into `outdir` (its zip beside it)."""
    from modules.landing_zone import load_landing_zone
    from modules.stacks import build_app

    build_app(
        load_landing_zone(config), outdir, outdir.with_name(f"{outdir.name}-artifact") / "domain_join.zip"
    ).synth()
    return SynthesizedApp(outdir, load_stacks(outdir))


def minimal_hub_props(**changes: Any) -> HubProps:
    """A hub's props with only the required fields (account 111111111111, eu-west-1), then ``changes``."""
    from modules.artifact import S3Artifact
    from modules.hub import HubProps

    base: dict[str, Any] = {
        "account_id": SECURITY_ACCOUNT,
        "region": HOME_REGION,
        "artifact": S3Artifact("bucket", "key"),
        "organization_id": "o-abcdefghij",
    }
    return HubProps(**(base | changes))


def synthesize_hubs(outdir: Path, hubs: Mapping[str, tuple[str, HubProps]]) -> dict[str, dict[str, Any]]:
    """One stack per ``name: (provider Region, hub props)``, synthesized at once into ``outdir``; by name."""
    from cdktf_cdktf_provider_aws.provider import AwsProvider

    from modules.cdk import App, TerraformStack
    from modules.hub import Hub

    app = App(outdir=str(outdir))
    for name, (region, props) in hubs.items():
        stack = TerraformStack(app, name)
        AwsProvider(stack, "aws", region=region)
        Hub(stack, "hub", props)
    app.synth()
    return {name: json.loads((outdir / "stacks" / name / "cdk.tf.json").read_text()) for name in hubs}


REPOSITORY = Path(__file__).resolve().parents[2]
CHECKOV = REPOSITORY / ".venv-checkov" / "bin" / "checkov"  # `make test` creates .venv-checkov


def run_checkov(directory: Path, framework: str = "terraform_json") -> dict[str, Any]:
    """checkov's `framework` runner on `directory` (terraform_json: stacks; terraform: HCL modules), no skips
    applied: its one report (fails the test when checkov is not installed)."""
    import pytest

    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: run `make test` (it creates .venv-checkov)")
    command = [str(CHECKOV), "--framework", framework, "--skip-download", "--compact", "--quiet"]
    command += ["-o", "json", "-d", str(directory)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    report = json.loads(result.stdout)
    [single] = report if isinstance(report, list) else [report]
    assert single["check_type"] == framework
    return dict(single)


def parse_policy(text: str) -> dict[str, Any]:
    """A policy argument as IAM JSON (concrete stacks carry plain JSON text)."""
    assert not text.startswith("${jsonencode"), "concrete stacks must carry readable JSON policies"
    return json.loads(text)


def unescape_terraform(text: str) -> str:
    return text.replace("$${", "${").replace("%%{", "%{")


def statements_by_sid(policy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in policy["Statement"]}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


TERRAFORM_REF = re.compile(r"\$\{([^}]*)\}")
