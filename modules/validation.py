"""Checks shared by the props classes; each error names the field at fault.

A value that is a Terraform token (a plain module's variable) is not known at
synth time and passes: the variable's own `validation` block checks it at plan.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from handlers.domain_join import settings

from . import arns
from .cdk import is_token
from .patterns import ACCOUNT_ID, ORGANIZATION_ID


class PropsError(ValueError):
    """An invalid property; the message starts with the field name."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


def check_pattern(field: str, value: Any, pattern: re.Pattern[str], what: str) -> None:
    if is_token(value):
        return
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise PropsError(field, f"{value!r} is not {what}")


def check_each(field: str, values: Iterable[Any], pattern: re.Pattern[str], what: str) -> None:
    if is_token(values):
        return
    for index, value in enumerate(values):
        check_pattern(f"{field}[{index}]", value, pattern, what)


def check_range(field: str, value: Any, low: int, high: int) -> None:
    if is_token(value):
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise PropsError(field, f"{value!r} must be an integer between {low} and {high}")


def check_unique(field: str, values: Iterable[Any]) -> None:
    if is_token(values):
        return
    seen: set[Any] = set()
    for value in values:
        if value in seen:
            raise PropsError(field, f"{value!r} is listed twice")
        seen.add(value)


def check_principals(organization_id: str | None, principal_account_ids: Iterable[Any]) -> None:
    """Who may send events: the organization, or else an explicit account list (hub and forwarders alike)."""
    if organization_id is None and not principal_account_ids:
        raise PropsError("organization_id", "give organization_id or principal_account_ids")
    if organization_id is not None:
        check_pattern("organization_id", organization_id, ORGANIZATION_ID, "an organization id (o-…)")
    check_each("principal_account_ids", principal_account_ids, ACCOUNT_ID, "a 12-digit account id")


def check_setting(setting: settings.Setting, value: Any) -> None:
    """A value of one of the shared settings (handlers/domain_join/settings.py): its table's range,
    length and choices."""
    if is_token(value):
        return
    problem = settings.check(setting, value)
    if problem is not None:
        raise PropsError(setting.name, problem.removeprefix(f"{setting.name}: "))


def check_partition(field: str, region: Any) -> str | None:
    """The ARN partition of a Region name (None for a Terraform value); an unknown Region names `field`."""
    if is_token(region):
        return None
    try:
        return arns.partition_of(region)
    except ValueError as error:
        raise PropsError(field, str(error)) from None


def check_same_partition(field: str, regions: Any, partition: str | None) -> None:
    """Every Region of `regions` lies in `partition` (one landing zone never spans partitions)."""
    if partition is None or is_token(regions):
        return
    for index, region in enumerate(regions):
        other = check_partition(f"{field}[{index}]", region)
        if other is not None and other != partition:
            raise PropsError(f"{field}[{index}]", f"{region} is in partition {other}, not {partition}")


def int_default(setting: settings.Setting) -> int:
    """The default of an integer setting, for a props field."""
    if not isinstance(setting.default, int):
        raise TypeError(f"{setting.name} has no integer default")
    return setting.default


def str_default(setting: settings.Setting) -> str:
    """The default of a string setting, for a props field."""
    if not isinstance(setting.default, str):
        raise TypeError(f"{setting.name} has no string default")
    return setting.default
