"""The tier's own logic, without Terraform: the v5 adaptations change exactly what `v5` lists, the mirror is
found where it is, Terraform's errors are read back, and a missing tool skips (fails under CI=true)."""

from __future__ import annotations

import copy
import difflib
import json
from pathlib import Path
from typing import Any

import pytest

from .tfcli import cli_config, find_mirror, parse_errors, unavailable
from .v5 import (
    OVERRIDE_FILE,
    WIDENED_AWS_CONSTRAINT,
    Schema,
    adapt_module_dir,
    adapt_stack,
    consumer_override,
    map_aws_region_attribute,
    strip_region_hcl,
    strip_region_json,
)

# A v5-like schema: only aws_s3_bucket_thing takes a region; aws_region has `name`, not `region`.
V5 = Schema(frozenset({("resource", "aws_s3_bucket_thing")}), frozenset({"name", "endpoint", "id"}))
# A v6-like schema: everything takes a region, aws_region has `region`.
V6 = Schema(
    frozenset({("resource", "aws_sqs_queue"), ("resource", "aws_s3_bucket_thing"), ("data", "aws_ami")}),
    frozenset({"name", "region", "id"}),
)


def stack() -> dict[str, Any]:
    return {
        "terraform": {
            "backend": {"local": {"path": "../../state/hub.tfstate"}},
            "required_providers": {"aws": {"source": "aws", "version": "6.25.0"}},
        },
        "provider": {
            "aws": [
                {
                    "region": "eu-west-1",
                    "allowed_account_ids": ["222222222222"],
                    "assume_role": [{"role_arn": "arn:aws:iam::222222222222:role/R", "session_name": "s"}],
                    "default_tags": [{"tags": {"ManagedBy": "x"}}],
                }
            ]
        },
        "data": {"aws_ami": {"image": {"region": "eu-west-1", "most_recent": True}}},
        "resource": {
            "aws_sqs_queue": {
                "queue": {"for_each": '${toset(["a"])}', "region": "${each.value}", "name": "q"},
                "plain": {"name": "p", "tags": {"region": "kept: a tag, not the argument"}},
            },
            "aws_s3_bucket_thing": {"thing": {"region": "eu-west-1"}},
            "aws_ssm_parameter": {"p": {"value": "${data.aws_region.here.region}", "name": "n"}},
        },
    }


def test_stack_adaptation_changes_only_the_listed_things() -> None:
    original = stack()
    adapted = adapt_stack(copy.deepcopy(original), V5, "http://127.0.0.1:1/222222222222")

    config = adapted.config
    assert sorted(adapted.region_stripped) == ["aws_sqs_queue.queue", "data.aws_ami.image"]
    assert "region" not in config["resource"]["aws_sqs_queue"]["queue"]
    assert config["resource"]["aws_s3_bucket_thing"]["thing"]["region"] == "eu-west-1"  # settable in v5
    assert config["resource"]["aws_sqs_queue"]["plain"] == original["resource"]["aws_sqs_queue"]["plain"]
    assert config["resource"]["aws_ssm_parameter"]["p"]["value"] == "${data.aws_region.here.name}"
    assert "backend" not in config["terraform"]
    assert config["terraform"]["required_providers"]["aws"]["version"] == WIDENED_AWS_CONSTRAINT
    [provider] = config["provider"]["aws"]
    assert provider["region"] == "eu-west-1"
    assert provider["default_tags"] == original["provider"]["aws"][0]["default_tags"]
    assert "assume_role" not in provider and "allowed_account_ids" not in provider
    assert provider["skip_credentials_validation"] and provider["skip_requesting_account_id"]
    assert provider["skip_metadata_api_check"] and provider["skip_region_validation"]
    assert provider["endpoints"] == [{"sts": "http://127.0.0.1:1/222222222222"}]
    # everything not listed is as synthesized
    for key in ("queue", "plain"):
        rest = {k: v for k, v in config["resource"]["aws_sqs_queue"][key].items() if k != "region"}
        assert rest == {k: v for k, v in original["resource"]["aws_sqs_queue"][key].items() if k != "region"}


def test_stack_adaptation_keeps_region_and_aws_region_attribute_where_the_provider_has_them() -> None:
    adapted = adapt_stack(stack(), V6, "http://127.0.0.1:1")

    assert adapted.region_stripped == []
    assert adapted.config["resource"]["aws_ssm_parameter"]["p"]["value"] == "${data.aws_region.here.region}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${data.aws_region.region.region}", "${data.aws_region.region.name}"),
        ("arn:aws:sqs:${data.aws_region.r.region}:1", "arn:aws:sqs:${data.aws_region.r.name}:1"),
        ("${data.aws_region.r.region_x}", "${data.aws_region.r.region_x}"),
        ("${aws_region.r.region}", "${aws_region.r.region}"),
        ("${data.aws_regions.r.region}", "${data.aws_regions.r.region}"),
    ],
)
def test_aws_region_attribute_mapping(text: str, expected: str) -> None:
    assert map_aws_region_attribute(text, V5) == expected


HCL = """\
resource "aws_sqs_queue" "queue" {
  for_each = toset(var.regions)
  region   = each.value # v6: one queue per Region
  name     = "q-${each.value}"
  policy = jsonencode({
    region = "inside an expression: kept"
  })
  content = <<-EOT
    region = "inside a heredoc: kept"
  EOT
}

resource "aws_sqs_queue" "multi" {
  region = (
    var.region
  )
  name = "region = \\"in a string\\" } {"
}

resource "aws_s3_bucket_thing" "thing" {
  region = "eu-west-1"
}

resource "aws_lambda_thing" "nested" {
  replica {
    region = "nested block: kept"
  }
}

data "aws_ami" "image" {
  region = "eu-west-1"
}

provider "aws" {
  region = "eu-west-1"
}
"""


def test_hcl_region_strip_deletes_only_top_level_region_arguments() -> None:
    text, stripped = strip_region_hcl(HCL, V5)

    assert sorted(stripped) == ["aws_sqs_queue.multi", "aws_sqs_queue.queue", "data.aws_ami.image"]
    diff = difflib.ndiff(HCL.splitlines(), text.splitlines())
    removed = [line[2:] for line in diff if line.startswith("- ")]
    assert removed == [
        "  region   = each.value # v6: one queue per Region",
        "  region = (",
        "    var.region",
        "  )",
        '  region = "eu-west-1"',  # the data source's; the bucket thing's and the provider's stay
    ]
    assert text.count('region = "eu-west-1"') == 2  # aws_s3_bucket_thing and the provider
    for kept in ("inside an expression", "inside a heredoc", "in a string", "nested block: kept"):
        assert kept in text


def test_hcl_region_strip_is_a_no_op_with_a_v6_schema() -> None:
    v6 = Schema(
        V6.settable_region | {("resource", "aws_sqs_queue"), ("data", "aws_ami")}, V6.aws_region_attributes
    )
    assert strip_region_hcl(HCL, v6) == (HCL, [])


def test_json_region_strip_leaves_other_blocks_alone() -> None:
    config = {"resource": {"aws_sqs_queue": {"a": {"region": "x", "name": "n"}}}, "output": {"region": {}}}
    assert strip_region_json(config, V5) == ["aws_sqs_queue.a"]
    assert config == {"resource": {"aws_sqs_queue": {"a": {"name": "n"}}}, "output": {"region": {}}}


def test_module_dir_adaptation_covers_json_and_hcl_files(tmp_path: Path) -> None:
    (tmp_path / "main.tf.json").write_text(json.dumps({"resource": stack()["resource"]}))
    (tmp_path / "extra.tf").write_text(HCL)

    stripped = adapt_module_dir(tmp_path, V5)

    assert "aws_sqs_queue.queue" in stripped and "aws_sqs_queue.multi" in stripped
    assert "data.aws_region.here.name" in (tmp_path / "main.tf.json").read_text()
    override = json.loads((tmp_path / OVERRIDE_FILE).read_text())
    assert override["terraform"]["required_providers"]["aws"]["version"] == WIDENED_AWS_CONSTRAINT


def test_consumer_override_unsets_the_account_pin_and_names_the_stub() -> None:
    provider = consumer_override("http://127.0.0.1:9/")["provider"]["aws"]
    assert provider["allowed_account_ids"] is None
    assert provider["endpoints"] == [{"sts": "http://127.0.0.1:9/"}]


def test_mirror_is_the_first_candidate_holding_the_provider_newest_version_first(tmp_path: Path) -> None:
    empty, mirror = tmp_path / "empty", tmp_path / "mirror"
    empty.mkdir()
    for version in ("5.9.0", "5.100.0"):
        binary = mirror / "registry.terraform.io/hashicorp/aws" / version / "linux_amd64"
        binary.mkdir(parents=True)
        (binary / f"terraform-provider-aws_v{version}_x5").write_text("")

    found = find_mirror([tmp_path / "missing", empty, mirror])

    assert found is not None and (found.path, found.aws_version) == (mirror, "5.100.0")
    assert find_mirror([empty]) is None
    assert f'path    = "{mirror}"' in cli_config(found.path, tmp_path / "cache")
    assert 'exclude = ["registry.terraform.io/hashicorp/*"]' in cli_config(found.path, tmp_path / "cache")


def test_missing_terraform_skips_outside_ci_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no terraform here"):
        unavailable("no terraform here")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no terraform here"):
        unavailable("no terraform here")


def test_errors_are_read_back_with_their_block_address_and_attribute() -> None:
    output = """
Error: expected length of name to be in the range (1 - 64), got xxx

  with aws_iam_role.hub_handler-role_6A53DB9F,
  on cdk.tf.json line 332, in resource.aws_iam_role.hub_handler-role_6A53DB9F:
 332:         "name": "xxx"


Error: Unsupported argument

  on main.tf line 3, in resource "aws_sqs_queue" "q":
   3:   nope = 1

An argument named "nope" is not expected here.
"""
    first, second = parse_errors(output)

    assert first.address == "aws_iam_role.hub_handler-role_6A53DB9F"
    assert first.block == "resource.aws_iam_role.hub_handler-role_6A53DB9F"
    assert first.attribute == "name"
    assert second.block == 'resource "aws_sqs_queue" "q"'
    assert second.attribute == "nope"
    assert 'named "nope"' in second.detail
