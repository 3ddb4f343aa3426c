"""The one table of tunable settings shared by the handler, the modules and the plain Terraform modules.

Each setting is declared once, as a ``Setting``: its Python/Terraform name, the Lambda environment variable
that carries it to the handler (``None`` when only the infrastructure uses it), its type, default, allowed
range or values, and a description.  Everything else is derived from this table:

* the handler's ``Settings.from_env`` (below) parses and checks the environment with ``parse``;
* the hub's props checks, the landing-zone reader and the plain modules' ``validation`` blocks call
  ``check`` / read ``low``, ``high``, ``choices`` and ``default``.

Pure data and pure functions (no boto3, no Powertools), so the modules can import it at synth time.

Public API (stable names)::

    Setting                      frozen dataclass describing one setting
    SETTINGS                     Mapping[str, Setting], keyed by Setting.name
    READINESS_DEADLINE_SECONDS, CONFIG_CACHE_TTL_SECONDS, LEDGER_LEASE_SECONDS, MAX_COMMAND_ATTEMPTS,
    FUNCTION_TIMEOUT_SECONDS, TOOLS_HOST_TAG_KEY, TOOLS_HOST_TAG_VALUE, TOOLS_HOST_INSTANCE_PROFILE_ARN,
    TOOLS_HOST_INSTANCE_ID, SPOKE_ROLE_NAME,
    SPOKE_ROLE_EXTERNAL_ID, POWERTOOLS_LAYER_VERSION, JOIN_DELAY_SECONDS, JOIN_FAILED_ALARM_THRESHOLD,
    JOIN_FAILED_ALARM_PERIOD_MINUTES
                                 the Setting objects themselves
    RECONCILE_SETTINGS           the reconciler's settings (RECONCILE_SCHEDULE, RECONCILE_DRY_RUN, ...),
                                 apart from SETTINGS (the join handler's)
    LEDGER_LEASE_FACTOR          the lease is this many times the function timeout
    ledger_lease_seconds(t)      the lease for a function timeout of t seconds
    check(setting, value)        the problem with ``value`` as a string, or None when it is allowed
    parse(setting, text)         an environment string as the setting's typed value (the default when
                                 blank); raises SettingError naming the variable when it is not allowed
    SettingError                 ValueError subclass raised by ``parse``
    Settings                     the handler's settings object; ``Settings.from_env(os.environ)``

Example::

    >>> from handlers.domain_join import settings
    >>> settings.check(settings.READINESS_DEADLINE_SECONDS, 30)
    'readiness_deadline_seconds: 30 is not between 60 and 86400'
    >>> settings.parse(settings.MAX_COMMAND_ATTEMPTS, "")
    3
    >>> settings.ledger_lease_seconds(120)
    240
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from . import contract, wire

SettingValue = int | str


class SettingError(ValueError):
    """An environment value that the settings table does not allow; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Setting:
    """One tunable setting.

    Parameters:
        name: the name in Python props, the landing-zone file and the plain modules' variables.
        env: the Lambda environment variable that carries it (``None``: infrastructure only).
        kind: ``int`` or ``str``.
        default: the value when unset; ``None`` when the default is derived (see ``description``).
        description: what it means, in one or two sentences (also the Terraform variable description).
        low: smallest allowed value (``int`` settings; ``None``: unbounded).
        high: largest allowed value (``int`` settings; ``None``: unbounded).
        choices: the allowed values, when the setting is an enumeration (empty: any).
        max_length: longest allowed string (``str`` settings; 0: no limit).
        allow_empty: whether an empty string is a valid ``str`` value.
    """

    name: str
    env: str | None
    kind: type[int] | type[str]
    default: SettingValue | None
    description: str
    low: int | None = None
    high: int | None = None
    choices: tuple[SettingValue, ...] = ()
    max_length: int = 0
    allow_empty: bool = False


# The lease of a ledger claim (JOINING/REMOVING) is LEDGER_LEASE_FACTOR times the function timeout: it
# outlives the invocation that made the claim (>= 1x) but ends before the message's visibility timeout
# (6x, AWS guidance for SQS event sources) brings the message back.  When LEDGER_LEASE_SECONDS is not set,
# the handler applies the same rule to its own timeout (the remaining time at the start of an invocation).
LEDGER_LEASE_FACTOR: Final = 2

FUNCTION_TIMEOUT_SECONDS: Final = Setting(
    name="function_timeout_seconds",
    env=None,
    kind=int,
    default=120,
    low=10,
    high=900,
    description="Timeout of the handler function, in seconds.",
)
READINESS_DEADLINE_SECONDS: Final = Setting(
    name="readiness_deadline_seconds",
    env=contract.ENV_READINESS_DEADLINE_SECONDS,
    kind=int,
    default=3600,
    low=60,
    high=86400,
    description=(
        "How long the handler waits for an instance to be ready (counted from the event's arrival in the "
        "join queue) before it dead-letters the event; sets the join queue's maxReceiveCount."
    ),
)
CONFIG_CACHE_TTL_SECONDS: Final = Setting(
    name="config_cache_ttl_seconds",
    env=contract.ENV_CONFIG_CACHE_TTL_SECONDS,
    kind=int,
    default=300,
    low=0,
    high=3600,
    description="How long a warm handler keeps config items and the tools host before reading them again.",
)
LEDGER_LEASE_SECONDS: Final = Setting(
    name="ledger_lease_seconds",
    env=contract.ENV_LEDGER_LEASE_SECONDS,
    kind=int,
    default=None,
    low=FUNCTION_TIMEOUT_SECONDS.low,
    high=LEDGER_LEASE_FACTOR * (FUNCTION_TIMEOUT_SECONDS.high or 900),
    description=(
        f"How long a ledger claim (JOINING/REMOVING) shuts out other invocations. Default: "
        f"{LEDGER_LEASE_FACTOR} x the function timeout (the hub sets it so); unset, the handler uses "
        f"{LEDGER_LEASE_FACTOR} x its own timeout."
    ),
)
MAX_COMMAND_ATTEMPTS: Final = Setting(
    name="max_command_attempts",
    env=contract.ENV_MAX_COMMAND_ATTEMPTS,
    kind=int,
    default=3,
    low=1,
    high=10,
    description=(
        "How many times a join or remove command is sent (the first included) before the ledger marks "
        "it JOIN_FAILED / REMOVE_FAILED."
    ),
)
TOOLS_HOST_TAG_KEY: Final = Setting(
    name="tools_host_tag_key",
    env=contract.ENV_TOOLS_HOST_TAG_KEY,
    kind=str,
    default="ADToolsHost",
    max_length=128,
    description="Tag key that marks the AD tools host in the hub account.",
)
TOOLS_HOST_TAG_VALUE: Final = Setting(
    name="tools_host_tag_value",
    env=contract.ENV_TOOLS_HOST_TAG_VALUE,
    kind=str,
    default="true",
    max_length=256,
    description="Value of the tools-host tag.",
)
TOOLS_HOST_INSTANCE_PROFILE_ARN: Final = Setting(
    name="tools_host_instance_profile_arn",
    env=contract.ENV_TOOLS_HOST_INSTANCE_PROFILE_ARN,
    kind=str,
    default="",
    max_length=2048,
    allow_empty=True,
    description=(
        "ARN of the tools host's instance profile: a tagged instance is the tools host only with this "
        "profile (or with tools_host_instance_id). With neither, the handler sends no tools-host command."
    ),
)
TOOLS_HOST_INSTANCE_ID: Final = Setting(
    name="tools_host_instance_id",
    env=contract.ENV_TOOLS_HOST_INSTANCE_ID,
    kind=str,
    default="",
    max_length=19,
    allow_empty=True,
    description="Instance id of the tools host, accepted whatever its profile (empty: the profile decides).",
)
SPOKE_ROLE_NAME: Final = Setting(
    name="spoke_role_name",
    env=contract.ENV_SPOKE_ROLE_NAME,
    kind=str,
    default=contract.DEFAULT_SPOKE_ROLE_NAME,
    max_length=64,
    description="Name of the execution role in every spoke account, for config items without assumeRoleARN.",
)
SPOKE_ROLE_EXTERNAL_ID: Final = Setting(
    name="spoke_role_external_id",
    env=contract.ENV_SPOKE_ROLE_EXTERNAL_ID,
    kind=str,
    default="",
    max_length=1224,
    allow_empty=True,
    description="External id the handler passes when it assumes a spoke role (empty: none).",
)
POWERTOOLS_LAYER_VERSION: Final = Setting(
    name="powertools_layer_version",
    env=None,
    kind=int,
    default=36,
    low=1,
    high=10000,
    description="Version of the public Powertools for AWS Lambda (Python) layer.",
)
JOIN_DELAY_SECONDS: Final = Setting(
    name="join_delay_seconds",
    env=None,
    kind=int,
    default=300,
    low=0,
    high=900,
    description="Delivery delay of the join queue: time for a new instance's SSM agent to come Online.",
)

JOIN_FAILED_ALARM_THRESHOLD: Final = Setting(
    name="join_failed_alarm_threshold",
    env=None,
    kind=int,
    default=3,
    low=1,
    high=100000,
    description="Given-up joins (the handler's JoinFailed metric) within join_failed_alarm_period_minutes "
    "that raise the hub's join-failed alarm.",
)
JOIN_FAILED_ALARM_PERIOD_MINUTES: Final = Setting(
    name="join_failed_alarm_period_minutes",
    env=None,
    kind=int,
    default=60,
    low=1,
    high=1440,
    description="Period of the join-failed alarm, in minutes (CloudWatch: at most one day).",
)

SETTINGS: Final[Mapping[str, Setting]] = MappingProxyType(
    {
        s.name: s
        for s in (
            FUNCTION_TIMEOUT_SECONDS,
            READINESS_DEADLINE_SECONDS,
            CONFIG_CACHE_TTL_SECONDS,
            LEDGER_LEASE_SECONDS,
            MAX_COMMAND_ATTEMPTS,
            TOOLS_HOST_TAG_KEY,
            TOOLS_HOST_TAG_VALUE,
            TOOLS_HOST_INSTANCE_PROFILE_ARN,
            TOOLS_HOST_INSTANCE_ID,
            SPOKE_ROLE_NAME,
            SPOKE_ROLE_EXTERNAL_ID,
            POWERTOOLS_LAYER_VERSION,
            JOIN_DELAY_SECONDS,
            JOIN_FAILED_ALARM_THRESHOLD,
            JOIN_FAILED_ALARM_PERIOD_MINUTES,
        )
    }
)


# --- Reconciliation (docs/reconcile.md): the planner's and the workers' settings, apart from the join
# handler's table above (the join handler never reads them).  The landing zone's `reconciliation:` section
# and modules/reconcile.py check them with ``check``; reconcile.plan.ReconcileSettings parses them.
RECONCILE_SCHEDULE: Final = Setting(
    name="schedule",
    env=None,
    kind=str,
    default="rate(1 hour)",
    max_length=256,
    description="When the reconciliation runs: an EventBridge Scheduler rate(...) or cron(...) expression.",
)
RECONCILE_DRY_RUN: Final = Setting(
    name="dry_run",
    env=contract.ENV_RECONCILE_DRY_RUN,
    kind=str,
    default="false",
    choices=("true", "false"),
    description="true: the workers only report what they would do (logs and metrics); nothing is changed.",
)
RECONCILE_MAX_REMOVALS: Final = Setting(
    name="max_removals",
    env=contract.ENV_RECONCILE_MAX_REMOVALS,
    kind=int,
    default=25,
    low=0,
    high=10000,
    description="Removals per (account, Region) and run at most; above it (or the percentage) none is made.",
)
RECONCILE_MAX_REMOVAL_PERCENT: Final = Setting(
    name="max_removal_percent",
    env=contract.ENV_RECONCILE_MAX_REMOVAL_PERCENT,
    kind=int,
    default=10,
    low=0,
    high=100,
    description="Removals per (account, Region) and run at most, as a percentage of its stamped objects.",
)
RECONCILE_RETRY_PERIOD_SECONDS: Final = Setting(
    name="retry_period_seconds",
    env=contract.ENV_RECONCILE_RETRY_PERIOD_SECONDS,
    kind=int,
    default=86400,
    low=3600,
    high=30 * 86400,
    description="A JOIN_FAILED record is joined again at most once per this period (not on every run).",
)
RECONCILE_QUARANTINE_DAYS: Final = Setting(
    name="quarantine_days",
    env=contract.ENV_RECONCILE_QUARANTINE_DAYS,
    kind=int,
    default=0,
    low=0,
    high=365,
    description="0: orphaned computer objects are deleted. N: disabled first, deleted N days later.",
)
RECONCILE_READER_ROLE_NAME: Final = Setting(
    name="reader_role_name",
    env=contract.ENV_RECONCILE_READER_ROLE_NAME,
    kind=str,
    default=contract.DEFAULT_RECONCILE_READER_ROLE_NAME,
    max_length=64,
    description="Name of the describe-only role in every spoke account that the reconcile worker assumes "
    "(arn:<partition>:iam::<account>:role/<name>; the hub sets it to <name>-reconcile-reader).",
)
RECONCILE_SETTINGS: Final[Mapping[str, Setting]] = MappingProxyType(
    {
        s.name: s
        for s in (
            RECONCILE_SCHEDULE,
            RECONCILE_DRY_RUN,
            RECONCILE_MAX_REMOVALS,
            RECONCILE_MAX_REMOVAL_PERCENT,
            RECONCILE_RETRY_PERIOD_SECONDS,
            RECONCILE_QUARANTINE_DAYS,
            RECONCILE_READER_ROLE_NAME,
        )
    }
)


def ledger_lease_seconds(function_timeout_seconds: int) -> int:
    """The default lease of a ledger claim for a function timeout of ``function_timeout_seconds``."""
    return LEDGER_LEASE_FACTOR * function_timeout_seconds


def check(setting: Setting, value: object) -> str | None:
    """The problem with ``value`` for ``setting`` (a message starting with its name), or None if allowed."""
    if setting.kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{setting.name}: {value!r} is not a whole number"
        if setting.low is not None and setting.high is not None and not setting.low <= value <= setting.high:
            return f"{setting.name}: {value} is not between {setting.low} and {setting.high}"
        if setting.low is not None and value < setting.low:
            return f"{setting.name}: {value} is less than {setting.low}"
        if setting.high is not None and value > setting.high:
            return f"{setting.name}: {value} is more than {setting.high}"
    else:
        if not isinstance(value, str):
            return f"{setting.name}: {value!r} is not a string"
        if not value and not setting.allow_empty:
            return f"{setting.name}: must not be empty"
        if setting.max_length and len(value) > setting.max_length:
            return f"{setting.name}: longer than {setting.max_length} characters"
    if setting.choices and value not in setting.choices:
        return f"{setting.name}: {value!r} is not one of {', '.join(map(str, setting.choices))}"
    return None


def parse(setting: Setting, text: str | None) -> SettingValue | None:
    """``text`` (an environment value) as the setting's value; blank or ``None`` gives the default.

    Raises ``SettingError`` naming the environment variable when the value is not allowed.
    """
    where = setting.env or setting.name
    raw = (text or "").strip()
    if not raw:
        return setting.default
    value: SettingValue
    if setting.kind is int:
        try:
            value = int(raw)
        except ValueError as exc:
            raise SettingError(f"{where}: {raw[:40]!r} is not a whole number") from exc
    else:
        value = raw
    problem = check(setting, value)
    if problem is not None:
        raise SettingError(f"{where}: {problem}")
    return value


def _sealing_key_arn(env: Mapping[str, str]) -> str:
    """contract.ENV_SEALING_KEY_ARN: "" or a KMS key ARN (wire.KMS_KEY_ARN)."""
    value = env.get(contract.ENV_SEALING_KEY_ARN, "").strip()
    if value and not re.fullmatch(wire.KMS_KEY_ARN, value):
        raise SettingError(f"environment variable {contract.ENV_SEALING_KEY_ARN} is not a KMS key ARN")
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    """The handler's configuration, read from its environment (set by the hub module); the one settings
    object of the handler (the adapter takes it as it is).

    Parameters:
        home_region: the hub's Region (``AWS_REGION``).
        config_table, ledger_table, dead_letter_queue_url: the hub's resources (required).
        The others: see ``settings.SETTINGS`` (the one table of names, defaults and ranges).
        ``ledger_lease_seconds`` is ``None`` when the environment leaves it to the handler, which then
        applies ``settings.ledger_lease_seconds`` to its own timeout.

    Example::

        settings = Settings.from_env(os.environ)
    """

    home_region: str
    config_table: str
    ledger_table: str
    dead_letter_queue_url: str
    tools_host_tag_key: str = str(TOOLS_HOST_TAG_KEY.default)
    tools_host_tag_value: str = str(TOOLS_HOST_TAG_VALUE.default)
    tools_host_instance_profile_arn: str = str(TOOLS_HOST_INSTANCE_PROFILE_ARN.default)
    tools_host_instance_id: str = str(TOOLS_HOST_INSTANCE_ID.default)
    spoke_role_external_id: str = str(SPOKE_ROLE_EXTERNAL_ID.default)
    readiness_deadline_seconds: int = int(READINESS_DEADLINE_SECONDS.default or 0)
    config_cache_ttl_seconds: int = int(CONFIG_CACHE_TTL_SECONDS.default or 0)
    ledger_lease_seconds: int | None = None
    spoke_role_name: str = str(SPOKE_ROLE_NAME.default)
    max_command_attempts: int = int(MAX_COMMAND_ATTEMPTS.default or 0)
    # The hub key one-time passwords are sealed with (contract.ENV_SEALING_KEY_ARN, set by the hub module to
    # its key); "" sends them unsealed (a handler deployed without the hub module).
    sealing_key_arn: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read every setting; raises ``settings.SettingError`` naming a missing or invalid variable."""

        def required(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                raise SettingError(f"environment variable {name} is not set")
            return value

        # Every field named like a setting of the table is parsed by that setting.
        tunables = {
            name: parse(setting, env.get(setting.env or ""))
            for name, setting in SETTINGS.items()
            if setting.env is not None and name in cls.__dataclass_fields__
        }
        return cls(
            home_region=required("AWS_REGION"),
            config_table=required(contract.ENV_CONFIG_TABLE),
            ledger_table=required(contract.ENV_LEDGER_TABLE),
            dead_letter_queue_url=required(contract.ENV_DEAD_LETTER_QUEUE_URL),
            sealing_key_arn=_sealing_key_arn(env),
            **tunables,  # type: ignore[arg-type]
        )
