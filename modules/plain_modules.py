"""The three units as plain Terraform modules, for HCL pipelines that do not run cdktf.

    python -m modules.plain_modules [DEST]     (default: terraform/modules)

Each module is the same construct as in the cdktf stacks, fed with Terraform
variables instead of Python values: `main.tf.json` holds variables, resources,
outputs and `required_providers` only (the caller configures the provider),
and `README.md` lists inputs and outputs.  The files are committed; a test
regenerates them and fails when they are out of date.

Differences from the Python constructs, because the value is only known at plan:
the account and Region come from the caller's provider; the bus and the handler
accept the whole organization (`organization_id`); the hub's config table is
on demand (the Python construct also offers provisioned + autoscaling) and the
Lambda code comes from S3 (upload the zip of `python -m modules.artifact`).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from cdktf_cdktf_provider_aws.data_aws_caller_identity import DataAwsCallerIdentity
from cdktf_cdktf_provider_aws.data_aws_partition import DataAwsPartition
from cdktf_cdktf_provider_aws.data_aws_region import DataAwsRegion
from cdktf_tf_module_stack import (
    ProviderRequirement,
    TFModuleApp,
    TFModuleOutput,
    TFModuleStack,
    TFModuleVariable,
)
from constructs import Construct

from handlers.domain_join import settings
from handlers.domain_join.settings import Setting

from . import naming
from .artifact import S3Artifact
from .cdk import TerraformVariableValidationConfig, Token
from .documents import SCRIPTS_DIR
from .forwarder import RegionForwarder, RegionForwarderProps
from .hub import Hub, HubProps
from .spoke import Spoke, SpokeProps

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DEST = REPOSITORY_ROOT / "terraform" / "modules"
AWS_PROVIDER_CONSTRAINT = ">= 6.0"  # per-resource `region` arrived in provider v6
REQUIRED = object()


@dataclass(frozen=True)
class Variable:
    name: str
    type: str
    description: str
    default: Any = REQUIRED
    validation: tuple[str, str] | None = None  # (condition, error message)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class Output:
    name: str
    description: str


def setting_variable(setting: Setting) -> Variable:
    """The Terraform variable of a shared setting: its description, default and range from the settings
    table (handlers/domain_join/settings.py), checked by a `validation` block."""
    var = f"var.{setting.name}"
    conditions: list[str] = []
    limits: list[str] = []
    if setting.kind is int:
        conditions.append(f"floor({var}) == {var}")
        limits.append("a whole number")
        if setting.low is not None:
            conditions.append(f"{var} >= {setting.low}")
        if setting.high is not None:
            conditions.append(f"{var} <= {setting.high}")
        if setting.low is not None and setting.high is not None:
            limits = [f"a whole number from {setting.low} to {setting.high}"]
        terraform_type = "number"
    else:
        terraform_type = "string"
        if not setting.allow_empty:
            conditions.append(f"length({var}) > 0")
            limits.append("not empty")
        if setting.max_length:
            conditions.append(f"length({var}) <= {setting.max_length}")
            limits.append(f"at most {setting.max_length} characters")
    if setting.choices:
        conditions.append(f"contains({json.dumps(list(setting.choices))}, {var})")
        limits.append("one of " + ", ".join(map(str, setting.choices)))
    validation = (" && ".join(conditions), f"{setting.name}: {', '.join(limits)}") if conditions else None
    return Variable(setting.name, terraform_type, setting.description, setting.default, validation)


ORG_CONDITION = (
    'can(regex("^o-[a-z0-9]{10,32}$", var.organization_id))',
    "organization_id must look like o-…",
)
ORGANIZATION = Variable(
    "organization_id", "string", "AWS Organization allowed on the bus.", validation=ORG_CONDITION
)
NAME = Variable("name", "string", "Name shared by hub, forwarders and spokes.", naming.DEFAULT_NAME)

HUB_VARIABLES = (
    ORGANIZATION,
    NAME,
    Variable("artifact_s3_bucket", "string", "Bucket holding the handler zip (python -m modules.artifact)."),
    Variable("artifact_s3_key", "string", "Key of the handler zip."),
    Variable("artifact_s3_object_version", "string", "Object version of the zip, or null.", None),
    Variable("forwarder_regions", "list(string)", "Extra Regions that run a region-forwarder module.", []),
    setting_variable(settings.JOIN_DELAY_SECONDS),
    setting_variable(settings.FUNCTION_TIMEOUT_SECONDS),
    setting_variable(settings.TOOLS_HOST_TAG_KEY),
    setting_variable(settings.TOOLS_HOST_TAG_VALUE),
    setting_variable(settings.SPOKE_ROLE_NAME),
    setting_variable(settings.SPOKE_ROLE_EXTERNAL_ID),
    setting_variable(settings.READINESS_DEADLINE_SECONDS),
    setting_variable(settings.MAX_COMMAND_ATTEMPTS),
    Variable("create_config_table", "bool", "Create the config table (false: use an existing one).", True),
    Variable("config_table_name", "string", "Config table name.", "domain-join-config"),
    Variable("ledger_table_name", "string", "Ledger table name.", "domain-join-ledger"),
    Variable("alarm_topic_arn", "string", 'SNS topic for the DLQ alarm, "" for none.', ""),
    setting_variable(settings.POWERTOOLS_LAYER_VERSION),
)
HUB_OUTPUTS = (
    Output("lambda_role_arn", "Handler role: pass it to every spoke as hub_lambda_role_arn."),
    Output("lambda_function_arn", "The handler."),
    Output("queue_arn", "The join queue."),
    Output("queue_url", "The join queue URL."),
    Output("dead_letter_queue_arn", "Malformed, expired or failing messages."),
    Output("bus_arn", "The domain-join bus of the home Region."),
    Output("config_table_name", "Config table (one item per account)."),
    Output("ledger_table_name", "Ledger table."),
    Output("kms_key_arn", "Key of queues, tables, logs and environment."),
)

FORWARDER_VARIABLES = (
    ORGANIZATION,
    NAME,
    Variable("home_region", "string", "The hub's Region (where the join queue is)."),
)
FORWARDER_OUTPUTS = (
    Output("bus_arn", "The domain-join bus of this Region."),
    Output("topic_arn", "Topic relaying this Region's events to the join queue."),
)

SPOKE_VARIABLES = (
    Variable(
        "regions",
        "list(string)",
        "Every Region of this account whose instances should join (each needs a hub or forwarder bus).",
        validation=("length(var.regions) > 0", "regions: give at least one Region"),
    ),
    Variable(
        "security_account_id",
        "string",
        "Account of the hub and forwarders.",
        validation=('can(regex("^[0-9]{12}$", var.security_account_id))', "security_account_id: 12 digits"),
    ),
    Variable("hub_lambda_role_arn", "string", "The hub output lambda_role_arn."),
    Variable(
        "execution_role_name",
        "string",
        "Name of the role the hub assumes here.",
        settings.SPOKE_ROLE_NAME.default,
    ),
    Variable("spoke_role_external_id", "string", 'sts:ExternalId the hub presents, "" for none.', ""),
    NAME,
    Variable(
        "forward_events",
        "bool",
        "Forward EC2 state changes to the security account; false when this IS the security account "
        "(then only the join documents and the execution role are created).",
        True,
    ),
)
SPOKE_OUTPUTS = (
    Output("execution_role_arn", "Role the hub handler assumes in this account."),
    Output(
        "events_role_arn", "Role EventBridge uses to forward to the security account (null: no forwarding)."
    ),
)


class _ModuleStack(TFModuleStack):
    """Variables in, outputs out; the build function adds the construct."""

    def __init__(
        self,
        scope: Construct,
        module_id: str,
        variables: Sequence[Variable],
        outputs: Sequence[Output],
        build: Callable[[Construct, dict[str, Any]], dict[str, Any]],
    ) -> None:
        super().__init__(scope, module_id)
        ProviderRequirement(self, "aws", AWS_PROVIDER_CONSTRAINT, "hashicorp/aws")
        values: dict[str, Any] = {}
        for variable in variables:
            options: dict[str, Any] = {"type": variable.type, "description": variable.description}
            if not variable.required:
                options["default"] = Token.null_value() if variable.default is None else variable.default
                options["nullable"] = variable.default is None
            if variable.validation:
                condition, message = variable.validation
                options["validation"] = [
                    TerraformVariableValidationConfig(condition=f"${{{condition}}}", error_message=message)
                ]
            tf_variable = TFModuleVariable(self, variable.name, **options)
            if variable.type.startswith("list"):
                values[variable.name] = tf_variable.list_value
            elif variable.type == "number":
                values[variable.name] = tf_variable.number_value
            elif variable.type == "bool":
                values[variable.name] = tf_variable.boolean_value
            else:
                values[variable.name] = tf_variable.string_value
        produced = build(self, values)
        for output in outputs:
            # Output and variable names share one construct namespace; the logical id is the real name.
            tf_output = TFModuleOutput(
                self, f"output-{output.name}", value=produced[output.name], description=output.description
            )
            tf_output.override_logical_id(output.name)


def _caller(scope: Construct) -> tuple[str, str]:
    return DataAwsCallerIdentity(scope, "caller").account_id, DataAwsRegion(scope, "region").region


def _partition(scope: Construct) -> DataAwsPartition:
    """The caller's partition: ARNs (`arn:aws-cn:...`) and the DNS suffix of Region-bound principals."""
    return DataAwsPartition(scope, "partition")


def _hub(scope: Construct, v: dict[str, Any], scripts_dir: Path = SCRIPTS_DIR) -> dict[str, Any]:
    account, region = _caller(scope)
    partition = _partition(scope)
    hub = Hub(
        scope,
        "hub",
        HubProps(
            account_id=account,
            region=region,
            partition=partition.partition,
            dns_suffix=partition.dns_suffix,
            artifact=S3Artifact(
                v["artifact_s3_bucket"], v["artifact_s3_key"], v["artifact_s3_object_version"]
            ),
            organization_id=v["organization_id"],
            name=v["name"],
            forwarder_regions=v["forwarder_regions"],
            join_delay_seconds=v["join_delay_seconds"],
            function_timeout_seconds=v["function_timeout_seconds"],
            powertools_layer_version=v["powertools_layer_version"],
            tools_host_tag_key=v["tools_host_tag_key"],
            tools_host_tag_value=v["tools_host_tag_value"],
            spoke_role_name=v["spoke_role_name"],
            spoke_role_external_id=v["spoke_role_external_id"],
            readiness_deadline_seconds=v["readiness_deadline_seconds"],
            max_command_attempts=v["max_command_attempts"],
            create_config_table=v["create_config_table"],
            config_table_name=v["config_table_name"],
            ledger_table_name=v["ledger_table_name"],
            alarm_topic_arn=v["alarm_topic_arn"],
            scripts_dir=scripts_dir,
        ),
    )
    return {
        "lambda_role_arn": hub.lambda_role.arn,
        "lambda_function_arn": hub.lambda_function_arn,
        "queue_arn": hub.queue.arn,
        "queue_url": hub.queue_url,
        "dead_letter_queue_arn": hub.dead_letter_queue.arn,
        "bus_arn": hub.bus.arn,
        "config_table_name": hub.config_table_name,
        "ledger_table_name": hub.ledger_table_name,
        "kms_key_arn": hub.kms_key_arn,
    }


def _forwarder(scope: Construct, v: dict[str, Any], scripts_dir: Path = SCRIPTS_DIR) -> dict[str, Any]:
    account, region = _caller(scope)
    forwarder = RegionForwarder(
        scope,
        "forwarder",
        RegionForwarderProps(
            account_id=account,
            region=region,
            partition=_partition(scope).partition,
            home_region=v["home_region"],
            organization_id=v["organization_id"],
            name=v["name"],
        ),
    )
    return {"bus_arn": forwarder.bus.arn, "topic_arn": forwarder.topic.arn}


def _spoke(scope: Construct, v: dict[str, Any], scripts_dir: Path = SCRIPTS_DIR) -> dict[str, Any]:
    account = DataAwsCallerIdentity(scope, "caller").account_id
    spoke = Spoke(
        scope,
        "spoke",
        SpokeProps(
            account_id=account,
            regions=v["regions"],
            partition=_partition(scope).partition,
            security_account_id=v["security_account_id"],
            hub_lambda_role_arn=v["hub_lambda_role_arn"],
            execution_role_name=v["execution_role_name"],
            spoke_role_external_id=v["spoke_role_external_id"],
            name=v["name"],
            forward_events=v["forward_events"],
            scripts_dir=scripts_dir,
        ),
    )
    return {"execution_role_arn": spoke.execution_role_arn, "events_role_arn": spoke.events_role_arn}


Build = Callable[..., dict[str, Any]]  # (scope, variable values, scripts_dir=...)
MODULES: dict[str, tuple[Sequence[Variable], Sequence[Output], Build, str]] = {
    "hub": (
        HUB_VARIABLES,
        HUB_OUTPUTS,
        _hub,
        "Security account, home Region: bus, join queue, handler, tables, documents, alarm.",
    ),
    "region-forwarder": (
        FORWARDER_VARIABLES,
        FORWARDER_OUTPUTS,
        _forwarder,
        "Security account, each extra Region: its bus relayed to the home Region's join queue.",
    ),
    "spoke": (
        SPOKE_VARIABLES,
        SPOKE_OUTPUTS,
        _spoke,
        "Each workload account, all its Regions: forwarding rules, join document, execution role.",
    ),
}


def _readme(unit: str) -> str:
    variables, outputs, _, summary = MODULES[unit]
    lines = [
        f"# {unit}",
        "",
        summary,
        "",
        "Generated by `python -m modules.plain_modules` from the cdktf construct of this unit: do not edit.",
        f"Needs Terraform >= 1.5 and the AWS provider {AWS_PROVIDER_CONSTRAINT}, configured by the caller.",
        "",
        "## Inputs",
        "",
        "| name | type | default | description |",
        "|---|---|---|---|",
    ]
    for variable in variables:
        default = "required" if variable.required else f"`{json.dumps(variable.default)}`"
        lines.append(f"| `{variable.name}` | `{variable.type}` | {default} | {variable.description} |")
    lines += ["", "## Outputs", "", "| name | description |", "|---|---|"]
    lines += [f"| `{output.name}` | {output.description} |" for output in outputs]
    return "\n".join(lines) + "\n"


def emit(dest: Path = DEFAULT_DEST, scripts_dir: Path = SCRIPTS_DIR) -> list[Path]:
    """Synthesize every plain module into `dest/<unit>/` and return the files written."""
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="plain-modules-") as tmp:
        app = TFModuleApp(outdir=tmp)
        for unit, (variables, outputs, build, _) in MODULES.items():
            _ModuleStack(app, unit, variables, outputs, partial(build, scripts_dir=scripts_dir))
        app.synth()
        for unit in MODULES:
            target = dest / unit
            if target.exists():
                shutil.rmtree(target)
            target.mkdir(parents=True)
            synthesized = json.loads((Path(tmp) / "stacks" / unit / "cdk.tf.json").read_text())
            synthesized.pop("//", None)  # cdktf metadata: paths of the temporary directory
            for block in (
                "variable",
                "output",
            ):  # one object per name, as people write it (and checkov reads it)
                synthesized[block] = {key: value[0] for key, value in synthesized[block].items()}
            (target / "main.tf.json").write_text(json.dumps(synthesized, indent=2, sort_keys=True) + "\n")
            (target / "README.md").write_text(_readme(unit))
            written += [target / "main.tf.json", target / "README.md"]
    return written


if __name__ == "__main__":
    for path in emit(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DEST):
        print(path)
