"""Terraform variables read off a construct's props class, so a plain module's inputs are never retyped.

- description: the field's docstring (the string right after the field in the class body);
- default: the dataclass default;
- type: from the annotation (`int` -> number, `str` -> string, `bool`, `Sequence[str]` -> list(string));
- validation: the props' own `__post_init__` checks of that field, read from its source
  (`check_range("f", self.f, low, high)`, `check_pattern("f", self.f, PATTERN, what)`,
  `check_each(...)`, `check_log_retention("f", self.f)`, `if self.f not in CHOICES`), with the same
  constants, so a changed range or pattern changes the module at its next generation.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import itertools
import json
import re
import sys
import textwrap
from typing import Any

from .hcl import quoted

TYPES = {"int": "number", "str": "string", "bool": "bool", "Sequence[str]": "list(string)"}


def _class_tree(cls: type) -> ast.ClassDef:
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    node = tree.body[0]
    assert isinstance(node, ast.ClassDef)
    return node


def field_docs(cls: type) -> dict[str, str]:
    docs: dict[str, str] = {}
    body = _class_tree(cls).body
    for node, after in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def _constant(cls: type, node: ast.expr) -> Any:
    """A literal, or a name/attribute the props' module defines (PATTERN, ports.X, ...)."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_constant(cls, node.operand)
    namespace = vars(sys.modules[cls.__module__])
    if isinstance(node, ast.Name):
        return namespace[node.id]
    if isinstance(node, ast.Attribute):
        return getattr(_constant(cls, node.value), node.attr)
    raise ValueError(f"{cls.__name__}: not a constant: {ast.unparse(node)}")


RE2_MAX_REPEAT = 1000  # RE2 (Terraform's regex()) refuses a counted repetition above this


def regex_text(pattern: re.Pattern[str]) -> str:
    """A Python pattern as an RE2 pattern for Terraform's regex() (`\\Z` -> `$`).  A repetition `{m,n}`
    with n above RE2's limit becomes `{m,}` (else regex() fails and every value is refused): such a
    value's length is then left to AWS."""
    text = pattern.pattern.replace(r"\Z", "$")
    return re.sub(
        r"\{(\d+),(\d+)\}",
        lambda m: m.group(0) if int(m.group(2)) <= RE2_MAX_REPEAT else f"{{{m.group(1)},}}",
        text,
    )


def field_rules(cls: type) -> dict[str, tuple[str, str]]:
    """field -> (condition with `VAR` for the variable, error message), from `__post_init__`."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls.__post_init__)))  # type: ignore[attr-defined]
    rules: dict[str, tuple[str, str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args:
            first = node.args[0]
            if not isinstance(first, ast.Constant) or not isinstance(first.value, str):
                continue
            name, function, args = first.value, node.func.id, node.args
            if function == "check_range":
                low, high = _constant(cls, args[2]), _constant(cls, args[3])
                rules[name] = (
                    f"floor(VAR) == VAR && VAR >= {low} && VAR <= {high}",
                    f"{name} must be a whole number from {low} to {high}",
                )
            elif function in ("check_pattern", "check_each"):
                pattern, what = _constant(cls, args[2]), _constant(cls, args[3])
                test = f"can(regex({quoted(regex_text(pattern))}, SUBJECT))"
                condition = (
                    test.replace("SUBJECT", "VAR")
                    if function == "check_pattern"
                    else f"alltrue([for value in VAR : {test.replace('SUBJECT', 'value')}])"
                )
                rules[name] = (
                    condition,
                    f"{name}: {'each' if function == 'check_each' else 'it'} must be {what}",
                )
            elif function == "check_log_retention":
                from modules.function import LOG_RETENTION_DAYS as days

                rules[name] = (
                    f"contains({json.dumps(list(days))}, VAR)",
                    f"{name} must be one of {', '.join(map(str, days))}",
                )
        if (
            isinstance(node, ast.Compare)
            and isinstance(node.left, ast.Attribute)
            and isinstance(node.ops[0], ast.NotIn)
        ):
            choices = _constant(cls, node.comparators[0])
            rules[node.left.attr] = (
                f"contains({json.dumps(list(choices))}, VAR)",
                f"{node.left.attr} must be one of {', '.join(choices)}",
            )
    return rules


def field_default(cls: type, name: str) -> Any:
    field = {f.name: f for f in dataclasses.fields(cls)}[name]
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    raise KeyError(f"{cls.__name__}.{name} has no default")


def field_type(cls: type, name: str) -> str:
    annotation = {f.name: f for f in dataclasses.fields(cls)}[name].type
    text = str(annotation).replace(" | None", "")
    return TYPES[text]
