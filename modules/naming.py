"""Names and ARNs shared by the stacks of one landing zone.

Hub, forwarders and spokes are separate stacks (often separate accounts and
pipelines), so they cannot reference each other's resources.  They agree on
names instead, all derived here from the same inputs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import arns

DEFAULT_NAME = "domain-join"
# The hub's tables unless the landing zone (or the hub's props) names others; the operator's CLI too.
DEFAULT_CONFIG_TABLE_NAME = "domain-join-config"
DEFAULT_LEDGER_TABLE_NAME = "domain-join-ledger"


def bus_arn(partition: str, account_id: str, region: str, bus_name: str = DEFAULT_NAME) -> str:
    return arns.arn(partition, "events", region, account_id, f"event-bus/{bus_name}")


def bus_rule_arn(partition: str, account_id: str, region: str, bus_name: str, rule_name: str) -> str:
    rule = f"rule/{rule_name}" if bus_name == "default" else f"rule/{bus_name}/{rule_name}"
    return arns.arn(partition, "events", region, account_id, rule)


def join_queue_name(name: str = DEFAULT_NAME) -> str:
    return f"{name}-queue"


def join_queue_arn(partition: str, account_id: str, region: str, name: str = DEFAULT_NAME) -> str:
    return arns.arn(partition, "sqs", region, account_id, join_queue_name(name))


def forwarder_topic_name(name: str = DEFAULT_NAME) -> str:
    return f"{name}-forwarder"


def forwarder_topic_arn(partition: str, account_id: str, region: str, name: str = DEFAULT_NAME) -> str:
    return arns.arn(partition, "sns", region, account_id, forwarder_topic_name(name))


def handler_role_name(name: str = DEFAULT_NAME) -> str:
    return f"{name}-handler"


def handler_role_arn(partition: str, account_id: str, name: str = DEFAULT_NAME) -> str:
    return arns.role_arn(partition, account_id, handler_role_name(name))


def rule_name(name: str, source: str) -> str:
    """Name of the rule that sends EC2 state changes from `source` onwards."""
    return f"{name}-ec2-state-{source}"


def command_rule_name(name: str, source: str) -> str:
    """Name of the rule that sends our documents' Run Command failures from `source` onwards."""
    return f"{name}-command-failed-{source}"


# --- Every generated name, checked against its service's limits (one place) -----------------------
# The units derive their resource names from `name` (and the table/role names) given in the landing
# zone or the props; a name AWS refuses would otherwise surface only at `terraform apply`.  The
# builders below are the only spelling of each name; `name_problems` checks all of them at once.


@dataclass(frozen=True)
class NameRule:
    """What one AWS service accepts as a resource name."""

    service: str
    max_length: int
    pattern: re.Pattern[str]
    allowed: str  # the allowed characters, for the message
    min_length: int = 1


_WORD = "letters, digits, - and _"
_WORD_DOT = "letters, digits, ., - and _"
_WORD_SLASH = "letters, digits, /, - and _"
_WORD_DOT_SLASH = "letters, digits, /, ., - and _"
SQS_QUEUE = NameRule("SQS queue", 80, re.compile(r"^[A-Za-z0-9_-]+$"), _WORD)
SNS_TOPIC = NameRule("SNS topic", 256, re.compile(r"^[A-Za-z0-9_-]+$"), _WORD)
LAMBDA_FUNCTION = NameRule("Lambda function", 64, re.compile(r"^[A-Za-z0-9_-]+$"), _WORD)
KMS_ALIAS = NameRule("KMS alias", 256, re.compile(r"^alias/(?!aws/)[A-Za-z0-9/_-]+$"), _WORD_SLASH)
IAM_ROLE = NameRule("IAM role", 64, re.compile(r"^[\w+=,.@-]+$"), "letters, digits and +=,.@_-")
EVENT_RULE = NameRule("EventBridge rule", 64, re.compile(r"^[.\-_A-Za-z0-9]+$"), _WORD_DOT)
EVENT_BUS = NameRule("EventBridge bus", 256, re.compile(r"^[/.\-_A-Za-z0-9]+$"), _WORD_DOT_SLASH)
DYNAMODB_TABLE = NameRule("DynamoDB table", 255, re.compile(r"^[A-Za-z0-9_.-]+$"), _WORD_DOT, min_length=3)
CLOUDWATCH_ALARM = NameRule("CloudWatch alarm", 255, re.compile(r"^[^\x00-\x1f]+$"), "printable characters")
LOG_GROUP = NameRule(
    "CloudWatch log group", 512, re.compile(r"^[.\-_/#A-Za-z0-9]+$"), "letters, digits, ._/#"
)


def dead_letter_queue_name(name: str = DEFAULT_NAME) -> str:
    return f"{name}-dlq"


def key_alias(name: str = DEFAULT_NAME) -> str:
    return f"alias/{name}"


def forwarder_key_alias(name: str = DEFAULT_NAME) -> str:
    return f"alias/{name}-forwarder"


def forwarder_dead_letter_queue_name(name: str = DEFAULT_NAME) -> str:
    return f"{name}-forwarder-dlq"


def spoke_dead_letter_queue_name(name: str = DEFAULT_NAME) -> str:
    return f"{name}-forwarding-dlq"


def spoke_events_role_name(name: str = DEFAULT_NAME) -> str:
    return f"{name}-forwarding"


def function_name(name: str = DEFAULT_NAME) -> str:
    return name


def log_group_name(name: str = DEFAULT_NAME) -> str:
    return f"/aws/lambda/{function_name(name)}"


def dead_letter_alarm_name(name: str = DEFAULT_NAME) -> str:
    return f"{name}-dead-letters"


def join_failed_alarm_name(name: str = DEFAULT_NAME) -> str:
    """The alarm on the handler's given-up joins (its `JoinFailed` metric)."""
    return f"{name}-join-failed"


def tools_host_ambiguous_alarm_name(name: str = DEFAULT_NAME) -> str:
    """The alarm on more than one qualifying tools host (the handler's `ToolsHostAmbiguous` metric)."""
    return f"{name}-tools-host-ambiguous"


# --- Reconciliation (modules/reconcile.py, docs/reconcile.md) ---------------------------------------------
def reconcile_queue_name(name: str = DEFAULT_NAME) -> str:
    return f"{name}-reconcile"


def reconcile_dead_letter_queue_name(name: str = DEFAULT_NAME) -> str:
    return f"{name}-reconcile-dlq"


def reconcile_planner_name(name: str = DEFAULT_NAME) -> str:
    """The planner function, and its role."""
    return f"{name}-reconcile-planner"


def reconcile_worker_name(name: str = DEFAULT_NAME) -> str:
    """The worker function, and its role."""
    return f"{name}-reconcile-worker"


def reconcile_worker_role_arn(partition: str, account_id: str, name: str = DEFAULT_NAME) -> str:
    """The worker's role: the spokes' execution roles trust it (modules/spoke.py)."""
    return arns.role_arn(partition, account_id, reconcile_worker_name(name))


def reconcile_reader_role_name(name: str = DEFAULT_NAME) -> str:
    """The describe-only role of every spoke that the worker assumes (modules/spoke.py); the handler's
    default is contract.DEFAULT_RECONCILE_READER_ROLE_NAME, this of the default name."""
    return f"{name}-reconcile-reader"


def reconcile_schedule_rule_name(name: str = DEFAULT_NAME) -> str:
    return f"{name}-reconcile-schedule"


def reconcile_alarm_name(name: str, what: str) -> str:
    """The reconciliation's alarms: ``what`` is ``threshold`` or ``orphans``."""
    return f"{name}-reconcile-{what}"


def inventory_bucket_name(name: str, account_id: str, region: str) -> str:
    """The inventory bucket (S3 names are global: the account and Region make it unique)."""
    return f"{name}-inventory-{account_id}-{region}"


S3_BUCKET = NameRule(
    "S3 bucket", 63, re.compile(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$"), "lower-case letters, digits, . and -", 3
)


RULE_SOURCES = ("bus", "default")  # the buses each unit listens on: its own bus and the default bus
CAPACITY_DIMENSIONS = ("Read", "Write")  # provisioned tables scale both (table_scaling_policy_name)


def table_scaling_policy_name(table_name: str, dimension: str) -> str:
    return f"{table_name}-{dimension.lower()}"


def generated_names(
    name: str, *, config_table_name: str, ledger_table_name: str, spoke_role_name: str
) -> list[tuple[str, NameRule, str]]:
    """Every (what, rule, value) the hub, forwarders and spokes create from these inputs."""
    names: list[tuple[str, NameRule, str]] = [
        ("join queue", SQS_QUEUE, join_queue_name(name)),
        ("dead-letter queue", SQS_QUEUE, dead_letter_queue_name(name)),
        ("forwarder dead-letter queue", SQS_QUEUE, forwarder_dead_letter_queue_name(name)),
        ("spoke dead-letter queue", SQS_QUEUE, spoke_dead_letter_queue_name(name)),
        ("forwarder topic", SNS_TOPIC, forwarder_topic_name(name)),
        ("handler function", LAMBDA_FUNCTION, function_name(name)),
        ("handler log group", LOG_GROUP, log_group_name(name)),
        ("hub key alias", KMS_ALIAS, key_alias(name)),
        ("forwarder key alias", KMS_ALIAS, forwarder_key_alias(name)),
        ("handler role", IAM_ROLE, handler_role_name(name)),
        ("spoke events role", IAM_ROLE, spoke_events_role_name(name)),
        ("spoke execution role", IAM_ROLE, spoke_role_name),
        ("bus", EVENT_BUS, name),
        ("dead-letter alarm", CLOUDWATCH_ALARM, dead_letter_alarm_name(name)),
        ("join-failed alarm", CLOUDWATCH_ALARM, join_failed_alarm_name(name)),
        ("tools-host-ambiguous alarm", CLOUDWATCH_ALARM, tools_host_ambiguous_alarm_name(name)),
        ("config table", DYNAMODB_TABLE, config_table_name),
        ("ledger table", DYNAMODB_TABLE, ledger_table_name),
        ("reconcile queue", SQS_QUEUE, reconcile_queue_name(name)),
        ("reconcile dead-letter queue", SQS_QUEUE, reconcile_dead_letter_queue_name(name)),
        ("reconcile planner function", LAMBDA_FUNCTION, reconcile_planner_name(name)),
        ("reconcile worker function", LAMBDA_FUNCTION, reconcile_worker_name(name)),
        ("reconcile planner role", IAM_ROLE, reconcile_planner_name(name)),
        ("reconcile worker role", IAM_ROLE, reconcile_worker_name(name)),
        ("spoke reconcile reader role", IAM_ROLE, reconcile_reader_role_name(name)),
        ("reconcile schedule rule", EVENT_RULE, reconcile_schedule_rule_name(name)),
        ("reconcile threshold alarm", CLOUDWATCH_ALARM, reconcile_alarm_name(name, "threshold")),
        ("reconcile orphans alarm", CLOUDWATCH_ALARM, reconcile_alarm_name(name, "orphans")),
    ]
    for source in RULE_SOURCES:
        names.append((f"EC2 state rule ({source})", EVENT_RULE, rule_name(name, source)))
        names.append((f"command failure rule ({source})", EVENT_RULE, command_rule_name(name, source)))
    for table in (config_table_name, ledger_table_name):
        for dimension in CAPACITY_DIMENSIONS:
            policy = table_scaling_policy_name(table, dimension)
            names.append((f"scaling policy of {table}", CLOUDWATCH_ALARM, policy))
    return names


def name_problem(rule: NameRule, value: str) -> str | None:
    """Why `rule.service` would refuse `value`, or None."""
    if not rule.min_length <= len(value) <= rule.max_length:
        return (
            f"{rule.service} name {value!r} has {len(value)} characters "
            f"({rule.min_length}-{rule.max_length} allowed)"
        )
    if not rule.pattern.fullmatch(value):
        return f"{rule.service} name {value!r} may hold only {rule.allowed}"
    return None


def name_problems(
    name: str, *, config_table_name: str, ledger_table_name: str, spoke_role_name: str
) -> list[str]:
    """One message per generated name AWS would refuse (empty when all are valid)."""
    problems = []
    for what, rule, value in generated_names(
        name,
        config_table_name=config_table_name,
        ledger_table_name=ledger_table_name,
        spoke_role_name=spoke_role_name,
    ):
        problem = name_problem(rule, value)
        if problem is not None:
            problems.append(f"{what}: {problem}")
    return problems


# --- Stacks -------------------------------------------------------------------------------------------
HUB_STACK = "hub"


def forwarder_stack_name(region: str) -> str:
    return f"forwarder-{region}"


def spoke_stack_name(account_id: str) -> str:
    return f"spoke-{account_id}"


DIRECTORY_NETWORK_STACK = "directory-network"

# --- Workforce identity (modules/identity.py, modules/entra.py) -------------------------------------
IDENTITY_STACK = "identity"
"""IAM Identity Center permission sets and account assignments (management or delegated admin account)."""
ENTRA_STACK = "identity-entra"
"""The Entra ID side (azuread provider): enterprise application, SAML, SCIM provisioning."""

AD_ADMINISTRATORS_PERMISSION_SET = "ADAdministrators"
Q_DEVELOPER_PERMISSION_SET = "AmazonQDeveloperUsers"
PERMISSION_SET = NameRule(
    "IAM Identity Center permission set", 32, re.compile(r"^[\w+=,.@-]+$"), "letters, digits and +=,.@_-"
)
PERMISSION_SET_DESCRIPTION_MAX = 700  # CreatePermissionSet's Description
GROUP_DISPLAY_NAME_MAX = 1024  # identity store DisplayName
SESSION_DURATION_MIN_SECONDS = 3600  # what IAM Identity Center accepts: 1 to 12 hours
SESSION_DURATION_MAX_SECONDS = 12 * 3600
ENTRA_APPLICATION_NAME = "AWS IAM Identity Center"
"""Default display name of the enterprise application created from the gallery template."""
ENTRA_GALLERY_TEMPLATE = "AWS IAM Identity Center (successor to AWS Single Sign-On)"
"""The gallery template's display name (`azuread_application_template`, exact match)."""
ENTRA_SYNCHRONIZATION_TEMPLATE = "aWSSingleSignon"
"""The provisioning connector's synchronization template of that gallery application."""
ENTRA_PROVISIONING_RULE = "03f7d90d-bf71-41b1-bda6-aaf0ddbee5d8"
"""Its synchronization rule USERGROUP_OUTBOUND_USERGROUP (supports provision on demand)."""
SESSION_DURATION = re.compile(r"^PT(?=\d)(?:(\d{1,5})H)?(?:(\d{1,5})M)?(?:(\d{1,6})S)?$")


def session_duration_problem(value: object) -> str | None:
    """Why IAM Identity Center would refuse `value` as a session duration (ISO 8601, PT1H-PT12H), or None."""
    match = SESSION_DURATION.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return f"{value!r} is not an ISO 8601 duration of hours/minutes/seconds (PT8H, PT1H30M)"
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if not SESSION_DURATION_MIN_SECONDS <= total <= SESSION_DURATION_MAX_SECONDS:
        return f"{value} is {total} s: IAM Identity Center accepts PT1H to PT12H"
    return None
