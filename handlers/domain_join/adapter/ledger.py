"""The ledger store: one DynamoDB item per instance (``LedgerEntry``) and per remove command
(``CommandRecord``), read consistently, written in batches, and claimed in transactions.

The condition of every claim is derived from the one transition table, ``claims.TRANSITIONS``:
``claim_condition`` turns the rule of a claim into a ``ConditionExpression`` with exactly the attribute
names and values it uses (DynamoDB refuses unused ones).

Example::

    store = LedgerStore(sessions, "domain-join-ledger")
    entries, commands = store.read(["i-0123456789abcdef0"], ["<command id>"])
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from ..claims import ALWAYS, FREE, SAME_COMMAND, rule_for
from ..contract import LEDGER_RETRIED_AT_ATTRIBUTE, LEDGER_TABLE_KEY, LEDGER_TTL_ATTRIBUTE
from ..errors import LedgerClaimRefusedError, TransientAwsError
from ..model import COMMAND_KEY_PREFIX, CommandRecord, LedgerEntry
from . import dynamodb
from .errors import error_code, translate_core_error, translate_error, translated
from .sessions import Sessions

TRANSACTION_LIMIT: Final = 100  # TransactWriteItems actions per call

# A claim is free once its lease is over, or to a later receive of the message that made it.
_LEASE_OVER: Final = "attribute_not_exists(#lease) OR #lease <= :now"
_EARLIER_RECEIVE: Final = "(#claimant = :claimant AND #claim_receive < :receive_count)"

# LedgerEntry field -> ledger item attribute: the one map (the reconcile adapter reads items through it).
ENTRY_FIELDS: Final = {
    "instance_id": LEDGER_TABLE_KEY,
    "account": "account",
    "region": "region",
    "computer_name": "computerName",
    "domain": "domain",
    "status": "status",
    "created_at": "createdAt",
    "updated_at": "updatedAt",
    "join_user": "joinUserName",
    "password_parameter": "joinPasswordParameter",
    "platform": "platform",
    "prestage_command_id": "prestageCommandId",
    "join_command_id": "joinCommandId",
    "remove_command_id": "removeCommandId",
    "expires_at": LEDGER_TTL_ATTRIBUTE,
    "lease_expires_at": "leaseExpiresAt",
    "claimed_by": "claimedBy",
    "claim_receive_count": "claimReceiveCount",
    "attempts": "attempts",
}
_INT_FIELDS: Final = frozenset(
    {"created_at", "updated_at", "expires_at", "lease_expires_at", "claim_receive_count", "attempts"}
)


def claim_condition(
    entry: LedgerEntry, now: int, resend_of: str
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The condition of one claim (expression, names, values), derived from ``claims.TRANSITIONS``.

    ``resend_of``: the failed command this claim sends again ("" for a first join or removal).
    """
    rule = rule_for(entry, resend_of)
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    alternatives: list[str] = []
    for number, source in enumerate(rule.sources):
        if source.status is None:
            names["#key"] = LEDGER_TABLE_KEY
            alternatives.append("attribute_not_exists(#key)")
            continue
        names["#status"] = ENTRY_FIELDS["status"]
        placeholder = f":s{number}"
        values[placeholder] = source.status
        test = f"#status = {placeholder}"
        if source.guard == FREE:
            names["#lease"] = ENTRY_FIELDS["lease_expires_at"]
            values[":now"] = now
            free = _LEASE_OVER
            if entry.claimed_by:
                names.update(
                    {
                        "#claimant": ENTRY_FIELDS["claimed_by"],
                        "#claim_receive": ENTRY_FIELDS["claim_receive_count"],
                    }
                )
                values.update({":claimant": entry.claimed_by, ":receive_count": entry.claim_receive_count})
                free = f"{_LEASE_OVER} OR {_EARLIER_RECEIVE}"
            test = f"({test} AND ({free}))"
        elif source.guard == SAME_COMMAND:
            names["#command"] = ENTRY_FIELDS[rule.command_field]
            values[":command"] = resend_of
            test = f"({test} AND #command = :command)"
        elif source.guard != ALWAYS:
            raise ValueError(f"unknown guard {source.guard!r}")
        alternatives.append(test)
    expression = " OR ".join(alternatives)
    if rule.same_account:
        names["#account"] = ENTRY_FIELDS["account"]
        values[":account"] = entry.account
        expression = f"#account = :account AND ({expression})"
    return expression, names, values


def item_from_entry(entry: LedgerEntry) -> dict[str, Any]:
    item: dict[str, Any] = {}
    for field_name, attribute in ENTRY_FIELDS.items():
        value = getattr(entry, field_name)
        if value not in ("", 0):  # DynamoDB keeps no empty markers; TTL 0 means "keep"
            item[attribute] = value
    return item


def entry_from_item(item: Mapping[str, Any]) -> LedgerEntry:
    values: dict[str, Any] = {}
    for field_name, attribute in ENTRY_FIELDS.items():
        if attribute in item:
            raw = item[attribute]
            values[field_name] = int(raw) if field_name in _INT_FIELDS else str(raw)
        else:
            values[field_name] = 0 if field_name in _INT_FIELDS else ""
    return LedgerEntry(**values)


def item_from_command(record: CommandRecord) -> dict[str, Any]:
    return {
        LEDGER_TABLE_KEY: COMMAND_KEY_PREFIX + record.command_id,
        "document": record.document,
        "instances": list(record.instance_ids),
        ENTRY_FIELDS["created_at"]: record.created_at,
        LEDGER_TTL_ATTRIBUTE: record.expires_at,
    }


def command_from_item(item: Mapping[str, Any]) -> CommandRecord:
    return CommandRecord(
        command_id=str(item[LEDGER_TABLE_KEY])[len(COMMAND_KEY_PREFIX) :],
        document=str(item.get("document", "")),
        instance_ids=tuple(str(i) for i in item.get("instances", [])),
        created_at=int(item.get(ENTRY_FIELDS["created_at"], 0)),
        expires_at=int(item.get(LEDGER_TTL_ATTRIBUTE, 0)),
    )


class LedgerStore:
    """Reads, writes and claims of the ledger table (hub account, home Region).

    Parameters:
        sessions: where the hub's DynamoDB client comes from.
        table: the ledger table's name.
        sleep: pause between retries of unprocessed items.
    """

    def __init__(self, sessions: Sessions, table: str, sleep: Callable[[float], None] = time.sleep) -> None:
        self._sessions = sessions
        self._table = table
        self._sleep = sleep

    def read(
        self, instance_ids: Collection[str], command_ids: Collection[str] = ()
    ) -> tuple[dict[str, LedgerEntry], dict[str, CommandRecord]]:
        keys = [*instance_ids, *(COMMAND_KEY_PREFIX + c for c in command_ids)]
        client = self._sessions.hub_client("dynamodb")
        items = dynamodb.batch_get(client, self._table, LEDGER_TABLE_KEY, keys, True, self._sleep)
        entries: dict[str, LedgerEntry] = {}
        commands: dict[str, CommandRecord] = {}
        for item in items:
            key = str(item[LEDGER_TABLE_KEY])
            if key.startswith(COMMAND_KEY_PREFIX):
                record = command_from_item(item)
                commands[record.command_id] = record
            else:
                entries[key] = entry_from_item(item)
        return entries, commands

    def write(self, entries: Sequence[LedgerEntry], commands: Sequence[CommandRecord] = ()) -> None:
        items = [item_from_entry(e) for e in entries] + [item_from_command(c) for c in commands]
        dynamodb.batch_put(self._sessions.hub_client("dynamodb"), self._table, items, self._sleep)

    def get(self, instance_id: str) -> tuple[LedgerEntry, int] | None:
        """One record (consistent read) and its ``retriedAt`` (0: never re-queued); None if absent."""
        with translated("dynamodb:GetItem"):
            response = self._sessions.hub_client("dynamodb").get_item(
                TableName=self._table, Key={LEDGER_TABLE_KEY: {"S": instance_id}}, ConsistentRead=True
            )
        if not response.get("Item"):
            return None
        item = dynamodb.deserialize(response["Item"])
        return entry_from_item(item), int(item.get(LEDGER_RETRIED_AT_ATTRIBUTE, 0))

    def mark_retried(self, entry: LedgerEntry, now: int, not_since: int | None = None) -> bool:
        """Stamp ``retriedAt = now`` on a failed record that is still exactly ``entry`` (same status and
        ``updatedAt``) and was not re-queued at or after ``not_since`` (``None``: whenever it was).

        Returns False, writing nothing, when the record changed or was re-queued meanwhile.  The
        handler's next claim of the record (a full put) drops the stamp.
        """
        names = {
            "#status": ENTRY_FIELDS["status"],
            "#updated": ENTRY_FIELDS["updated_at"],
            "#retried": LEDGER_RETRIED_AT_ATTRIBUTE,
        }
        values: dict[str, Any] = {":status": entry.status, ":updated": entry.updated_at, ":now": now}
        condition = "#status = :status AND #updated = :updated"
        if not_since is not None:
            values[":since"] = not_since
            condition += " AND (attribute_not_exists(#retried) OR #retried < :since)"
        return self._update(entry.instance_id, "SET #retried = :now", condition, names, values)

    def unmark_retried(self, instance_id: str, marked_at: int) -> bool:
        """Take back a ``retriedAt`` stamp of ``marked_at`` (its event could not be sent)."""
        names = {"#retried": LEDGER_RETRIED_AT_ATTRIBUTE}
        values = {":marked": marked_at}
        return self._update(instance_id, "REMOVE #retried", "#retried = :marked", names, values)

    def _update(
        self, instance_id: str, update: str, condition: str, names: dict[str, str], values: dict[str, Any]
    ) -> bool:
        try:
            self._sessions.hub_client("dynamodb").update_item(
                TableName=self._table,
                Key={LEDGER_TABLE_KEY: {"S": instance_id}},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=dynamodb.serialize(values),
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise translate_error(exc, "dynamodb:UpdateItem") from exc
        except BotoCoreError as exc:
            raise translate_core_error(exc, "dynamodb:UpdateItem") from exc
        return True

    def claim(
        self, entries: Sequence[LedgerEntry], now: int, resends: Mapping[str, str] | None = None
    ) -> None:
        """See ``model.AwsPort.claim_ledger``."""
        if not entries:
            return
        if len(entries) > TRANSACTION_LIMIT:
            raise ValueError(f"at most {TRANSACTION_LIMIT} claims per transaction")
        actions: list[dict[str, Any]] = []
        for entry in entries:
            expression, names, values = claim_condition(
                entry, now, (resends or {}).get(entry.instance_id, "")
            )
            actions.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": dynamodb.serialize(item_from_entry(entry)),
                        "ConditionExpression": expression,
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": dynamodb.serialize(values),
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                }
            )
        try:
            self._sessions.hub_client("dynamodb").transact_write_items(TransactItems=actions)
        except ClientError as exc:
            if error_code(exc) == "TransactionCanceledException":
                refused = _claim_refusal(exc, entries)
                if refused is not None:
                    raise refused from exc
            raise translate_error(exc, "dynamodb:TransactWriteItems") from exc
        except BotoCoreError as exc:
            raise TransientAwsError(f"dynamodb:TransactWriteItems: {exc.__class__.__name__}") from exc


def _claim_refusal(exc: ClientError, entries: Sequence[LedgerEntry]) -> LedgerClaimRefusedError | None:
    """Which claims failed their condition (and the status found), from the cancellation reasons."""
    reasons = exc.response.get("CancellationReasons") or []
    if len(reasons) != len(entries):
        return None
    refused: dict[str, str] = {}
    contended: list[str] = []
    for entry, reason in zip(entries, reasons, strict=True):
        code = reason.get("Code") or "None"
        if code == "ConditionalCheckFailed":
            current = dynamodb.deserialize(reason.get("Item") or {})
            refused[entry.instance_id] = str(current.get(ENTRY_FIELDS["status"], ""))
        elif code != "None":
            contended.append(entry.instance_id)
    if not refused and not contended:
        return None
    summary = ", ".join(f"{i}={s or 'none'}" for i, s in sorted(refused.items()))
    message = f"ledger claim cancelled; refused: {summary or '-'}; contended: {len(contended)}"
    return LedgerClaimRefusedError(message, refused, contended)
