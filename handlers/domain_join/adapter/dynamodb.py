"""DynamoDB batch reads and writes, with their ``UnprocessedKeys``/``UnprocessedItems`` loops.

DynamoDB may leave part of a batch unprocessed (throttling, size): the rest is sent again after a short
growing pause, ``UNPROCESSED_ATTEMPTS`` times in all, then the batch fails as ``TransientAwsError``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Final

from ..errors import TransientAwsError
from .errors import translated
from .sessions import DYNAMODB_DESERIALIZER as _DESERIALIZER
from .sessions import DYNAMODB_SERIALIZER as _SERIALIZER

BATCH_GET_LIMIT: Final = 100
BATCH_WRITE_LIMIT: Final = 25
UNPROCESSED_ATTEMPTS: Final = 4


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _SERIALIZER.serialize(v) for k, v in item.items()}


def deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _DESERIALIZER.deserialize(v) for k, v in item.items()}


def batch_get(
    client: Any,
    table: str,
    key: str,
    values: Collection[str],
    consistent: bool,
    sleep: Callable[[float], None] = time.sleep,
) -> list[dict[str, Any]]:
    """The items of ``table`` whose string key ``key`` is one of ``values`` (absent ones are skipped)."""
    ordered = sorted(set(values))
    items: list[dict[str, Any]] = []
    for start in range(0, len(ordered), BATCH_GET_LIMIT):
        request: dict[str, Any] = {
            table: {
                "Keys": [{key: {"S": v}} for v in ordered[start : start + BATCH_GET_LIMIT]],
                "ConsistentRead": consistent,
            }
        }
        for attempt in range(UNPROCESSED_ATTEMPTS):
            with translated("dynamodb:BatchGetItem"):
                response = client.batch_get_item(RequestItems=request)
            items += [deserialize(i) for i in response.get("Responses", {}).get(table, [])]
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            if attempt + 1 < UNPROCESSED_ATTEMPTS:
                sleep(0.05 * 2**attempt)
        else:
            raise TransientAwsError(f"dynamodb:BatchGetItem left keys of {table} unprocessed")
    return items


def batch_put(
    client: Any, table: str, items: Sequence[Mapping[str, Any]], sleep: Callable[[float], None] = time.sleep
) -> None:
    """Put ``items`` (plain Python values) into ``table``, 25 per call."""
    for start in range(0, len(items), BATCH_WRITE_LIMIT):
        chunk = items[start : start + BATCH_WRITE_LIMIT]
        requests: list[Any] = [{"PutRequest": {"Item": serialize(item)}} for item in chunk]
        for attempt in range(UNPROCESSED_ATTEMPTS):
            with translated("dynamodb:BatchWriteItem"):
                response = client.batch_write_item(RequestItems={table: requests})
            requests = response.get("UnprocessedItems", {}).get(table, [])
            if not requests:
                break
            if attempt + 1 < UNPROCESSED_ATTEMPTS:
                sleep(0.05 * 2**attempt)
        else:
            raise TransientAwsError(
                f"dynamodb:BatchWriteItem left {len(requests)} items of {table} unprocessed"
            )
