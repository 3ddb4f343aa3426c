"""The landing zone's `identity` section: parsed and checked before cdktf, one line per problem (no synth)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from modules import naming
from modules.landing_zone import LandingZoneError, load_landing_zone

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "landing-zone-identity.yaml"


def _data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return data


def _problems(tmp_path: Path, data: dict[str, Any]) -> list[str]:
    path = tmp_path / "lz.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(LandingZoneError) as error:
        load_landing_zone(path)
    prefix = f"{path}: "
    assert all(p.startswith(prefix) for p in error.value.problems)
    return [p.removeprefix(prefix) for p in error.value.problems]


def test_the_example_plans_the_entra_stack_before_the_identity_stack() -> None:
    lz = load_landing_zone(EXAMPLE)
    assert lz.identity is not None and lz.identity.entra is not None
    names = [name for name, _, _ in lz.stack_plan()]
    assert names[-2:] == [naming.ENTRA_STACK, naming.IDENTITY_STACK]
    # stack names resolve to their accounts; an account id stays itself
    assignments = {s.name: dict(s.assignments) for s in lz.identity.permission_sets}
    assert assignments == {
        "ADAdministrators": {"AD Administrators": ("444444444444",)},
        "AmazonQDeveloperUsers": {"Amazon Q Developers": ("222222222222", "444444444444")},
    }
    assert lz.identity.groups == ("AD Administrators", "Amazon Q Developers")


def test_session_durations_default_per_permission_set(tmp_path: Path) -> None:
    data = _data()
    for spec in data["identity"]["permission_sets"].values():
        spec.pop("session_duration", None)
    path = tmp_path / "lz.yaml"
    path.write_text(yaml.safe_dump(data))
    lz = load_landing_zone(path)
    assert lz.identity is not None
    assert {s.name: s.session_duration for s in lz.identity.permission_sets} == {
        "ADAdministrators": "PT1H",
        "AmazonQDeveloperUsers": "PT8H",
    }


def test_every_problem_of_the_section_is_one_line(tmp_path: Path) -> None:
    data = _data()
    identity = data["identity"]
    identity["instance_arn"] = "arn:aws:sso:::instance/ssoins-0123456789abcdef"  # without identity_store_id
    sets = identity["permission_sets"]
    sets["PowerUsers"] = {}
    sets["AmazonQDeveloperUsers"]["session_duration"] = "PT13H"
    sets["AmazonQDeveloperUsers"]["assignments"]["Amazon Q Developers"] = ["spoke-999999999998", "12"]
    identity["entra"]["tenant_id"] = "contoso"
    identity["entra"]["saml"].pop("acs_url")
    problems = _problems(tmp_path, data)
    where = "identity.permission_sets"
    q_targets = f"{where}.AmazonQDeveloperUsers.assignments.Amazon Q Developers"
    assert sorted(problems) == sorted(
        [
            "identity.instance_arn: give instance_arn and identity_store_id together (or neither: looked up)",
            f"{where}.PowerUsers: unknown field (allowed: ADAdministrators, AmazonQDeveloperUsers)",
            f"{where}.AmazonQDeveloperUsers.session_duration: PT13H is 46800 s: IAM Identity Center accepts "
            "PT1H to PT12H",
            f"{q_targets}[0]: 'spoke-999999999998' is neither an account id nor a stack (directory-network, "
            "hub, spoke-222222222222)",
            f"{q_targets}[1]: '12' is neither an account id nor a stack (directory-network, hub, "
            "spoke-222222222222)",
            "identity.entra.tenant_id: 'contoso' is not an Entra tenant id (a GUID)",
            "identity.entra.saml.acs_url: missing (required)",
        ]
    )


def test_ad_administrators_need_the_directory_network(tmp_path: Path) -> None:
    data = _data()
    del data["directory_network"]
    del data["spokes"][0]["vpcs"]
    data["identity"]["permission_sets"]["ADAdministrators"]["assignments"] = {"AD Administrators": ["hub"]}
    assert _problems(tmp_path, data) == [
        "identity.permission_sets.ADAdministrators: needs directory_network: its policy is that unit's "
        "AD-admin port-forwarding policy"
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"account_id": 999}, "identity.account_id: 999 is not a 12-digit account id"),
        ({"permission_sets": {}}, "identity.permission_sets: name at least one of"),
        ({"identity_store_id": "store", "instance_arn": "arn:aws:sso:::instance/ssoins-0123456789abcdef"},
         "identity.identity_store_id: 'store' is not an identity store id"),
        ({"instance_arn": "arn:aws-cn:sso:::instance/ssoins-0123456789abcdef",
          "identity_store_id": "d-0123456789"},
         "identity.instance_arn: not in the partition of eu-west-1"),
        ({"entra": {"tenant_id": "00000000-0000-0000-0000-000000000000", "saml": {
            "entity_id": "http://plain.example.com", "acs_url": "https://ok.example.com/acs"}}},
         "identity.entra.saml.entity_id: 'http://plain.example.com' is not an https URL"),
        ({"colour": "blue"}, "identity.colour: unknown field"),
    ],
)  # fmt: skip
def test_each_bad_field_names_itself(tmp_path: Path, change: dict[str, Any], expected: str) -> None:
    data = _data()
    data["identity"] |= change
    problems = _problems(tmp_path, data)
    assert [p for p in problems if p.startswith(expected)], problems


def test_a_group_may_not_list_an_account_twice(tmp_path: Path) -> None:
    data = _data()
    data["identity"]["permission_sets"]["AmazonQDeveloperUsers"]["assignments"] = {
        "Amazon Q Developers": ["spoke-222222222222", "222222222222"]
    }
    assert _problems(tmp_path, data) == [
        "identity.permission_sets.AmazonQDeveloperUsers.assignments.Amazon Q Developers[1]: account "
        "222222222222 is listed twice"
    ]
