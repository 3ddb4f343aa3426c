"""The landing-zone file: valid input loads, every problem is reported with file and field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from modules_testlib import ORG_ID, SECURITY_ACCOUNT, organization_landing_zone

import main
from modules.landing_zone import (
    DEFAULT_ROLE_NAME,
    MAX_EXPANDED_NODES,
    MAX_SHOWN,
    LandingZoneError,
    load_landing_zone,
)

EXAMPLE = Path(main.__file__).parent / "examples" / "landing-zone.yaml"

WriteLz = Callable[[dict[str, Any], str], Path]


def problems_for(write_landing_zone: WriteLz, data: dict[str, Any]) -> list[str]:
    path = write_landing_zone(data, "invalid.yaml")
    with pytest.raises(LandingZoneError) as caught:
        load_landing_zone(path)
    assert all(problem.startswith(f"{path}: ") for problem in caught.value.problems)
    return caught.value.problems


def test_example_landing_zone_loads() -> None:
    lz = load_landing_zone(EXAMPLE)
    assert lz.organization_id and lz.spokes and lz.home_region not in lz.extra_regions


def test_valid_file_gives_typed_values_and_defaults(write_landing_zone: WriteLz) -> None:
    # GIVEN a landing zone where one spoke overrides the role to assume
    lz = load_landing_zone(write_landing_zone(organization_landing_zone(), "ok.yaml"))
    # THEN fields are parsed and defaults applied
    assert lz.organization_id == ORG_ID and lz.security_account_id == SECURITY_ACCOUNT
    assert lz.join_delay_seconds == 240
    assert (lz.readiness_deadline_seconds, lz.max_command_attempts) == (3600, 3)  # not given: the defaults
    roles = {spoke.account_id: spoke.role_name for spoke in lz.spokes}
    assert roles == {
        "222222222222": DEFAULT_ROLE_NAME,
        "333333333333": "AWSControlTowerExecution",
        SECURITY_ACCOUNT: DEFAULT_ROLE_NAME,
    }


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"organization_id": "org-123"}, "organization_id", "organization id"),
        ({"security_account_id": "12345"}, "security_account_id", "12-digit"),
        ({"home_region": "europe-1"}, "home_region", "Region"),
        ({"extra_regions": ["eu-central-1", "mars-north-1x"]}, "extra_regions[1]", "Region"),
        ({"join_delay_seconds": 1000}, "join_delay_seconds", "between 0 and 900"),
        ({"readiness_deadline_seconds": 86401}, "readiness_deadline_seconds", "between 60 and 86400"),
        ({"max_command_attempts": 0}, "max_command_attempts", "between 1 and 10"),
        ({"config_table": {"billing_mode": "CHEAP"}}, "config_table.billing_mode", "PROVISIONED"),
        ({"colour": "blue"}, "colour", "unknown field"),
    ],
)
def test_each_invalid_field_is_named(
    write_landing_zone: WriteLz, change: dict[str, Any], field: str, words: str
) -> None:
    data = organization_landing_zone() | change
    problems = problems_for(write_landing_zone, data)
    assert any(f": {field}: " in p and words in p for p in problems), problems


def test_missing_required_fields_are_named(write_landing_zone: WriteLz) -> None:
    data = organization_landing_zone()
    del data["security_account_id"], data["home_region"]
    data["spokes"][0].pop("regions")
    problems = problems_for(write_landing_zone, data)
    for field in ("security_account_id", "home_region", "spokes[0].regions"):
        assert any(f": {field}: missing" in p for p in problems), (field, problems)


def test_all_problems_are_collected_not_only_the_first(write_landing_zone: WriteLz) -> None:
    data = organization_landing_zone() | {"organization_id": "bad", "home_region": "nowhere"}
    data["spokes"][1]["account_id"] = "33"
    duplicate = len(data["spokes"])
    data["spokes"].append({"account_id": "222222222222", "regions": ["eu-west-1"]})
    problems = problems_for(write_landing_zone, data)
    fields = {p.split(": ")[1] for p in problems}
    expected = {"organization_id", "home_region", "spokes[1].account_id", f"spokes[{duplicate}].account_id"}
    assert expected <= fields


def test_spoke_region_without_a_bus_is_rejected(write_landing_zone: WriteLz) -> None:
    # GIVEN a spoke in a Region that is neither home nor extra: its events would have no bus to go to
    data = organization_landing_zone()
    data["spokes"][0]["regions"] = ["ap-south-1"]
    problems = problems_for(write_landing_zone, data)
    assert any("spokes[0].regions[0]" in p and "extra_regions" in p for p in problems)


def test_security_account_may_be_enrolled_in_home_and_extra_regions_only(write_landing_zone: WriteLz) -> None:
    # GIVEN the security account enrolled in its home Region and one Region that has no forwarder
    data = organization_landing_zone()
    data["spokes"] = [{"account_id": SECURITY_ACCOUNT, "regions": [data["home_region"], "ap-south-1"]}]
    # WHEN the file is read
    problems = problems_for(write_landing_zone, data)
    # THEN exactly the Region outside home + extra Regions is named, with why it cannot work
    assert len(problems) == 1, problems
    assert ": spokes[0].regions[1]: ap-south-1 " in problems[0]
    assert "security account" in problems[0] and "extra_regions" in problems[0]


def test_example_landing_zone_enrolls_the_security_account() -> None:
    lz = load_landing_zone(EXAMPLE)
    [security] = [s for s in lz.spokes if s.account_id == lz.security_account_id]
    assert set(security.regions) <= set(lz.all_regions)


def test_unquoted_account_id_with_lost_leading_zero_is_explained(write_landing_zone: WriteLz) -> None:
    data = organization_landing_zone() | {"security_account_id": 12345678901}
    problems = problems_for(write_landing_zone, data)
    assert any("security_account_id" in p and "quote" in p for p in problems)


def test_main_prints_every_problem_and_exits_non_zero(
    write_landing_zone: WriteLz, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = organization_landing_zone() | {"organization_id": "bad", "security_account_id": "x"}
    path = write_landing_zone(data, "main-invalid.yaml")
    code = main.main([str(path)])
    err = capsys.readouterr().err
    assert code != 0
    assert f"{path}: organization_id:" in err and f"{path}: security_account_id:" in err
    assert "2 problem(s)" in err


def test_main_reports_a_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert main.main([str(missing)]) != 0
    assert f"{missing}: file not found" in capsys.readouterr().err


# --- input AWS would refuse, or that used to pass silently (each fails on the old reader) -------------


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"tags": {"bad!key": "x"}}, "tags.bad!key", "tag key"),
        ({"tags": {"": "x"}}, "tags.", "tag key"),
        ({"tags": {"aws:cost-center": "x"}}, "tags.aws:cost-center", "aws: prefix is reserved"),
        ({"tags": {"Owner": "a#b"}}, "tags.Owner", "tag value"),
        ({"tags": {"Owner": 7}}, "tags.Owner", "tag value"),
        ({"tools_host_tag": {"key": "ADTools#Host"}}, "tools_host_tag.key", "tag key"),
        ({"spoke_role": {"external_id": "x"}}, "spoke_role.external_id", "external id"),
        ({"name": "corp.join"}, "name", "letters, digits and '-'"),
        ({"name": "a" * 45}, "name", "EventBridge rule name"),
        ({"config_table": {"name": "cf"}}, "config_table.name", "DynamoDB table name"),
        (
            {"extra_regions": ["eu-central-1", "xx-fake-9"]},
            "extra_regions[1]",
            "not a Region of any AWS partition",
        ),
        ({"home_region": "eu-fake-1"}, "home_region", "not a Region of any AWS partition"),
        ({"extra_regions": ["cn-north-1"]}, "extra_regions[0]", "cannot cross partitions"),
        ({"backend": {"s3_bucket": "state", "region": "xx-fake-9"}}, "backend.region", "Region"),
        ({"backend": {"s3_bucket": "state", "kms_key_id": "my key"}}, "backend.kms_key_id", "KMS key"),
    ],
)
def test_values_aws_refuses_are_named_before_synth(
    write_landing_zone: WriteLz, change: dict[str, Any], field: str, words: str
) -> None:
    # GIVEN an otherwise valid file with one value AWS (or Terraform) would refuse at apply time
    data = organization_landing_zone() | change
    if "extra_regions" in change or "home_region" in change:
        data["spokes"] = [{"account_id": "222222222222", "regions": [data["home_region"]]}]
    # WHEN it is read, THEN that field is named with the reason
    problems = problems_for(write_landing_zone, data)
    assert any(f": {field}: " in p and words in p for p in problems), problems


def test_a_too_long_name_names_every_generated_name_over_its_limit(write_landing_zone: WriteLz) -> None:
    problems = problems_for(write_landing_zone, organization_landing_zone() | {"name": "n" * 50})
    assert all(": name: " in p for p in problems)
    assert {p.split(": name: ")[1].split(":")[0] for p in problems} >= {
        "EC2 state rule (default)",
        "command failure rule (default)",
        "command failure rule (bus)",
    }


def test_partitions_other_than_aws_are_accepted(write_landing_zone: WriteLz) -> None:
    for home, extra in (("us-gov-west-1", "us-gov-east-1"), ("cn-north-1", "cn-northwest-1")):
        data = organization_landing_zone() | {"home_region": home, "extra_regions": [extra]}
        data["spokes"] = [{"account_id": "222222222222", "regions": [home, extra]}]
        lz = load_landing_zone(write_landing_zone(data, f"{home}.yaml"))
        assert lz.all_regions == (home, extra)


def test_a_null_spoke_entry_is_refused_not_dropped(write_landing_zone: WriteLz, tmp_path: Path) -> None:
    path = write_landing_zone(organization_landing_zone(), "null-spoke.yaml")
    path.write_text(path.read_text().replace("spokes:\n", "spokes:\n- null\n", 1))
    with pytest.raises(LandingZoneError) as caught:
        load_landing_zone(path)
    assert [p for p in caught.value.problems if ": spokes[0]: " in p and "empty entry" in p]


def test_a_duplicate_key_is_refused_with_both_lines(write_landing_zone: WriteLz) -> None:
    path = write_landing_zone(organization_landing_zone(), "duplicate.yaml")
    path.write_text(path.read_text() + "home_region: us-east-1\n")
    with pytest.raises(LandingZoneError) as caught:
        load_landing_zone(path)
    [problem] = caught.value.problems
    assert "duplicate key 'home_region'" in problem and "first at line" in problem


def test_an_alias_bomb_is_refused_and_messages_stay_short(tmp_path: Path) -> None:
    # GIVEN nine levels of nine aliases each: 9**9 values once expanded
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    # WHEN it is read, THEN it is refused in one short line
    with pytest.raises(LandingZoneError) as caught:
        load_landing_zone(path)
    [problem] = caught.value.problems
    assert f"more than {MAX_EXPANDED_NODES} values" in problem and len(problem) < 300
    # AND a large value under a known field is quoted cut short
    small = tmp_path / "small.yaml"
    small.write_text('x: &x ["' + "y" * 5000 + '"]\norganization_id: [*x, *x]\n')
    with pytest.raises(LandingZoneError) as caught:
        load_landing_zone(small)
    [quoted] = [p for p in caught.value.problems if ": organization_id: " in p]
    assert "y" * MAX_SHOWN not in quoted and quoted.endswith("...")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("home_region: eu-west-1\nname: Büro\n".encode("utf-16"), "UTF-16"),
        ("home_region: eu-west-1\ntags: {Owner: Büro}\n".encode("latin-1"), "not UTF-8 (byte 0xfc"),
    ],
)
def test_files_that_are_not_utf8_are_named(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "encoded.yaml"
    path.write_bytes(content)
    with pytest.raises(LandingZoneError) as caught:
        load_landing_zone(path)
    [problem] = caught.value.problems
    assert problem.startswith(f"{path}: ") and words in problem


def test_a_directory_is_named_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(LandingZoneError) as caught:
        load_landing_zone(tmp_path)
    assert caught.value.problems == [f"{tmp_path}: is a directory, not a landing-zone file"]


def test_local_state_dir_is_relative_to_the_file(write_landing_zone: WriteLz) -> None:
    path = write_landing_zone(organization_landing_zone() | {"local_state_dir": "../state"}, "state.yaml")
    assert load_landing_zone(path).local_state_dir == (path.parent.parent / "state").resolve()
    default = load_landing_zone(write_landing_zone(organization_landing_zone(), "default-state.yaml"))
    assert default.local_state_dir == default.source.parent / "terraform-state"
