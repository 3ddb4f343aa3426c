"""Parse join-queue bodies into state changes.

Three forms reach the queue (docs/architecture.md): the EventBridge event itself (home
Region), an SNS notification whose ``Message`` is that event (other Regions),
and the same with raw delivery (the plain event again).  Two kinds of event
travel in them: EC2 instance state changes, and SSM's status changes of our
Run Command invocations (only failures are routed).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any, Final

from . import patterns
from .contract import (
    COMMAND_STATUS_DETAIL_TYPE,
    COMMAND_STATUS_SOURCE,
    INSTANCE_STATE_DETAIL_TYPE,
    INSTANCE_STATE_SOURCE,
    JOIN_DOCUMENT,
    PRESTAGE_DOCUMENT,
    REMOVE_DOCUMENT,
)
from .errors import MalformedMessageError

RUNNING: Final = "running"
TERMINATED: Final = "terminated"
HANDLED_STATES: Final = frozenset({RUNNING, TERMINATED})

_ACCOUNT_RE: Final = patterns.ACCOUNT_ID
_REGION_RE: Final = patterns.REGION
_INSTANCE_RE: Final = patterns.INSTANCE_ID
_COMMAND_ID_RE: Final = patterns.COMMAND_ID
_STATUS_RE: Final = patterns.COMMAND_STATUS
OUR_DOCUMENTS: Final = frozenset({JOIN_DOCUMENT, PRESTAGE_DOCUMENT, REMOVE_DOCUMENT})


@dataclass(frozen=True, slots=True)
class InstanceStateChange:
    account: str
    region: str
    instance_id: str
    state: str
    event_time: str
    event_id: str
    message_id: str = ""  # the SQS message that carried it: a ledger claim names it as its claimant
    receive_count: int = 0  # that message's ApproximateReceiveCount


@dataclass(frozen=True, slots=True)
class CommandStatusChange:
    """A Run Command invocation of one of our documents changed status (SSM's event, per instance).

    ``instance_id`` is where the command ran: the joining instance for DomainJoin-Join, the tools host
    for DomainJoin-Prestage / DomainJoin-Remove.
    """

    account: str
    region: str
    command_id: str
    document_name: str
    instance_id: str
    status: str
    event_time: str
    event_id: str
    message_id: str = ""
    receive_count: int = 0

    @property
    def state(self) -> str:
        """What this event says, as a key next to an instance state (never "running"/"terminated")."""
        return f"{self.document_name} {self.command_id} {self.status}"


StateChange = InstanceStateChange | CommandStatusChange


EVENT_TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"  # EventBridge's ``time``: ISO 8601 UTC, to the second


def event_time(epoch: int) -> str:
    """``epoch`` (seconds) as an event's ``time`` (``EVENT_TIME_FORMAT``), for ``instance_state_event``."""
    return time.strftime(EVENT_TIME_FORMAT, time.gmtime(epoch))


def instance_state_event(
    account: str, region: str, instance_id: str, state: str, *, event_id: str, time: str
) -> dict[str, Any]:
    """An EC2 state-change event as EventBridge delivers it (the form ``parse_body`` reads).

    The reconciler puts these on the join queue for instances whose own event never came (backfill,
    a lost terminate), so they take the normal join and removal path.  ``event_id`` should say where it
    came from (e.g. ``reconcile-<run>-<instance>``); ``time`` is ISO 8601 UTC (``event_time``).
    """
    if state not in HANDLED_STATES:
        raise ValueError(f"unsupported state {state!r}")
    return {
        "version": "0",
        "id": event_id,
        "detail-type": INSTANCE_STATE_DETAIL_TYPE,
        "source": INSTANCE_STATE_SOURCE,
        "account": account,
        "time": time,
        "region": region,
        "resources": [],
        "detail": {"instance-id": instance_id, "state": state},
    }


def parse_body(body: str | None) -> StateChange:
    """Return the change carried by ``body`` or raise ``MalformedMessageError`` naming the problem."""
    document = _load_object(body, "body")
    if document.get("Type") == "Notification" and "Message" in document:
        message = document["Message"]
        if not isinstance(message, str):
            raise MalformedMessageError("SNS notification: Message is not a string")
        document = _load_object(message, "SNS Message")
    return _parse_event(document)


def _load_object(text: str | None, what: str) -> dict[str, Any]:
    if not text:
        raise MalformedMessageError(f"{what} is empty")
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise MalformedMessageError(f"{what} is not JSON ({exc.__class__.__name__})") from exc
    if not isinstance(value, dict):
        raise MalformedMessageError(f"{what} is not a JSON object")
    return value


def _parse_event(event: dict[str, Any]) -> StateChange:
    if event.get("source") == COMMAND_STATUS_SOURCE:
        return _parse_command_status(event)
    if event.get("source") != INSTANCE_STATE_SOURCE or event.get("detail-type") != INSTANCE_STATE_DETAIL_TYPE:
        raise MalformedMessageError(
            f"not an EC2 state-change event (source={event.get('source')!r}, "
            f"detail-type={event.get('detail-type')!r})"
        )
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise MalformedMessageError("event has no detail object")
    account = _field(event, "account", _ACCOUNT_RE)
    region = _field(event, "region", _REGION_RE)
    instance_id = _field(detail, "instance-id", _INSTANCE_RE)
    state = detail.get("state")
    if state not in HANDLED_STATES:
        raise MalformedMessageError(f"unsupported state {state!r} (expected running or terminated)")
    return InstanceStateChange(
        account=account,
        region=region,
        instance_id=instance_id,
        state=str(state),
        event_time=str(event.get("time", "")),
        event_id=str(event.get("id", "")),
    )


def _parse_command_status(event: dict[str, Any]) -> CommandStatusChange:
    if event.get("detail-type") != COMMAND_STATUS_DETAIL_TYPE:
        raise MalformedMessageError(
            f"not a Run Command status event (detail-type={event.get('detail-type')!r})"
        )
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise MalformedMessageError("event has no detail object")
    document = detail.get("document-name")
    if document not in OUR_DOCUMENTS:
        raise MalformedMessageError(f"status event of another document: {str(document)[:60]!r}")
    return CommandStatusChange(
        account=_field(event, "account", _ACCOUNT_RE),
        region=_field(event, "region", _REGION_RE),
        command_id=_field(detail, "command-id", _COMMAND_ID_RE),
        document_name=str(document),
        instance_id=_field(detail, "instance-id", _INSTANCE_RE),
        status=_field(detail, "status", _STATUS_RE),
        event_time=str(event.get("time", "")),
        event_id=str(event.get("id", "")),
    )


def _field(source: dict[str, Any], name: str, pattern: re.Pattern[str]) -> str:
    value = source.get(name)
    if value is None or value == "":
        raise MalformedMessageError(f"event lacks {name}")
    if not isinstance(value, str) or not pattern.match(value):
        raise MalformedMessageError(f"event has an invalid {name}: {str(value)[:40]!r}")
    return value
