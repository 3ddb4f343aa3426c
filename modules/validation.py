"""Checks shared by the props classes; each error names the field at fault.

A value that is a Terraform token (a plain module's variable) is not known at
synth time and passes: the variable's own `validation` block checks it at plan.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .cdk import is_token


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
