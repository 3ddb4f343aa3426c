"""The EventBridge patterns of the flow: EC2 state changes (docs/architecture.md, step 1) and Run Command
failures.  Sources, detail types and states are the handler's own (contract.py, events.py): a rule lets
through exactly what the handler parses."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from handlers.domain_join import contract
from handlers.domain_join.events import RUNNING, TERMINATED

EC2_STATE_CHANGE_PATTERN: dict[str, Any] = {
    "source": [contract.INSTANCE_STATE_SOURCE],
    "detail-type": [contract.INSTANCE_STATE_DETAIL_TYPE],
    "detail": {"state": [RUNNING, TERMINATED]},
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
