"""From a synthesized unit (cdktf JSON, construct-hash names) to a plain module with the conventions of
hand-written Terraform modules: readable addresses, `create`, `tags`, `try(...)` outputs, `moved` blocks.

Addresses: each resource's name comes from its construct path (the `//` metadata cdktf writes), so it is the
same on every run: the path's segments below the unit (without cdktf's `Default`), words already in the
resource type dropped (`join-queue` of an `aws_sqs_queue` is `join`), `this` when nothing is left;
`NAME_OVERRIDES` is the one table of exceptions.  Two resources of one type with the same name fail the
generation (and so the test that regenerates the modules).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from .hcl import expression, sole_expression

LEGACY_ADDRESSES = Path(__file__).resolve().parent / "legacy_addresses.json"

# (resource type, construct path below the unit) -> name, where the derived name reads worse.
NAME_OVERRIDES: Mapping[tuple[str, str], str] = {
    ("aws_kms_alias", "key/alias"): "this",
    ("aws_cloudwatch_metric_alarm", "dead-letter-queue/alarm"): "dead_letter_queue",
    ("aws_lambda_event_source_mapping", "handler/queue-trigger"): "this",
    ("aws_lambda_event_source_mapping", "worker/queue-trigger"): "worker",
    ("aws_cloudwatch_event_rule", "rule-bus"): "state_change_bus",
    ("aws_cloudwatch_event_rule", "rule-default"): "state_change_default",
    ("aws_cloudwatch_event_target", "target-bus"): "state_change_bus",
    ("aws_cloudwatch_event_target", "target-default"): "state_change_default",
    ("aws_cloudwatch_event_rule", "rule"): "state_change",
    ("aws_cloudwatch_event_target", "target"): "state_change",
    ("aws_cloudwatch_event_rule", "command-rule"): "command_failure",
    ("aws_cloudwatch_event_target", "command-target"): "command_failure",
    ("aws_sns_topic_subscription", "home-queue-subscription"): "home_queue",
}
WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def derived_name(resource_type: str, path: str) -> str:
    """The readable name of a resource of `resource_type` at construct `path` (below the unit)."""
    if (resource_type, path) in NAME_OVERRIDES:
        return NAME_OVERRIDES[(resource_type, path)]
    type_words = set(resource_type.split("_"))
    words = [
        word.lower()
        for segment in path.split("/")
        if segment != "Default"
        for word in WORD.findall(segment)
        if word.lower() not in type_words
    ]
    return "_".join(words) or "this"


@dataclass
class Module:
    """One plain module in Terraform's JSON form, split as the files it is rendered into."""

    unit: str
    terraform: dict[str, Any]
    variables: dict[str, dict[str, Any]]
    data: dict[str, dict[str, Any]]
    resources: dict[str, dict[str, Any]]
    outputs: dict[str, dict[str, Any]]
    moved: list[tuple[str, str]] = field(default_factory=list)  # (from, to)
    paths: dict[str, str] = field(default_factory=dict)  # address -> construct path
    locals: dict[str, Any] = field(default_factory=dict)  # e.g. the port table (directory and member network)

    def addresses(self) -> list[str]:
        return [f"{t}.{n}" for t, bodies in self.resources.items() for n in bodies]

    def as_json(self) -> dict[str, Any]:
        return {
            "terraform": self.terraform,
            "variable": self.variables,
            "data": self.data,
            "resource": self.resources,
            "output": self.outputs,
            "moved": [{"from": a, "to": b} for a, b in self.moved],
            **({"locals": self.locals} if self.locals else {}),
        }


def legacy_entries(path: Path = LEGACY_ADDRESSES) -> dict[str, dict[str, dict[str, Any]]]:
    """unit -> former address -> {"path": construct path, "repeated": "count", "for_each" or None}."""
    data = json.loads(path.read_text())
    return {unit: entries for unit, entries in data.items() if unit != "//"}


def legacy_addresses(unit: str, path: Path = LEGACY_ADDRESSES) -> dict[str, str]:
    """The unit's former addresses -> construct path."""
    return {address: entry["path"] for address, entry in legacy_entries(path).get(unit, {}).items()}


def _rename_pattern(prefix: str, type_name: str, old: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w.-]){re.escape(prefix + type_name)}\.{re.escape(old)}(?![\w-])(\.)?")


def _rewrite(value: Any, rules: list[tuple[re.Pattern[str], str, bool]]) -> Any:
    if isinstance(value, dict):
        return {k: _rewrite(v, rules) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, rules) for v in value]
    if isinstance(value, str):
        for pattern, new, indexed in rules:
            value = pattern.sub(partial(_renamed, new, indexed), value)
    return value


def _renamed(new: str, indexed: bool, match: re.Match[str]) -> str:
    """A reference renamed; `.attr` of a resource that now has `count` reads its instance `[0]`."""
    dot = match.group(1) or ""
    return new + ("[0]" if indexed and dot else "") + dot


def _guarded_count(count: str) -> str:
    code = sole_expression(count)
    if code is None:
        return f"${{var.create ? {count} : 0}}"
    switched = re.fullmatch(r"(.+) \? 1 : 0", code)
    if switched and not any(c in switched.group(1) for c in "?:()"):
        return f"${{var.create && {switched.group(1)} ? 1 : 0}}"
    return f"${{var.create ? ({code}) : 0}}"


def _guarded_for_each(for_each: str) -> str:
    code = sole_expression(for_each)
    assert code is not None, for_each
    empty = "toset([])" if code.startswith("toset(") else "{}"
    return f"${{var.create ? {code} : {empty}}}"


def _tags(existing: Any) -> str:
    if existing in (None, {}):
        return "${var.tags}"
    if isinstance(existing, str):
        code = sole_expression(existing)
        return f"${{merge(var.tags, {code if code is not None else expression(existing)})}}"
    return "${merge(var.tags, " + expression(existing, 1).replace("\n", " ").replace("  ", " ") + ")}"


def convert(
    unit: str,
    synthesized: Mapping[str, Any],
    variables: dict[str, dict[str, Any]],
    outputs: Mapping[str, str],
    output_values: Mapping[str, Any],
    taggable: set[str],
    legacy: Mapping[str, str],
) -> Module:
    """The module of `unit` from its synthesized JSON; `variables` are the unit's declared variables (the
    `create` and `tags` variables are added), `outputs` name -> description, `output_values` name -> value
    as synthesized; `legacy` the unit's former addresses -> construct path."""
    config = copy.deepcopy(dict(synthesized))
    rules: list[tuple[re.Pattern[str], str, bool]] = []
    names: dict[str, str] = {}  # construct path -> new address
    paths: dict[str, str] = {}
    resources: dict[str, dict[str, Any]] = {}
    data: dict[str, dict[str, Any]] = {}
    for kind, target, prefix in (("resource", resources, ""), ("data", data, "data.")):
        for type_name, bodies in config.get(kind, {}).items():
            for old, body in bodies.items():
                meta = body.pop("//", None)
                full = meta["metadata"]["path"].split("/", 1)[1] if meta else old  # below the stack
                below = full.split("/", 1)[1] if "/" in full else full  # below the unit's construct
                new = derived_name(type_name, below) if meta else old
                if new in target.get(type_name, {}):
                    raise ValueError(f"{unit}: {prefix}{type_name}.{new} names two constructs ({full})")
                newly_counted = kind == "resource" and "count" not in body and "for_each" not in body
                rules.append(
                    (_rename_pattern(prefix, type_name, old), f"{prefix}{type_name}.{new}", newly_counted)
                )
                target.setdefault(type_name, {})[new] = body
                if kind == "resource":
                    names[full] = f"{type_name}.{new}{'[0]' if newly_counted else ''}"
                    paths[f"{type_name}.{new}"] = full
    resources = _rewrite(resources, rules)
    data = _rewrite(data, rules)
    for type_name, bodies in resources.items():
        for body in bodies.values():
            if "for_each" in body:
                body["for_each"] = _guarded_for_each(body["for_each"])
            else:
                body["count"] = _guarded_count(body.get("count", "1"))
            if type_name in taggable:
                body["tags"] = _tags(body.get("tags"))
            for depends in ("depends_on",):
                if depends in body:
                    body[depends] = [re.sub(r"\[0\]$", "", d) for d in body[depends]]
    module_outputs = {}
    for name, description in outputs.items():
        value = _rewrite(output_values[name], rules)
        code = sole_expression(value) if isinstance(value, str) else None
        if code is None or code.startswith("var.create ? "):  # a literal, or already null when not created
            guarded = value
        elif re.search(r"(?<![\w.])aws_\w+\.\w", code) and not re.search(r"(?<![\w.])var\.", code):
            guarded = f"${{try({code}, null)}}"  # a resource's attribute: null when not created
        elif re.search(r"(?<![\w.])aws_\w+\.\w", code):  # a resource or an input: create decides
            guarded = f"${{var.create ? ({code}) : null}}"
        else:
            guarded = f"${{var.create ? {code} : null}}"
        module_outputs[name] = {"description": description, "value": guarded}
    moved = []
    for old_address, path in sorted(legacy.items()):
        if path not in names:
            raise ValueError(f"{unit}: {old_address} (construct {path}) has no resource any more")
        if names[path] != old_address:
            moved.append((old_address, names[path]))
    return Module(
        unit, config.get("terraform", {}), variables, data, resources, module_outputs, moved, paths,
        config.get("locals", {}),
    )  # fmt: skip
