"""IAM policy documents as plain data, and their serialisation.

Documents are built as Python dicts so that tests can feed exactly what is
deployed to parliament, and so that concrete stacks carry readable JSON.  When a
document holds values only Terraform knows (the plain modules' variables), it is
emitted through `jsonencode` instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .cdk import Fn, Token, contains_token, is_token

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


def external_id_conditions(external_id: str | None) -> dict[str, Any] | None:
    """The trust condition requiring `external_id` as sts:ExternalId; None without one."""
    return {"StringEquals": {"sts:ExternalId": external_id}} if external_id else None


def external_id_trust_policy(trust: Callable[[str | None], Mapping[str, Any]], external_id: Any) -> Any:
    """The JSON of `trust(external_id)`, the trust document of a role the hub assumes with `external_id`.

    In a plain module `external_id` is a Terraform string where "" means none: the policy is then chosen
    at plan, `trust(None)` (no condition) for "".
    """
    policy: Any = to_json(trust(external_id))
    if is_token(external_id):
        policy = Token.as_string(
            Fn.conditional(Fn.can(Fn.regex("^$", str(external_id))), to_json(trust(None)), policy)
        )
    return policy


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
