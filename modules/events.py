"""The EventBridge pattern every rule of the flow uses (DESIGN.md step 1)."""

from __future__ import annotations

import json
from typing import Any

EC2_STATE_CHANGE_PATTERN: dict[str, Any] = {
    "source": ["aws.ec2"],
    "detail-type": ["EC2 Instance State-change Notification"],
    "detail": {"state": ["running", "terminated"]},
}


def ec2_state_change_pattern_json() -> str:
    return json.dumps(EC2_STATE_CHANGE_PATTERN, separators=(",", ":"))
