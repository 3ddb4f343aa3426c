"""Where the operator's commands find the hub: its Region, tables, join queue and the spoke role name.

The names follow the hub's own naming (``modules/naming.py``, pure: no cdktf) from the landing zone's
``name`` (``--name``, alias ``--prefix``); each can be overridden by a flag or an environment variable:

    option              environment (first set wins)                         default
    --hub-region        EC2_DOMAIN_JOIN_HUB_REGION, AWS_REGION, AWS_DEFAULT_REGION   (required)
    --name/--prefix     EC2_DOMAIN_JOIN_NAME                                 domain-join
    --config-table      CONFIG_TABLE_NAME (the handler's own variable)       domain-join-config
    --ledger-table      LEDGER_TABLE_NAME (the handler's own variable)       domain-join-ledger
    --join-queue        EC2_DOMAIN_JOIN_JOIN_QUEUE                           <name>-queue
    --spoke-role-name   SPOKE_ROLE_NAME (the handler's own variable)         ec2-domain-join-execution

Example::

    @cli.command()
    @hub_options
    def accounts(**hub: str) -> None:
        target = HubTarget.from_options(hub)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import click

from handlers.domain_join import contract, patterns, settings
from modules import naming

from .output import EXIT_USAGE, Failed

HUB_REGION_ENV: Final = ("EC2_DOMAIN_JOIN_HUB_REGION", "AWS_REGION", "AWS_DEFAULT_REGION")
NAME_ENV: Final = "EC2_DOMAIN_JOIN_NAME"
JOIN_QUEUE_ENV: Final = "EC2_DOMAIN_JOIN_JOIN_QUEUE"

_F = TypeVar("_F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class HubTarget:
    """The hub the commands act on (names as the hub module derives them, unless overridden)."""

    region: str
    name: str = naming.DEFAULT_NAME
    config_table: str = naming.DEFAULT_CONFIG_TABLE_NAME
    ledger_table: str = naming.DEFAULT_LEDGER_TABLE_NAME
    join_queue: str = ""  # "" : naming.join_queue_name(name)
    spoke_role_name: str = str(settings.SPOKE_ROLE_NAME.default)

    @property
    def join_queue_name(self) -> str:
        return self.join_queue or naming.join_queue_name(self.name)

    @classmethod
    def from_options(cls, values: Mapping[str, Any]) -> HubTarget:
        """The target from ``hub_options``' values; raises ``Failed`` (exit 2) naming each bad one."""
        region = str(values.get("hub_region") or "").strip()
        problems: list[str] = []
        if not region:
            problems.append("no hub Region: give --hub-region or set AWS_REGION")
        elif not patterns.REGION.match(region):
            problems.append(f"--hub-region: {region[:40]!r} is not a Region name")
        target = cls(
            region=region,
            name=str(values.get("name") or naming.DEFAULT_NAME),
            config_table=str(values.get("config_table") or naming.DEFAULT_CONFIG_TABLE_NAME),
            ledger_table=str(values.get("ledger_table") or naming.DEFAULT_LEDGER_TABLE_NAME),
            join_queue=str(values.get("join_queue") or ""),
            spoke_role_name=str(values.get("spoke_role_name") or settings.SPOKE_ROLE_NAME.default),
        )
        checks = (
            ("--config-table", naming.DYNAMODB_TABLE, target.config_table),
            ("--ledger-table", naming.DYNAMODB_TABLE, target.ledger_table),
            ("--join-queue/--name", naming.SQS_QUEUE, target.join_queue_name),
            ("--spoke-role-name", naming.IAM_ROLE, target.spoke_role_name),
        )
        for option, rule, value in checks:
            problem = naming.name_problem(rule, value)
            if problem is not None:
                problems.append(f"{option}: {problem}")
        if problems:
            raise Failed(problems, EXIT_USAGE)
        return target


_OPTIONS: Final = (
    click.option(
        "--hub-region",
        envvar=list(HUB_REGION_ENV),
        metavar="REGION",
        help="The hub's (home) Region. Env: " + ", ".join(HUB_REGION_ENV) + ".",
    ),
    click.option(
        "--name",
        "--prefix",
        "name",
        envvar=NAME_ENV,
        default=naming.DEFAULT_NAME,
        show_default=True,
        help="The landing zone's name (the hub's queue, worker and bucket names derive from it). "
        f"Env: {NAME_ENV}.",
    ),
    click.option(
        "--config-table",
        envvar=contract.ENV_CONFIG_TABLE,
        default=naming.DEFAULT_CONFIG_TABLE_NAME,
        show_default=True,
        help=f"The config table. Env: {contract.ENV_CONFIG_TABLE}.",
    ),
    click.option(
        "--ledger-table",
        envvar=contract.ENV_LEDGER_TABLE,
        default=naming.DEFAULT_LEDGER_TABLE_NAME,
        show_default=True,
        help=f"The ledger table. Env: {contract.ENV_LEDGER_TABLE}.",
    ),
    click.option(
        "--join-queue",
        envvar=JOIN_QUEUE_ENV,
        default="",
        help=f"The join queue's name (default: NAME-queue). Env: {JOIN_QUEUE_ENV}.",
    ),
    click.option(
        "--spoke-role-name",
        envvar=contract.ENV_SPOKE_ROLE_NAME,
        default=str(settings.SPOKE_ROLE_NAME.default),
        show_default=True,
        help="The execution role of config items without assumeRoleARN. Env: "
        f"{contract.ENV_SPOKE_ROLE_NAME}.",
    ),
)


def hub_options(command: _F) -> _F:
    """Add the hub's options (``--hub-region``, ``--name``, tables, queue, spoke role name) to a command."""
    for option in reversed(_OPTIONS):
        command = option(command)
    return command
