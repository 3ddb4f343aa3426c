"""Plain Terraform modules: up to date with the constructs, self-described, and usable from HCL."""

from __future__ import annotations

import ast
import json
import math
import operator
import re
from pathlib import Path
from typing import Any

import hcl2
import pytest

from handlers.domain_join import backoff, contract, settings
from modules.artifact import S3Artifact
from modules.hub import HubProps
from modules.plain_modules import DEFAULT_DEST, MODULES

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPOSITORY_ROOT / "examples" / "spoke-consumer" / "main.tf"
MODULE_META_ARGUMENTS = {"source", "version", "providers", "count", "for_each", "depends_on", "__is_block__"}


def module_json(unit: str) -> dict[str, Any]:
    return json.loads((DEFAULT_DEST / unit / "main.tf.json").read_text())


def unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def test_committed_modules_are_up_to_date(plain_modules: Path) -> None:
    regenerated = plain_modules
    stale = [
        str(path.relative_to(DEFAULT_DEST))
        for path in sorted(DEFAULT_DEST.rglob("*"))
        if path.is_file() and path.read_bytes() != (regenerated / path.relative_to(DEFAULT_DEST)).read_bytes()
    ]
    committed = {p.relative_to(DEFAULT_DEST) for p in DEFAULT_DEST.rglob("*") if p.is_file()}
    fresh = {p.relative_to(regenerated) for p in regenerated.rglob("*") if p.is_file()}
    assert committed == fresh
    assert stale == [], "run: python -m modules.plain_modules"


@pytest.mark.parametrize("unit", sorted(MODULES))
def test_module_has_only_variables_outputs_resources_and_required_providers(unit: str) -> None:
    data = module_json(unit)
    assert set(data) <= {"variable", "output", "resource", "data", "terraform"}
    assert data["terraform"] == {
        "required_providers": {"aws": {"source": "hashicorp/aws", "version": ">= 6.0"}}
    }
    assert "provider" not in data and "backend" not in data["terraform"]
    assert data["variable"] and data["output"] and data["resource"]


@pytest.mark.parametrize("unit", sorted(MODULES))
def test_module_readme_lists_every_input_and_output(unit: str) -> None:
    readme = (DEFAULT_DEST / unit / "README.md").read_text()
    data = module_json(unit)
    for name, variable in data["variable"].items():
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{name}` |"))
        assert ("required" in row) == ("default" not in variable), name
    for name in data["output"]:
        assert f"| `{name}` |" in readme


def test_plain_spoke_iterates_over_the_regions_variable() -> None:
    resources = module_json("spoke")["resource"]
    rule = resources["aws_cloudwatch_event_rule"]["forwarding_rule"]
    assert rule["for_each"] == "${toset(var.forward_events ? var.regions : [])}"
    assert rule["region"] == "${each.value}"
    [document] = resources["aws_ssm_document"].values()
    assert document["for_each"] == "${toset(var.regions)}" and document["region"] == "${each.value}"
    [dlq_policy] = resources["aws_sqs_queue_policy"].values()
    assert "$${each.value}" not in dlq_policy["policy"], "each.value must be evaluated, not kept as text"
    assert "arn:${data.aws_partition.partition.partition}:sqs:${each.value}:" in dlq_policy["policy"]
    [execution] = [r for n, r in resources["aws_iam_role"].items() if "execution" in n]
    assert execution["assume_role_policy"].startswith('${can(regex("^$", var.spoke_role_external_id)) ?')


def test_plain_hub_takes_code_from_s3_and_creates_the_config_table_on_request() -> None:
    resources = module_json("hub")["resource"]
    [function] = resources["aws_lambda_function"].values()
    assert function["s3_bucket"] == "${var.artifact_s3_bucket}" and "filename" not in function
    config = next(t for t in resources["aws_dynamodb_table"].values() if "config" in t["name"])
    assert config["count"] == "${var.create_config_table ? 1 : 0}"


def test_plain_spoke_forwards_only_when_forward_events_is_true() -> None:
    """forward_events = false (the security account): no forwarding resource, still documents + role."""
    data = module_json("spoke")
    assert data["variable"]["forward_events"]["default"] is True
    resources = data["resource"]
    forwarding = "${toset(var.forward_events ? var.regions : [])}"
    regional = {
        resource_type: [body["for_each"] for body in resources[resource_type].values()]
        for resource_type in (
            "aws_cloudwatch_event_rule",
            "aws_cloudwatch_event_target",
            "aws_sqs_queue",
            "aws_sqs_queue_policy",
        )
    }
    # rules and targets: EC2 state changes and Run Command failures; one DLQ and its policy
    expected_counts = {
        "aws_cloudwatch_event_rule": 2,
        "aws_cloudwatch_event_target": 2,
        "aws_sqs_queue": 1,
        "aws_sqs_queue_policy": 1,
    }
    assert regional == {resource_type: [forwarding] * n for resource_type, n in expected_counts.items()}
    events_role_id = next(n for n in resources["aws_iam_role"] if "events-role" in n)
    counted = {
        name: body.get("count")
        for resource_type in ("aws_iam_role", "aws_iam_role_policy")
        for name, body in resources[resource_type].items()
    }
    assert sorted(c for c in counted.values() if c) == ["${var.forward_events ? 1 : 0}"] * 2
    assert counted[events_role_id] == "${var.forward_events ? 1 : 0}"
    assert not any(c for n, c in counted.items() if "execution" in n), "the execution role always exists"
    # references to the counted role are indexed, and the output is null without it
    targets = resources["aws_cloudwatch_event_target"].values()
    assert [t["role_arn"] for t in targets] == [f"${{aws_iam_role.{events_role_id}[0].arn}}"] * 2
    assert data["output"]["events_role_arn"]["value"] == f"${{one(aws_iam_role.{events_role_id}[*].arn)}}"


def evaluate_arithmetic(expression: str, variables: dict[str, int]) -> float:
    """Evaluate a `${...}` expression made of numbers, `var.*` references, + * / and Terraform's `max()` and
    `ceil()` (no terraform here)."""
    body = expression.removeprefix("${").removesuffix("}")
    for name, value in variables.items():
        body = re.sub(rf"\bvar\.{name}\b", str(value), body)
    operations = {ast.Add: operator.add, ast.Mult: operator.mul, ast.Div: operator.truediv}
    functions = {"max": max, "ceil": math.ceil}

    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in operations:
            return float(operations[type(node.op)](walk(node.left), walk(node.right)))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in functions:
            return float(functions[node.func.id](*(walk(argument) for argument in node.args)))
        raise AssertionError(f"not plain arithmetic: {expression}")

    return walk(ast.parse(body, mode="eval").body)


@pytest.mark.parametrize("timeout", [10, 120, 900])
def test_plain_hub_derives_lease_and_visibility_from_the_timeout_variable(timeout: int) -> None:
    """Lease 2x the timeout (outlives an invocation), visibility 6x (a dead container's message comes back
    only after its lease is over), as in the Python construct."""
    resources = module_json("hub")["resource"]
    [function] = resources["aws_lambda_function"].values()
    queue = next(q for q in resources["aws_sqs_queue"].values() if q["name"] == "${var.name}-queue")
    values = {"function_timeout_seconds": timeout}
    function_timeout = evaluate_arithmetic(function["timeout"], values)
    lease = evaluate_arithmetic(
        function["environment"]["variables"][contract.ENV_LEDGER_LEASE_SECONDS], values
    )
    visibility = evaluate_arithmetic(queue["visibility_timeout_seconds"], values)
    assert (function_timeout, lease, visibility) == (timeout, 2 * timeout, 6 * timeout)
    assert function_timeout < lease < visibility


@pytest.mark.parametrize("deadline", [60, 3600, 7200, 10_000, 43_200, 86_400])
def test_plain_hub_derives_max_receive_count_from_the_readiness_deadline(deadline: int) -> None:
    """SQS must not dead-letter a waiting message (without a reason) before the handler's own deadline."""
    data = module_json("hub")
    queue = next(q for q in data["resource"]["aws_sqs_queue"].values() if q["name"] == "${var.name}-queue")
    match = re.search(r'"maxReceiveCount" = (.*)\}\)\}$', queue["redrive_policy"])
    assert match, queue["redrive_policy"]
    max_receive_count = evaluate_arithmetic(match.group(1), {"readiness_deadline_seconds": deadline})
    props = HubProps(
        account_id="111111111111",
        region="eu-west-1",
        artifact=S3Artifact("bucket", "key"),
        organization_id="o-abcdefghij",
        readiness_deadline_seconds=deadline,
    )
    assert max_receive_count == props.max_receive_count  # the same rule as the Python construct
    assert max_receive_count >= max(10, backoff.receives_within(deadline) + 2)
    [function] = data["resource"]["aws_lambda_function"].values()
    environment = function["environment"]["variables"]
    assert environment[contract.ENV_READINESS_DEADLINE_SECONDS] == "${var.readiness_deadline_seconds}"


def _example() -> dict[str, Any]:
    return hcl2.load(EXAMPLE.open())


def test_example_passes_only_known_variables_and_every_required_one() -> None:
    variables = module_json("spoke")["variable"]
    required = {name for name, v in variables.items() if "default" not in v}
    [block] = _example()["module"]
    [(_, arguments)] = block.items()
    assert unquote(arguments["source"]) == "../../terraform/modules/spoke"
    assert (EXAMPLE.parent / unquote(arguments["source"]) / "main.tf.json").is_file()
    passed = set(arguments) - MODULE_META_ARGUMENTS
    assert passed - set(variables) == set(), "arguments the module does not declare"
    assert required - passed == set(), "required variables not passed"


def test_example_reads_only_outputs_the_module_has() -> None:
    outputs = set(module_json("spoke")["output"])
    [block] = _example()["module"]
    module_name = unquote(next(iter(block)))
    text = json.dumps(_example())
    read = set(re.findall(rf"module\.{module_name}\.(\w+)", text))
    assert read and read <= outputs


@pytest.mark.parametrize("unit", sorted(MODULES))
def test_no_unrendered_or_undefined_values_leak_into_the_module(unit: str) -> None:
    """cdktf renders some token forms (falsy literals, tokens in map keys) as `undefined` or raw markers."""
    text = (DEFAULT_DEST / unit / "main.tf.json").read_text()
    assert "undefined" not in text and "TfToken" not in text


def test_plain_hub_hands_the_spoke_role_name_and_attempt_limit_to_the_handler() -> None:
    data = module_json("hub")
    [function] = data["resource"]["aws_lambda_function"].values()
    env = function["environment"]["variables"]
    assert env[contract.ENV_SPOKE_ROLE_NAME] == "${var.spoke_role_name}"
    assert env[contract.ENV_MAX_COMMAND_ATTEMPTS] == "${var.max_command_attempts}"
    attempts = data["variable"]["max_command_attempts"]
    assert attempts["default"] == 3
    [validation] = attempts["validation"]
    assert validation["condition"] == (
        "${floor(var.max_command_attempts) == var.max_command_attempts"
        " && var.max_command_attempts >= 1 && var.max_command_attempts <= 10}"
    )


def test_plain_hub_keeps_the_tools_host_tag_condition() -> None:
    [policy] = module_json("hub")["resource"]["aws_iam_role_policy"].values()
    assert (
        'zipmap([format("ssm:resourceTag/%s", var.tools_host_tag_key)], [var.tools_host_tag_value])'
        in policy["policy"]
    )


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return [value] if isinstance(value, str) else []


def test_every_terraform_expression_is_valid_hcl(landing_zones: Any) -> None:
    """No terraform binary here: parse each `${...}` expression of the modules and stacks with python-hcl2."""
    files = sorted(DEFAULT_DEST.glob("*/main.tf.json"))
    files += [
        p
        for synth in landing_zones.all_apps()
        for p in sorted((synth.outdir / "stacks").glob("*/cdk.tf.json"))
    ]
    expressions = [
        text[2:-1]
        for path in files
        for text in _strings(json.loads(path.read_text()))
        if text.startswith("${") and text.endswith("}")
    ]
    assert len(expressions) > 100
    assert any(e.startswith("jsonencode(") for e in expressions)
    for expression in expressions:
        hcl2.loads(f"x = {expression}\n")


@pytest.mark.parametrize(
    "setting",
    [s for s in settings.SETTINGS.values() if s.name in {v.name for v in MODULES["hub"][0]}],
    ids=lambda s: s.name,
)
def test_plain_hub_settings_variables_come_from_the_settings_table(plain_modules: Path, setting: Any) -> None:
    # GIVEN a setting the plain hub takes as a variable, WHEN the module is emitted, THEN its description,
    # default and validation are the table's
    variable = json.loads((plain_modules / "hub" / "main.tf.json").read_text())["variable"][setting.name]
    assert variable["description"] == setting.description
    assert variable["default"] == setting.default
    [validation] = variable["validation"]
    condition = validation["condition"]
    if setting.kind is int:
        assert f"var.{setting.name} >= {setting.low}" in condition
        assert f"var.{setting.name} <= {setting.high}" in condition
        assert f"floor(var.{setting.name}) == var.{setting.name}" in condition
    else:
        assert f"length(var.{setting.name}) <= {setting.max_length}" in condition
        assert (f"length(var.{setting.name}) > 0" in condition) != setting.allow_empty
