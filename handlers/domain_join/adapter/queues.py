"""The join queue (visibility timeouts of records to retry), its DLQ, and queue URLs.

A queue URL is built from the SQS client's own endpoint for the queue's Region (``amazonaws.com``,
``amazonaws.com.cn``, a FIPS or VPC endpoint ... whatever botocore resolves), never from a string rule.

Example::

    queues = Queues(sessions, dead_letter_queue_url)
    url = queues.queue_url("arn:aws-cn:sqs:cn-north-1:123456789012:domain-join")
    # 'https://sqs.cn-north-1.amazonaws.com.cn/123456789012/domain-join'
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from ..arns import parse_arn
from ..errors import DomainJoinError
from .errors import translated
from .sessions import Sessions

SQS_BATCH_LIMIT: Final = 10


class Queues:
    """Parameters: ``sessions`` (hub clients), ``dead_letter_queue_url`` (where records that can never
    succeed go, with their reason)."""

    def __init__(self, sessions: Sessions, dead_letter_queue_url: str) -> None:
        self._sessions = sessions
        self._dead_letter_queue_url = dead_letter_queue_url

    def queue_url(self, queue_arn: str) -> str:
        """The URL of the queue ``queue_arn`` names, on the endpoint of its Region's SQS client."""
        arn = parse_arn(queue_arn)
        if arn.service != "sqs" or not arn.region or not arn.account:
            raise ValueError(f"not a queue ARN: {queue_arn[:80]!r}")
        endpoint = str(self._sessions.hub_client("sqs", arn.region).meta.endpoint_url).rstrip("/")
        return f"{endpoint}/{arn.account}/{arn.resource}"

    def change_visibility(self, queue_url: str, timeouts: Sequence[tuple[str, int]]) -> int:
        """Set each (receipt handle, seconds); returns how many SQS refused (those keep the default)."""
        client = self._sessions.hub_client("sqs")
        refused = 0
        for start in range(0, len(timeouts), SQS_BATCH_LIMIT):
            chunk = timeouts[start : start + SQS_BATCH_LIMIT]
            entries = [
                {"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": seconds}
                for n, (handle, seconds) in enumerate(chunk)
            ]
            with translated("sqs:ChangeMessageVisibilityBatch"):
                response = client.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
            refused += len(response.get("Failed", []))
        return refused

    def dead_letter(self, messages: Sequence[tuple[str, Mapping[str, Any], str]]) -> set[str]:
        """Send (message id, wrapper body, reason code) to the DLQ; returns the ids SQS refused."""
        client = self._sessions.hub_client("sqs")
        refused: set[str] = set()
        for start in range(0, len(messages), SQS_BATCH_LIMIT):
            chunk = messages[start : start + SQS_BATCH_LIMIT]
            entries = [
                {
                    "Id": str(n),
                    "MessageBody": json.dumps(body, sort_keys=True),
                    "MessageAttributes": {"reason": {"DataType": "String", "StringValue": code}},
                }
                for n, (_, body, code) in enumerate(chunk)
            ]
            try:
                with translated("sqs:SendMessageBatch (DLQ)"):
                    response = client.send_message_batch(
                        QueueUrl=self._dead_letter_queue_url, Entries=entries
                    )
            except DomainJoinError:
                refused |= {message_id for message_id, _, _ in chunk}
                continue
            refused |= {chunk[int(f["Id"])][0] for f in response.get("Failed", [])}
        return refused
