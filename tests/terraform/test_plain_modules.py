"""Every plain module, through its runnable example consumer, read by the real Terraform CLI and provider.

GIVEN `examples/<module>-consumer/` (a provider block, a module block with
`source = "../../terraform/modules/<module>"`, the values of its terraform.tfvars) and a copy of the plain
modules adapted as `v5` lists, WHEN it goes through `terraform init`, `validate` and an offline `plan`, THEN
all three succeed and the plan has every resource the module declares, as Terraform itself read it (the
saved plan's `configuration`), so JSON and HCL modules are checked alike and a module planning nothing fails.

The work dir also holds a local state with the module's addresses up to 0.1.0 (cdktf logical ids,
modules/plain/legacy_addresses.json; each instance with an `id` only): the same plan proves that the
`moved` blocks carry every one of them to its readable address (no destroy, nothing left at an old address)
at no extra Terraform run.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
from pathlib import Path
from typing import Any

import hcl2
import pytest

from modules.plain import conventions, schema

from .tfcli import Terraform
from .tier import (
    CONSUMER_SUFFIX,
    EXAMPLES,
    LOCAL_RUN_LEFTOVERS,
    PLAIN_MODULES,
    Context,
    Job,
    Prepared,
    Tier,
    prepare_consumer,
)
from .v5 import OVERRIDE_FILE, adapt_module_dir, consumer_override

INSTANCE_KEY = re.compile(r"\[[^\]]*\]$")
MODULE_SOURCE = re.compile(r'source\s*=\s*"\.\./\.\./terraform/modules/([A-Za-z0-9_-]+)"')


def consumers() -> list[str]:
    return sorted(
        path.name for path in EXAMPLES.iterdir() if path.is_dir() and path.name.endswith(CONSUMER_SUFFIX)
    )


def plain_modules() -> list[str]:
    return sorted(path.name for path in PLAIN_MODULES.iterdir() if path.is_dir())


MODULE_CALL = re.compile(r'^module\s+"([A-Za-z0-9_-]+)"', re.MULTILINE)
AWS = 'provider["registry.terraform.io/hashicorp/aws"]'


def legacy_state(consumer: Path, unit: str) -> tuple[dict[str, Any], set[str]]:
    """A state of the consumer's module call holding the unit's former addresses (for_each instances keyed
    by the consumer's `regions`), and those instance addresses."""
    [call] = MODULE_CALL.findall((consumer / "main.tf").read_text())
    tfvars = hcl2.loads((consumer / "terraform.tfvars").read_text())
    regions = [region.strip('"') for region in tfvars.get("regions", [])]
    versions = schema.read_cache()["resource"]
    resources, addresses = [], set()
    for address, entry in sorted(conventions.legacy_entries().get(unit, {}).items()):
        type_name, name = address.split(".", 1)
        keys: list[Any] = {"count": [0], "for_each": regions}.get(entry["repeated"], [None])
        instances = []
        for key in keys:
            instance: dict[str, Any] = {
                "schema_version": versions[type_name]["version"],
                "attributes": {"id": f"legacy-{name}-{key}"},
                "sensitive_attributes": [],
            }
            if key is not None:
                instance["index_key"] = key
            instances.append(instance)
            suffix = "" if key is None else f"[{json.dumps(key)}]"
            addresses.add(f"module.{call}.{address}{suffix}")
        resources.append(
            {"module": f"module.{call}", "mode": "managed", "type": type_name, "name": name, "provider": AWS,
             "instances": instances}
        )  # fmt: skip
    state = {"version": 4, "terraform_version": "1.5.0", "serial": 1, "lineage": "plain-modules-0.1.0",
             "outputs": {}, "resources": resources}  # fmt: skip
    return state, addresses


def prepare_consumer_with_legacy_state(context: Context, consumer: str) -> Prepared:
    prepared = prepare_consumer(context, consumer)
    state, addresses = legacy_state(prepared.workdir, consumer.removesuffix(CONSUMER_SUFFIX))
    (prepared.workdir / "terraform.tfstate").write_text(json.dumps(state, indent=2))
    prepared.expected["legacy"] = addresses
    return prepared


CONSUMER_JOBS = [
    Job(name, functools.partial(prepare_consumer_with_legacy_state, consumer=name)) for name in consumers()
]


def configured_resources(module: dict[str, Any], prefix: str = "") -> set[str]:
    """Managed resources of a module in the plan's `configuration`, with module calls recursed into."""
    found = {
        f"{prefix}{resource['address']}"
        for resource in module.get("resources", [])
        if resource["mode"] == "managed"
    }
    for call, body in module.get("module_calls", {}).items():
        found |= configured_resources(body.get("module", {}), f"{prefix}module.{call}.")
    return found


@pytest.mark.terraform
@pytest.mark.parametrize("job", CONSUMER_JOBS, ids=str)
def test_consumer_validates_and_plans_every_module_resource(job: Job, tier: Tier) -> None:
    prepared, outcome = tier.result(job)

    assert outcome.failed_step is None, outcome.output
    assert outcome.plan is not None
    configured = configured_resources(outcome.plan["configuration"]["root_module"])
    assert any(address.startswith("module.") for address in configured), f"{job} calls no module"
    changes = [c for c in outcome.plan["resource_changes"] if c["mode"] == "managed"]
    planned = {INSTANCE_KEY.sub("", change["address"]) for change in changes}
    assert planned == configured, outcome.output
    # every former address moved to a readable one: nothing destroyed, nothing planned at an old address
    legacy = prepared.expected["legacy"]
    kept = {address for address in legacy if INSTANCE_KEY.sub("", address) in configured}  # name unchanged
    moved_from = {change["previous_address"] for change in changes if "previous_address" in change}
    assert moved_from == legacy - kept
    assert not [c["address"] for c in changes if c["address"] in legacy - kept]
    assert kept <= {c["address"] for c in changes}
    assert not [c["address"] for c in changes if c["change"]["actions"] == ["delete"]]


@pytest.mark.terraform
def test_the_plain_hub_pins_the_tools_host_it_is_given(tier: Tier) -> None:
    # GIVEN the hub consumer's plan (its tfvars name the tools host's instance profile)
    [job] = [job for job in CONSUMER_JOBS if job.key == "hub" + CONSUMER_SUFFIX]
    _, outcome = tier.result(job)
    assert outcome.plan is not None, outcome.output
    tfvars = hcl2.loads((EXAMPLES / job.key / "terraform.tfvars").read_text())
    # THEN Terraform planned that value into the module (the environment itself is known only at apply)
    plan = outcome.plan
    assert (
        plan["variables"]["tools_host_instance_profile_arn"]["value"]
        == tfvars["tools_host_instance_profile_arn"].strip('"')  # python-hcl2 keeps the quotes
    )
    [call] = plan["configuration"]["root_module"]["module_calls"].values()
    passed = call["expressions"]["tools_host_instance_profile_arn"]["references"]
    assert "var.tools_host_instance_profile_arn" in passed
    # AND the module's handler reads both pins into its environment (the handler refuses any other host)
    [function] = [r for r in call["module"]["resources"] if r["type"] == "aws_lambda_function"]
    read = set(function["expressions"]["environment"][0]["variables"]["references"])
    assert {"var.tools_host_instance_profile_arn", "var.tools_host_instance_id"} <= read


def test_every_plain_module_has_a_consumer_that_calls_it() -> None:
    """GIVEN terraform/modules/<m>, THEN examples/<m>-consumer exists, calls it by relative path and says how
    to run it."""
    for module in plain_modules():
        consumer = EXAMPLES / f"{module}{CONSUMER_SUFFIX}"
        text = "\n".join(path.read_text() for path in sorted(consumer.glob("*.tf")))
        assert module in MODULE_SOURCE.findall(text), (
            f"{consumer} does not call ../../terraform/modules/{module}"
        )
        readme = (consumer / "README.md").read_text()
        assert "terraform init" in readme and "terraform plan" in readme, (
            f"{consumer}/README.md: how to run it"
        )


@pytest.mark.terraform
@pytest.mark.parametrize("consumer", consumers())
def test_consumer_is_formatted(consumer: str, terraform_cli: Terraform) -> None:
    step = terraform_cli.run(EXAMPLES / consumer, "fmt", "-check", "-diff", "-no-color")
    assert step.returncode == 0, step.output


def test_consumers_are_the_ones_of_existing_modules() -> None:
    """No consumer of a module that is gone (its plan would fail at init, but say it plainly)."""
    assert {name.removesuffix(CONSUMER_SUFFIX) for name in consumers()} <= set(plain_modules())


V6_HCL_MODULE = """\
# A plain module written in HCL with provider v6 features: one queue per Region, the Region's name from
# data.aws_region.<name>.region.
terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0"
    }
  }
}

variable "regions" {
  type = list(string)
}

data "aws_region" "here" {}

data "aws_caller_identity" "caller" {}

resource "aws_sqs_queue" "this" {
  for_each = toset(var.regions)
  region   = each.value
  name     = "hcl-${data.aws_region.here.region}-${each.value}"
  tags = {
    Account = data.aws_caller_identity.caller.account_id
  }
}

output "queue_arns" {
  value = { for region, queue in aws_sqs_queue.this : region => queue.arn }
}
"""
V6_HCL_CONSUMER = """\
provider "aws" {
  region = "eu-west-1"
}

module "queues" {
  source  = "../../terraform/modules/queues"
  regions = ["eu-west-1", "eu-central-1"]
}
"""


def _prepare_hcl_module(context: Context) -> Prepared:
    root = context.folder("hcl-module")
    module = root / "terraform" / "modules" / "queues"
    module.mkdir(parents=True)
    (module / "main.tf").write_text(V6_HCL_MODULE)
    stripped = adapt_module_dir(module, context.schema)
    consumer = root / "examples" / "queues-consumer"
    consumer.mkdir(parents=True)
    (consumer / "main.tf").write_text(V6_HCL_CONSUMER)
    (consumer / OVERRIDE_FILE).write_text(json.dumps(consumer_override(context.stub.endpoint())))
    create_false, outputs = create_false_configuration(root, context)
    (consumer / "create_false.tf").write_text(create_false)
    (consumer / "composed.tf").write_text(COMPOSED_ROOT)
    return Prepared(consumer, {"region_stripped": stripped, "create_false_outputs": outputs})


HCL_MODULE_JOB = Job("hcl-module", _prepare_hcl_module)


@pytest.mark.terraform
@pytest.mark.parametrize("job", [HCL_MODULE_JOB], ids=str)
def test_an_hcl_module_with_v6_arguments_is_adapted_and_plans(job: Job, tier: Tier) -> None:
    """GIVEN a module in .tf files using the v6 `region` argument and `data.aws_region.*.region` (as the plain
    modules may be generated), THEN the same adaptations make it validate and plan, one queue per Region."""
    prepared, outcome = tier.result(job)

    assert prepared.expected["region_stripped"] == ["aws_sqs_queue.this"]
    assert outcome.failed_step is None, outcome.output
    assert sorted(a for a in outcome.planned_creates() if not is_composed(a)) == [
        'module.queues.aws_sqs_queue.this["eu-central-1"]',
        'module.queues.aws_sqs_queue.this["eu-west-1"]',
    ]


@pytest.mark.terraform
def test_plain_modules_are_formatted(terraform_cli: Terraform) -> None:
    """GIVEN the generated .tf files, THEN `terraform fmt` would change nothing (the renderer's layout is
    Terraform's own)."""
    assert sorted(PLAIN_MODULES.glob("*/*.tf"))
    step = terraform_cli.run(PLAIN_MODULES, "fmt", "-check", "-recursive", "-diff", "-no-color")
    assert step.returncode == 0, step.output


CREATE_FALSE_ROOT = """\
module "hub" {
  source          = "../../terraform/modules/hub"
  create          = false
  organization_id = "o-exampleorg1"
}

module "region_forwarder" {
  source          = "../../terraform/modules/region-forwarder"
  create          = false
  organization_id = "o-exampleorg1"
  home_region     = "eu-west-1"
}

module "spoke" {
  source              = "../../terraform/modules/spoke"
  create              = false
  regions             = ["eu-west-1"]
  security_account_id = "111111111111"
  hub_lambda_role_arn = "arn:aws:iam::111111111111:role/domain-join-handler"
}

module "tools_host" {
  source                   = "../../terraform/modules/tools-host"
  create                   = false
  password_parameter_names = ["/domain-join/join-password"]
  hub_kms_key_arn          = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
}

module "directory_config" {
  source     = "../../terraform/modules/directory-config"
  create     = false
  table_name = "domain-join-config"
  accounts = {
    "222222222222" = {
      domain                  = "corp.example.com"
      dns_ips                 = ["10.0.0.10"]
      join_user               = "svc-domainjoin"
      join_password_parameter = "/domain-join/join-password"
      regions                 = ["eu-west-1"]
    }
  }
}

module "directory_network" {
  source              = "../../terraform/modules/directory-network"
  create              = false
  vpc_id              = "vpc-0a1b2c3d4e5f60718"
  vpc_cidr            = "10.10.0.0/16"
  domain_name         = "corp.example.com"
  dns_server_ips      = ["10.10.1.10"]
  resolver_subnet_ids = ["subnet-0a1b2c3d4e5f60718", "subnet-0f1e2d3c4b5a69788"]
  admin_role_arns     = ["arn:aws:iam::222222222222:role/ad-admins"]
}

# No resolver_rule_id: with create = true the module would look the rule up at plan (the offline stub
# refuses that call); with create = false it reads nothing.
module "member_network" {
  source   = "../../terraform/modules/member-network"
  create   = false
  vpc_ids  = ["vpc-0123456789abcdef0"]
  dc_cidrs = ["10.10.0.0/16"]
}

module "identity" {
  source          = "../../terraform/modules/identity"
  create          = false
  permission_sets = { ADAdministrators = {} }
}

module "reconciliation" {
  source               = "../../terraform/modules/reconciliation"
  create               = false
  hub_kms_key_arn      = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  join_queue_arn       = "arn:aws:sqs:eu-west-1:111111111111:domain-join-queue"
  join_queue_url       = "https://sqs.eu-west-1.amazonaws.com/111111111111/domain-join-queue"
  handler_environment  = { CONFIG_TABLE_NAME = "domain-join-config" }
  powertools_layer_arn = "arn:aws:lambda:eu-west-1:017000801446:layer:Powertools:36"
}
"""


# Modules composed in one configuration: inputs that are attributes of resources created in the same apply
# (unknown at plan), with the switches that keep the modules' counts decidable (test_plain_composed.py).
COMPOSED_ROOT = """\
resource "aws_s3_bucket" "composed_inventory" {
  bucket = "composed-reconcile-inventory"
}

resource "aws_iam_role" "composed_reconciler" {
  name = "composed-reconciler"
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "lambda.amazonaws.com" }
    }]
  })
}

resource "aws_sns_topic" "composed_ad_team" {
  name = "composed-ad-team"
}

module "composed_tools_host" {
  source                   = "../../terraform/modules/tools-host"
  name                     = "composed"
  password_parameter_names = ["/domain-join/join-password"]
  hub_kms_key_arn          = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  inventory_bucket_arn     = aws_s3_bucket.composed_inventory.arn
  create_inventory_policy  = true
}

module "composed_spoke" {
  source                       = "../../terraform/modules/spoke"
  name                         = "composed"
  regions                      = ["eu-west-1"]
  security_account_id          = "111111111111"
  hub_lambda_role_arn          = "arn:aws:iam::111111111111:role/domain-join-handler"
  reconciler_role_arn          = aws_iam_role.composed_reconciler.arn
  create_reconcile_reader_role = true
}

module "composed_directory_network" {
  source                    = "../../terraform/modules/directory-network"
  name                      = "composed"
  vpc_id                    = "vpc-0a1b2c3d4e5f60718"
  vpc_cidr                  = "10.10.0.0/16"
  domain_name               = "corp.example.com"
  dns_server_ips            = ["10.10.1.10"]
  resolver_subnet_ids       = ["subnet-0a1b2c3d4e5f60718", "subnet-0f1e2d3c4b5a69788"]
  client_cidrs              = ["10.20.0.0/16"]
  admin_role_arns           = ["arn:aws:iam::222222222222:role/ad-admins"]
  notification_topic_arn    = aws_sns_topic.composed_ad_team.arn
  create_notification_topic = false
}

module "composed_member_network" {
  source               = "../../terraform/modules/member-network"
  name                 = "composed"
  vpc_ids              = ["vpc-0123456789abcdef0"]
  dc_cidrs             = ["10.10.0.0/16"]
  resolver_rule_id     = module.composed_directory_network.resolver_rule_id
  lookup_resolver_rule = false
}
"""


def is_composed(address: str) -> bool:
    """Whether a planned address belongs to COMPOSED_ROOT (its modules and resources are all `composed_*`),
    which shares the HCL-module job's work dir with the queues module and the create = false calls."""
    return re.match(r"(module\.composed_|aws_\w+\.composed_)", address) is not None


CREATE_FALSE_CALLS = (
    ("hub", "hub"),
    ("region_forwarder", "region-forwarder"),
    ("spoke", "spoke"),
    ("tools_host", "tools-host"),
    ("directory_config", "directory-config"),
    ("directory_network", "directory-network"),
    ("member_network", "member-network"),
    ("identity", "identity"),
    ("reconciliation", "reconciliation"),
)


def create_false_configuration(root: Path, context: Context) -> tuple[str, int]:
    """The plain modules of CREATE_FALSE_CALLS called with `create = false` (copied and adapted under
    `root`), and a root output per module output; returns the HCL and the number of outputs."""
    outputs = [
        f'output "{call}_{name}" {{\n  value = module.{call}.{name}\n}}\n'
        for call, unit in CREATE_FALSE_CALLS
        for name in re.findall(r'^output "(\w+)"', (PLAIN_MODULES / unit / "outputs.tf").read_text(), re.M)
    ]
    for module in sorted(path for path in PLAIN_MODULES.iterdir() if path.is_dir()):
        copied = root / "terraform" / "modules" / module.name
        shutil.copytree(module, copied, ignore=LOCAL_RUN_LEFTOVERS)
        adapt_module_dir(copied, context.schema)
    return CREATE_FALSE_ROOT + "\n" + "\n".join(outputs), len(outputs)


@pytest.mark.terraform
@pytest.mark.parametrize("job", [HCL_MODULE_JOB], ids=str)
def test_create_false_plans_nothing_and_every_output_is_null(job: Job, tier: Tier) -> None:
    """GIVEN every plain module called with `create = false` (and only its required inputs; in the work dir
    of the HCL-module job, which saves a Terraform run), THEN the plan creates nothing of theirs and every
    module output is null."""
    prepared, outcome = tier.result(job)

    assert outcome.failed_step is None, outcome.output
    theirs = [a for a in outcome.planned_changes() if not a.startswith("module.queues.")]
    assert [a for a in theirs if not is_composed(a)] == []
    assert outcome.plan is not None
    outputs = outcome.plan["output_changes"]
    assert len(outputs) == prepared.expected["create_false_outputs"] > 10
    assert {name: change["after"] for name, change in outputs.items() if change["after"] is not None} == {}
