"""The EventBridge patterns of the flow: EC2 state changes (DESIGN.md step 1) and Run Command failures."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from handlers.domain_join import contract

EC2_STATE_CHANGE_PATTERN: dict[str, Any] = {
    "source": ["aws.ec2"],
    "detail-type": ["EC2 Instance State-change Notification"],
    "detail": {"state": ["running", "terminated"]},
}


def ec2_state_change_pattern_json() -> str:
    return json.dumps(EC2_STATE_CHANGE_PATTERN, separators=(",", ":"))


def command_failure_pattern(document_names: Sequence[str]) -> dict[str, Any]:
    """Failed, timed-out or cancelled invocations of our documents only: a success needs no event, and
    other documents' commands are none of the handler's business."""
    return {
        "source": [contract.COMMAND_STATUS_SOURCE],
        "detail-type": [contract.COMMAND_STATUS_DETAIL_TYPE],
        "detail": {
            "status": list(contract.COMMAND_FAILED_STATUSES),
            "document-name": list(document_names),
        },
    }


def command_failure_pattern_json(document_names: Sequence[str]) -> str:
    return json.dumps(command_failure_pattern(document_names), separators=(",", ":"))
