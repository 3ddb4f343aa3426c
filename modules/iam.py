"""IAM policy documents as plain data, and their serialisation.

Documents are built as Python dicts so that tests can feed exactly what is
deployed to parliament, and so that concrete stacks carry readable JSON.  When a
document holds values only Terraform knows (the plain modules' variables), it is
emitted through `jsonencode` instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .cdk import Fn, contains_token

Statement = dict[str, Any]


def policy_document(statements: Iterable[Statement]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def statement(
    sid: str,
    actions: Sequence[str],
    resources: Sequence[str] | str,
    *,
    conditions: Mapping[str, Any] | None = None,
    effect: str = "Allow",
) -> Statement:
    result: Statement = {
        "Sid": sid,
        "Effect": effect,
        "Action": list(actions) if len(actions) > 1 else actions[0],
        "Resource": resources if isinstance(resources, str) else list(resources),
    }
    if conditions:
        result["Condition"] = {op: _condition_body(body) for op, body in conditions.items()}
    return result


def _condition_body(body: Any) -> Any:
    """A copy of a condition's key/value map, or the Terraform expression that builds it."""
    return dict(body) if isinstance(body, Mapping) else body


def resource_statement(
    sid: str,
    principal: Mapping[str, Any] | str,
    actions: Sequence[str],
    resources: Sequence[str] | str,
    *,
    conditions: Mapping[str, Any] | None = None,
    effect: str = "Allow",
) -> Statement:
    """A statement of a resource policy (bus, queue, topic, key, trust policy)."""
    result = statement(sid, actions, resources, conditions=conditions, effect=effect)
    result["Principal"] = principal if isinstance(principal, str) else dict(principal)
    order = ["Sid", "Effect", "Principal", "Action", "Resource", "Condition"]
    return {key: result[key] for key in order if key in result}


def trust_statement(
    sid: str, principal: Mapping[str, Any], *, conditions: Mapping[str, Any] | None = None
) -> Statement:
    result: Statement = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": dict(principal),
        "Action": "sts:AssumeRole",
    }
    if conditions:
        result["Condition"] = {op: _condition_body(body) for op, body in conditions.items()}
    return result


def service_trust_policy(sid: str, service: str, account: str) -> str:
    """Trust policy JSON for an AWS service acting for `account` only (no confused deputy)."""
    return to_json(
        policy_document(
            [
                trust_statement(
                    sid, {"Service": service}, conditions={"StringEquals": {"aws:SourceAccount": account}}
                )
            ]
        )
    )


def deny_insecure_transport(resources: Sequence[str] | str, actions: str = "*") -> Statement:
    """The TLS-only guard every resource policy carries."""
    return resource_statement(
        "DenyInsecureTransport",
        "*",
        [actions],
        resources,
        conditions={"Bool": {"aws:SecureTransport": "false"}},
        effect="Deny",
    )


def to_json(document: Mapping[str, Any]) -> str:
    """JSON text for a policy argument; `jsonencode(...)` when Terraform must fill in values."""
    if contains_token(document):
        return str(Fn.jsonencode(document))
    return json.dumps(document, indent=None, separators=(",", ":"))
