"""The tier catches what AWS would refuse: names over a service's limits or with characters it forbids (the
provider validates them at validate or plan time), and arguments the provider does not know.

GIVEN a landing zone built directly (bypassing the file's validation) with a name AWS refuses, or a copy of a
valid stack with one unknown argument injected, WHEN the tier checks its hub stack, THEN Terraform fails and
its message names the offending resource and attribute.
"""

from __future__ import annotations

import functools
import json
from dataclasses import replace

import pytest

from .tier import (
    Context,
    Job,
    Prepared,
    Tier,
    example_landing_zone,
    example_stacks,
    prepare_stack,
    stack_name,
    synthesize,
)

DOTTED_NAME = "bad.name"
LONG_NAME = "domain-join-" + "x" * 48  # 60 characters: "<name>-handler" (IAM role) has 68, IAM allows 64
UNKNOWN_ARGUMENT = "no_such_argument"


def _prepare_named_hub(name: str, context: Context) -> Prepared:
    """The hub stack of the example landing zone renamed `name`, without forwarders or spokes."""
    landing_zone = replace(example_landing_zone(), name=name, extra_regions=(), spokes=())
    stacks = synthesize(landing_zone, context.root / f"synth-{len(name)}-{name.replace('.', '_')}")
    return prepare_stack(context, stacks / stack_name("hub", None), f"defect-name-{name}")


def _prepare_unknown_argument(context: Context) -> Prepared:
    """The example hub stack with an argument no AWS resource has, added to its first resource."""
    prepared = prepare_stack(
        context, example_stacks(context) / stack_name("hub", None), "defect-unknown-argument"
    )
    path = prepared.workdir / "cdk.tf.json"
    config = json.loads(path.read_text())
    type_name, blocks = next(iter(sorted(config["resource"].items())))
    name = next(iter(sorted(blocks)))
    blocks[name][UNKNOWN_ARGUMENT] = "x"
    path.write_text(json.dumps(config, indent=2))
    prepared.expected["address"] = f"{type_name}.{name}"
    return prepared


DOTTED_NAME_JOB = Job("dotted-name", functools.partial(_prepare_named_hub, DOTTED_NAME), cost=2)
LONG_NAME_JOB = Job("long-name", functools.partial(_prepare_named_hub, LONG_NAME), cost=2)
UNKNOWN_ARGUMENT_JOB = Job("unknown-argument", _prepare_unknown_argument, cost=1)


# What AWS (and so the provider) refuses in each name, by resource type and argument: Lambda function names
# and KMS aliases allow no dot; IAM role and EventBridge rule names allow 64 characters.
REFUSED = {
    DOTTED_NAME_JOB.key: {("aws_lambda_function", "function_name"), ("aws_kms_alias", "name")},
    LONG_NAME_JOB.key: {("aws_iam_role", "name"), ("aws_cloudwatch_event_rule", "name")},
}


@pytest.mark.terraform
@pytest.mark.parametrize("job", [DOTTED_NAME_JOB, LONG_NAME_JOB], ids=str)
def test_names_aws_refuses_fail_naming_resource_and_attribute(job: Job, tier: Tier) -> None:
    _, outcome = tier.result(job)

    assert outcome.failed_step in {"validate", "plan"}, outcome.output
    errors = outcome.errors()
    refused = {((error.address or "").split(".")[0], error.attribute) for error in errors}
    assert REFUSED[job.key] <= refused, outcome.output
    bad_name = job.prepare.args[0]  # type: ignore[attr-defined]
    assert all(bad_name in (error.source_line or "") for error in errors), "an error not about the name"


@pytest.mark.terraform
@pytest.mark.parametrize("job", [UNKNOWN_ARGUMENT_JOB], ids=str)
def test_an_argument_the_provider_does_not_know_fails_validate(job: Job, tier: Tier) -> None:
    prepared, outcome = tier.result(job)

    assert outcome.failed_step == "validate", outcome.output
    [error] = outcome.errors()
    assert error.block == f"resource.{prepared.expected['address']}"
    assert error.attribute == UNKNOWN_ARGUMENT
    assert UNKNOWN_ARGUMENT in error.detail
