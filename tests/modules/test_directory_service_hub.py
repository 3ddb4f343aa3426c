"""The hub's side of prestaging through Directory Service: `ds:CreateComputer` on exactly the directories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import parliament
import pytest
import yaml
from modules_testlib import SECURITY_ACCOUNT, minimal_hub_props, run_checkov, synthesize_hubs

from handlers.domain_join import contract
from handlers.domain_join.model import AccountConfig
from modules.artifact import S3Artifact
from modules.checkov_skips import CHECKOV_SKIPS
from modules.landing_zone import LandingZoneError, load_landing_zone
from modules.stacks import hub_props
from modules.validation import PropsError

ACCOUNT = SECURITY_ACCOUNT  # the account of minimal_hub_props
DIRECTORIES = ("d-0123456789", "d-abcdef0123")
SID = "PrestageInManagedDirectories"


props = minimal_hub_props


@pytest.fixture(scope="module")
def hubs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, Any]]]:
    """Three hubs synthesized once: two directories (commercial, GovCloud) and none."""
    out = tmp_path_factory.mktemp("ds-hub")
    cases = {
        "directories": ("eu-west-1", DIRECTORIES),
        "govcloud": ("us-gov-west-1", DIRECTORIES[:1]),
        "none": ("eu-west-1", ()),
    }
    given = {name: (region, props(region=region, directory_ids=ids)) for name, (region, ids) in cases.items()}
    return out, synthesize_hubs(out, given)


def handler_policy(stack: dict[str, Any]) -> dict[str, Any]:
    [body] = stack["resource"]["aws_iam_role_policy"].values()
    return dict(json.loads(body["policy"]))


def statements(stack: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in handler_policy(stack)["Statement"]}


def test_the_handler_may_create_computers_in_exactly_the_configured_directories(
    hubs: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    grant = statements(hubs[1]["directories"])[SID]
    assert grant["Effect"] == "Allow"
    assert grant["Action"] == "ds:CreateComputer"
    assert grant["Resource"] == [f"arn:aws:ds:eu-west-1:{ACCOUNT}:directory/{d}" for d in DIRECTORIES]
    assert "Condition" not in grant
    # AND no other statement names Directory Service
    others = [s for sid, s in statements(hubs[1]["directories"]).items() if sid != SID]
    assert not any("ds:" in json.dumps(s["Action"]) for s in others)


def test_the_directory_arns_follow_the_partition(hubs: tuple[Path, dict[str, dict[str, Any]]]) -> None:
    grant = statements(hubs[1]["govcloud"])[SID]
    assert grant["Resource"] == [f"arn:aws-us-gov:ds:us-gov-west-1:{ACCOUNT}:directory/{DIRECTORIES[0]}"]


def test_without_a_directory_id_there_is_no_directory_service_permission(
    hubs: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    text = json.dumps(handler_policy(hubs[1]["none"]))
    assert SID not in text and "ds:" not in text


def test_the_grant_adds_no_parliament_finding(hubs: tuple[Path, dict[str, dict[str, Any]]]) -> None:
    for name in ("directories", "govcloud"):
        grant = statements(hubs[1][name])[SID]
        policy = {"Version": "2012-10-17", "Statement": [grant]}
        findings = parliament.analyze_policy_string(json.dumps(policy)).findings
        assert findings == [], (name, [(f.issue, f.detail) for f in findings])


def test_checkov_finds_nothing_beyond_the_justified_skips(
    hubs: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    terraform_json = run_checkov(hubs[0] / "stacks" / "directories")
    assert terraform_json["summary"]["parsing_errors"] == 0
    failed = {check["check_id"] for check in terraform_json["results"]["failed_checks"]}
    assert failed <= set(CHECKOV_SKIPS)


@pytest.mark.parametrize("bad", [("d-123",), ("D-0123456789",), ("d-0123456789", "d-0123456789")])
def test_invalid_directory_ids_name_the_field(bad: tuple[str, ...]) -> None:
    with pytest.raises(PropsError) as caught:
        props(directory_ids=bad)
    assert caught.value.field.startswith("directory_ids")


# --- the landing zone ----------------------------------------------------------------------------------
def landing_zone(tmp_path: Path, **extra: Any) -> Path:
    data = {
        "organization_id": "o-abcdefghij",
        "security_account_id": ACCOUNT,
        "home_region": "eu-west-1",
        "directories": {
            "managed": {
                "domain": "corp.example.com",
                "dns_ips": ["10.0.0.10"],
                "join_user": "svc-join",
                "join_password_parameter": "/domain-join/join-password",
                "directory_id": DIRECTORIES[0],
            },
            "self-managed": {
                "domain": "lab.example.com",
                "join_user": "svc-join",
                "join_password_parameter": "/domain-join/lab-password",
            },
        },
        "spokes": [
            {"account_id": "222222222222", "regions": ["eu-west-1"], "directory": "managed"},
            {"account_id": "333333333333", "regions": ["eu-west-1"], "directory": "self-managed"},
        ],
        **extra,
    }
    path = tmp_path / "landing-zone.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_landing_zones_directory_ids_reach_the_hub_and_the_config_items(tmp_path: Path) -> None:
    lz = load_landing_zone(landing_zone(tmp_path))
    assert hub_props(lz, S3Artifact("bucket", "key")).directory_ids == (DIRECTORIES[0],)
    items = lz.config_items()
    managed = AccountConfig.from_item("222222222222", items["222222222222"])
    assert managed.directory_id == DIRECTORIES[0]
    assert contract.CONFIG_DIRECTORY_ID not in items["333333333333"]


def test_a_directory_id_of_another_account_is_refused(tmp_path: Path) -> None:
    network = {
        "account_id": "444444444444",
        "directory": "managed",
        "vpc_id": "vpc-0123456789abcdef0",
        "vpc_cidr": "10.0.0.0/16",
        "resolver_subnet_ids": ["subnet-0123456789abcdef1", "subnet-0123456789abcdef2"],
        "clients": {"cidrs": ["10.64.0.0/10"]},
        "admin_role_arns": ["arn:aws:iam::444444444444:role/ad-admins"],
    }
    with pytest.raises(LandingZoneError) as caught:
        load_landing_zone(landing_zone(tmp_path, directory_network=network))
    assert any(": directories.managed.directory_id: " in p for p in caught.value.problems)
