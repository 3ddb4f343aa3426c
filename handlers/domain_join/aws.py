"""The one module that talks to AWS (boto3/botocore live here and nowhere else).

Implements ``model.AwsPort`` plus the two queue operations the batch layer
needs.  Clients use standard retry mode; STS resolves to its regional endpoint
(botocore 1.44 default, asserted by a test).
Caches survive warm invocations: config items and the tools host for a TTL,
assumed-role sessions until five minutes before they expire.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .contract import CONFIG_TABLE_KEY, LEDGER_TABLE_KEY, LEDGER_TTL_ATTRIBUTE
from .errors import (
    AccessDeniedError,
    AwsRequestError,
    DomainJoinError,
    LedgerClaimRefusedError,
    ToolsHostUnavailableError,
    TransientAwsError,
)
from .model import (
    COMMAND_KEY_PREFIX,
    JOIN_FAILED,
    JOIN_SENT,
    JOINING,
    REMOVE_SENT,
    REMOVING,
    CommandRecord,
    InstanceFacts,
    LedgerEntry,
    Spoke,
)

CLIENT_CONFIG: Final = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=5,
    read_timeout=20,
)
SESSION_REFRESH_MARGIN_SECONDS: Final = 300
ROLE_SESSION_NAME: Final = "ec2-domain-join"
COMMAND_COMMENT: Final = "ec2-domain-join"
_BATCH_GET_LIMIT: Final = 100
_BATCH_WRITE_LIMIT: Final = 25
TRANSACTION_LIMIT: Final = 100  # TransactWriteItems actions per call
_SQS_BATCH_LIMIT: Final = 10
_FILTER_VALUES_LIMIT: Final = 50
_UNPROCESSED_ATTEMPTS: Final = 4

_TRANSIENT_CODES: Final = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "BandwidthLimitExceeded",
        "SlowDown",
        "PriorRequestNotComplete",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "RequestTimeout",
        "RequestTimeoutException",
        "IDPCommunicationError",
        "ExpiredToken",
        "ExpiredTokenException",
    }
)
_EXPIRED_CODES: Final = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired"})
# Conditions of the ledger claims (model.AwsPort.claim_ledger); :now is the claimer's clock.  A claim is
# free once its lease is over, or to a later receive of the message that made it.
_LEASE_OVER: Final = "attribute_not_exists(#lease) OR #lease <= :now"
_EARLIER_RECEIVE: Final = "(#claimant = :claimant AND #claim_receive < :receive_count)"
_ACCESS_DENIED_CODES: Final = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthFailure", "InvalidClientTokenId"}
)


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str


ClientFactory = Callable[[str, str, Credentials | None], Any]


def boto3_client_factory(service: str, region: str, credentials: Credentials | None) -> Any:
    if credentials is None:
        return boto3.client(service, region_name=region, config=CLIENT_CONFIG)
    return boto3.client(
        service,
        region_name=region,
        config=CLIENT_CONFIG,
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
    )


def translate_error(exc: ClientError, action: str) -> DomainJoinError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    message = f"{action}: {code}"
    if code in _TRANSIENT_CODES or status >= 500:
        return TransientAwsError(message)
    if code in _ACCESS_DENIED_CODES:
        return AccessDeniedError(message)
    return AwsRequestError(f"{message} {str(error.get('Message', ''))[:200]}".rstrip())


@contextmanager
def _translated(action: str) -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        raise translate_error(exc, action) from exc
    except BotoCoreError as exc:
        raise TransientAwsError(f"{action}: {exc.__class__.__name__}") from exc


def _claim_condition(
    entry: LedgerEntry, now: int, resend_of: str
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The condition of one claim, with exactly the names and values it uses (DynamoDB refuses others).

    ``resend_of``: the failed command this claim sends again ("" for a first join or removal).
    """
    names = {"#status": "status", "#lease": "leaseExpiresAt"}
    values: dict[str, Any] = {":now": now}
    free = _LEASE_OVER
    if entry.claimed_by:
        names.update({"#claimant": "claimedBy", "#claim_receive": "claimReceiveCount"})
        values.update({":claimant": entry.claimed_by, ":receive_count": entry.claim_receive_count})
        free = f"{_LEASE_OVER} OR {_EARLIER_RECEIVE}"
    if resend_of and entry.status in (JOINING, REMOVING):
        joining = entry.status == JOINING
        names["#command"] = "joinCommandId" if joining else "removeCommandId"
        values.update({":claim": entry.status, ":sent": JOIN_SENT if joining else REMOVE_SENT})
        values.update({":command": resend_of, ":account": entry.account})
        names["#account"] = "account"
        resent = f"(#status = :sent AND #command = :command) OR (#status = :claim AND ({free}))"
        return f"#account = :account AND ({resent})", names, values
    if entry.status == JOINING:
        # A JOIN_FAILED record is joined afresh by its next running event (a restart).
        names["#key"] = LEDGER_TABLE_KEY
        values.update({":joining": JOINING, ":join_failed": JOIN_FAILED})
        expression = (
            f"attribute_not_exists(#key) OR #status = :join_failed OR (#status = :joining AND ({free}))"
        )
        return expression, names, values
    if entry.status == REMOVING:
        names["#account"] = "account"
        values.update({":account": entry.account, ":join_sent": JOIN_SENT, ":join_failed": JOIN_FAILED})
        values.update({":joining": JOINING, ":removing": REMOVING})
        expired = f"#status IN (:joining, :removing) AND ({free})"
        joined = "#status IN (:join_sent, :join_failed)"
        return f"#account = :account AND ({joined} OR ({expired}))", names, values
    raise ValueError(f"{entry.status} is not a claim")


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    home_region: str
    config_table: str
    ledger_table: str
    dead_letter_queue_url: str
    tools_host_tag_key: str
    tools_host_tag_value: str
    spoke_role_external_id: str = ""
    cache_ttl_seconds: int = 300


class AwsGateway:
    def __init__(
        self,
        settings: GatewaySettings,
        client_factory: ClientFactory = boto3_client_factory,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._factory = client_factory
        self._clock = clock
        self._sleep = sleep
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._sessions: dict[str, tuple[float, Credentials]] = {}
        self._configs: dict[str, tuple[float, Mapping[str, Any]]] = {}
        self._tools_host: tuple[float, str] | None = None
        self._serializer = TypeSerializer()
        self._deserializer = TypeDeserializer()

    # --- clients and sessions -------------------------------------------------
    def _hub(self, service: str) -> Any:
        return self._client(service, self._settings.home_region, None, "")

    def _spoke(self, service: str, spoke: Spoke) -> Any:
        # Always the execution role, in the own account too: the hub role may run no DomainJoin-Join.
        credentials = self._assume(spoke)
        return self._client(service, spoke.region, credentials, credentials.access_key_id)

    def _client(self, service: str, region: str, credentials: Credentials | None, identity: str) -> Any:
        key = (service, region, identity)
        client = self._clients.get(key)
        if client is None:
            client = self._factory(service, region, credentials)
            self._clients[key] = client
        return client

    def _assume(self, spoke: Spoke) -> Credentials:
        cached = self._sessions.get(spoke.role_arn)
        if cached and cached[0] - SESSION_REFRESH_MARGIN_SECONDS > self._clock():
            return cached[1]
        request: dict[str, Any] = {"RoleArn": spoke.role_arn, "RoleSessionName": ROLE_SESSION_NAME}
        if self._settings.spoke_role_external_id:
            request["ExternalId"] = self._settings.spoke_role_external_id
        try:
            response = self._hub("sts").assume_role(**request)
        except ClientError as exc:
            error = translate_error(exc, "sts:AssumeRole")
            if isinstance(error, AccessDeniedError):
                raise AccessDeniedError(
                    f"AssumeRole into account {spoke.account} denied for role {spoke.role_arn}"
                ) from exc
            raise error from exc
        except BotoCoreError as exc:
            raise TransientAwsError(f"sts:AssumeRole: {exc.__class__.__name__}") from exc
        raw = response["Credentials"]
        credentials = Credentials(raw["AccessKeyId"], raw["SecretAccessKey"], raw["SessionToken"])
        if cached:  # clients bound to the expiring session are of no further use
            self._clients = {k: c for k, c in self._clients.items() if k[2] != cached[1].access_key_id}
        self._sessions[spoke.role_arn] = (raw["Expiration"].timestamp(), credentials)
        return credentials

    # --- config table ---------------------------------------------------------
    def load_configs(self, account_ids: Collection[str]) -> dict[str, Mapping[str, Any]]:
        now = self._clock()
        found: dict[str, Mapping[str, Any]] = {}
        missing: list[str] = []
        for account in account_ids:
            cached = self._configs.get(account)
            if cached and cached[0] > now:
                found[account] = cached[1]
            else:
                missing.append(account)
        if missing:
            key = CONFIG_TABLE_KEY
            items = self._batch_get(self._settings.config_table, key, missing, consistent=False)
            expires = now + self._settings.cache_ttl_seconds
            for item in items:
                account = str(item[key])
                self._configs[account] = (expires, item)  # absent accounts are not cached: fixes show fast
                found[account] = item
        return found

    # --- ledger ---------------------------------------------------------------
    def read_ledger(
        self, instance_ids: Collection[str], command_ids: Collection[str] = ()
    ) -> tuple[dict[str, LedgerEntry], dict[str, CommandRecord]]:
        keys = [*instance_ids, *(COMMAND_KEY_PREFIX + c for c in command_ids)]
        items = self._batch_get(self._settings.ledger_table, LEDGER_TABLE_KEY, keys, consistent=True)
        entries: dict[str, LedgerEntry] = {}
        commands: dict[str, CommandRecord] = {}
        for item in items:
            key = str(item[LEDGER_TABLE_KEY])
            if key.startswith(COMMAND_KEY_PREFIX):
                record = _command_from_item(item)
                commands[record.command_id] = record
            else:
                entries[key] = _entry_from_item(item)
        return entries, commands

    def write_ledger(self, entries: Sequence[LedgerEntry], commands: Sequence[CommandRecord] = ()) -> None:
        table = self._settings.ledger_table
        client = self._hub("dynamodb")
        items = [_item_from_entry(e) for e in entries] + [_item_from_command(c) for c in commands]
        for start in range(0, len(items), _BATCH_WRITE_LIMIT):
            chunk = items[start : start + _BATCH_WRITE_LIMIT]
            requests: list[Any] = [{"PutRequest": {"Item": self._serialize(item)}} for item in chunk]
            for attempt in range(_UNPROCESSED_ATTEMPTS):
                with _translated("dynamodb:BatchWriteItem"):
                    response = client.batch_write_item(RequestItems={table: requests})
                requests = response.get("UnprocessedItems", {}).get(table, [])
                if not requests:
                    break
                self._sleep(0.05 * 2**attempt)
            else:
                raise TransientAwsError(
                    f"dynamodb:BatchWriteItem left {len(requests)} ledger items unprocessed"
                )

    def claim_ledger(
        self, entries: Sequence[LedgerEntry], now: int, resends: Mapping[str, str] | None = None
    ) -> None:
        if not entries:
            return
        if len(entries) > TRANSACTION_LIMIT:
            raise ValueError(f"at most {TRANSACTION_LIMIT} claims per transaction")
        actions: list[dict[str, Any]] = []
        for entry in entries:
            expression, names, values = _claim_condition(
                entry, now, (resends or {}).get(entry.instance_id, "")
            )
            actions.append(
                {
                    "Put": {
                        "TableName": self._settings.ledger_table,
                        "Item": self._serialize(_item_from_entry(entry)),
                        "ConditionExpression": expression,
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": self._serialize(values),
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                }
            )
        try:
            self._hub("dynamodb").transact_write_items(TransactItems=actions)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                refused = self._claim_refusal(exc, entries)
                if refused is not None:
                    raise refused from exc
            raise translate_error(exc, "dynamodb:TransactWriteItems") from exc
        except BotoCoreError as exc:
            raise TransientAwsError(f"dynamodb:TransactWriteItems: {exc.__class__.__name__}") from exc

    def _claim_refusal(
        self, exc: ClientError, entries: Sequence[LedgerEntry]
    ) -> LedgerClaimRefusedError | None:
        """Which claims failed their condition (and the status found), from the cancellation reasons."""
        reasons = exc.response.get("CancellationReasons") or []
        if len(reasons) != len(entries):
            return None
        refused: dict[str, str] = {}
        contended: list[str] = []
        for entry, reason in zip(entries, reasons, strict=True):
            code = reason.get("Code") or "None"
            if code == "ConditionalCheckFailed":
                current = self._deserialize(reason.get("Item") or {})
                refused[entry.instance_id] = str(current.get("status", ""))
            elif code != "None":
                contended.append(entry.instance_id)
        if not refused and not contended:
            return None
        summary = ", ".join(f"{i}={s or 'none'}" for i, s in sorted(refused.items()))
        message = f"ledger claim cancelled; refused: {summary or '-'}; contended: {len(contended)}"
        return LedgerClaimRefusedError(message, refused, contended)

    def _batch_get(
        self, table: str, key: str, values: Collection[str], consistent: bool
    ) -> list[dict[str, Any]]:
        client = self._hub("dynamodb")
        ordered = sorted(set(values))
        items: list[dict[str, Any]] = []
        for start in range(0, len(ordered), _BATCH_GET_LIMIT):
            request: dict[str, Any] = {
                table: {
                    "Keys": [{key: {"S": v}} for v in ordered[start : start + _BATCH_GET_LIMIT]],
                    "ConsistentRead": consistent,
                }
            }
            for attempt in range(_UNPROCESSED_ATTEMPTS):
                with _translated("dynamodb:BatchGetItem"):
                    response = client.batch_get_item(RequestItems=request)
                items += [self._deserialize(i) for i in response.get("Responses", {}).get(table, [])]
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                self._sleep(0.05 * 2**attempt)
            else:
                raise TransientAwsError(f"dynamodb:BatchGetItem left keys of {table} unprocessed")
        return items

    def _serialize(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: self._serializer.serialize(v) for k, v in item.items()}

    def _deserialize(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: self._deserializer.deserialize(v) for k, v in item.items()}

    # --- EC2 and SSM in a spoke ----------------------------------------------
    @contextmanager
    def _in_spoke(self, spoke: Spoke) -> Iterator[None]:
        """Drop a session the spoke calls expired (clock skew, revoked session), so the retry re-assumes."""
        try:
            yield
        except DomainJoinError as exc:
            cause = exc.__cause__
            if (
                isinstance(cause, ClientError)
                and cause.response.get("Error", {}).get("Code") in _EXPIRED_CODES
            ):
                self._sessions.pop(spoke.role_arn, None)
            raise

    def describe_instances(self, spoke: Spoke, instance_ids: Sequence[str]) -> dict[str, InstanceFacts]:
        with self._in_spoke(spoke):
            return self._describe_instances(spoke, instance_ids)

    def _describe_instances(self, spoke: Spoke, instance_ids: Sequence[str]) -> dict[str, InstanceFacts]:
        client = self._spoke("ec2", spoke)
        facts: dict[str, InstanceFacts] = {}
        # A filter (not InstanceIds) so that one vanished instance does not fail the whole group.
        request: dict[str, Any] = {
            "Filters": [{"Name": "instance-id", "Values": list(instance_ids)}],
            "MaxResults": 1000,
        }
        while True:
            with _translated(f"ec2:DescribeInstances in {spoke.account}/{spoke.region}"):
                response = client.describe_instances(**request)
            for reservation in response.get("Reservations", []):
                for instance in reservation.get("Instances", []):
                    facts[instance["InstanceId"]] = InstanceFacts(
                        instance_id=instance["InstanceId"],
                        state=instance.get("State", {}).get("Name", ""),
                        platform="windows" if instance.get("Platform") == "windows" else "linux",
                        tags={t["Key"]: t.get("Value", "") for t in instance.get("Tags", [])},
                    )
            if not response.get("NextToken"):
                return facts
            request["NextToken"] = response["NextToken"]

    def online_instances(self, spoke: Spoke, instance_ids: Sequence[str]) -> set[str]:
        with self._in_spoke(spoke):
            return self._online(self._spoke("ssm", spoke), instance_ids, f"{spoke.account}/{spoke.region}")

    def _online(self, client: Any, instance_ids: Sequence[str], where: str) -> set[str]:
        online: set[str] = set()
        ids = list(instance_ids)
        for start in range(0, len(ids), _FILTER_VALUES_LIMIT):
            request: dict[str, Any] = {
                "Filters": [{"Key": "InstanceIds", "Values": ids[start : start + _FILTER_VALUES_LIMIT]}],
                "MaxResults": 50,
            }
            while True:
                with _translated(f"ssm:DescribeInstanceInformation in {where}"):
                    response = client.describe_instance_information(**request)
                online |= {
                    info["InstanceId"]
                    for info in response.get("InstanceInformationList", [])
                    if info.get("PingStatus") == "Online"
                }
                if not response.get("NextToken"):
                    break
                request["NextToken"] = response["NextToken"]
        return online

    def send_spoke_command(
        self, spoke: Spoke, document: str, instance_ids: Sequence[str], parameters: Mapping[str, str]
    ) -> str:
        with self._in_spoke(spoke):
            client = self._spoke("ssm", spoke)
            return self._send(client, document, instance_ids, parameters, f"{spoke.account}/{spoke.region}")

    # --- tools host (hub account, home Region) -------------------------------
    def tools_host(self) -> str:
        now = self._clock()
        if self._tools_host and self._tools_host[0] > now:
            return self._tools_host[1]
        key, value = self._settings.tools_host_tag_key, self._settings.tools_host_tag_value
        with _translated("ec2:DescribeInstances (tools host)"):
            response = self._hub("ec2").describe_instances(
                Filters=[
                    {"Name": f"tag:{key}", "Values": [value]},
                    {"Name": "instance-state-name", "Values": ["running"]},
                ]
            )
        candidates = sorted(
            str(i["InstanceId"]) for r in response.get("Reservations", []) for i in r.get("Instances", [])
        )
        if not candidates:
            raise ToolsHostUnavailableError(f"no running instance tagged {key}={value} in the hub")
        online = self._online(self._hub("ssm"), candidates, "hub")
        ready = [c for c in candidates if c in online]
        if not ready:
            raise ToolsHostUnavailableError(f"tools host {', '.join(candidates)} not Online in SSM")
        self._tools_host = (now + self._settings.cache_ttl_seconds, ready[0])
        return ready[0]

    def send_tools_command(self, document: str, instance_id: str, parameters: Mapping[str, str]) -> str:
        return self._send(self._hub("ssm"), document, [instance_id], parameters, "hub")

    def _send(
        self,
        client: Any,
        document: str,
        instance_ids: Sequence[str],
        parameters: Mapping[str, str],
        where: str,
    ) -> str:
        with _translated(f"ssm:SendCommand {document} in {where}"):
            response = client.send_command(
                DocumentName=document,
                InstanceIds=list(instance_ids),
                Parameters={name: [value] for name, value in parameters.items()},
                Comment=COMMAND_COMMENT,
            )
        return str(response["Command"]["CommandId"])

    # --- join queue and its DLQ ----------------------------------------------
    def change_visibility(self, queue_url: str, timeouts: Sequence[tuple[str, int]]) -> int:
        """Set each (receipt handle, seconds); returns how many SQS refused (those keep the default)."""
        client = self._hub("sqs")
        refused = 0
        for start in range(0, len(timeouts), _SQS_BATCH_LIMIT):
            chunk = timeouts[start : start + _SQS_BATCH_LIMIT]
            entries = [
                {"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": seconds}
                for n, (handle, seconds) in enumerate(chunk)
            ]
            with _translated("sqs:ChangeMessageVisibilityBatch"):
                response = client.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
            refused += len(response.get("Failed", []))
        return refused

    def dead_letter(self, messages: Sequence[tuple[str, Mapping[str, Any], str]]) -> set[str]:
        """Send (message id, wrapper body, reason code) to the DLQ; returns the ids SQS refused."""
        client = self._hub("sqs")
        refused: set[str] = set()
        for start in range(0, len(messages), _SQS_BATCH_LIMIT):
            chunk = messages[start : start + _SQS_BATCH_LIMIT]
            entries = [
                {
                    "Id": str(n),
                    "MessageBody": json.dumps(body, sort_keys=True),
                    "MessageAttributes": {
                        "reason": {"DataType": "String", "StringValue": code},
                    },
                }
                for n, (_, body, code) in enumerate(chunk)
            ]
            try:
                with _translated("sqs:SendMessageBatch (DLQ)"):
                    response = client.send_message_batch(
                        QueueUrl=self._settings.dead_letter_queue_url, Entries=entries
                    )
            except DomainJoinError:
                refused |= {message_id for message_id, _, _ in chunk}
                continue
            refused |= {chunk[int(f["Id"])][0] for f in response.get("Failed", [])}
        return refused


_ENTRY_FIELDS: Final = {
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


def _item_from_entry(entry: LedgerEntry) -> dict[str, Any]:
    item: dict[str, Any] = {}
    for field_name, attribute in _ENTRY_FIELDS.items():
        value = getattr(entry, field_name)
        if value not in ("", 0):  # DynamoDB keeps no empty markers; TTL 0 means "keep"
            item[attribute] = value
    return item


def _entry_from_item(item: Mapping[str, Any]) -> LedgerEntry:
    values: dict[str, Any] = {}
    for field_name, attribute in _ENTRY_FIELDS.items():
        if attribute in item:
            raw = item[attribute]
            values[field_name] = int(raw) if field_name in _INT_FIELDS else str(raw)
        else:
            values[field_name] = 0 if field_name in _INT_FIELDS else ""
    return LedgerEntry(**values)


def _item_from_command(record: CommandRecord) -> dict[str, Any]:
    return {
        LEDGER_TABLE_KEY: COMMAND_KEY_PREFIX + record.command_id,
        "document": record.document,
        "instances": list(record.instance_ids),
        "createdAt": record.created_at,
        LEDGER_TTL_ATTRIBUTE: record.expires_at,
    }


def _command_from_item(item: Mapping[str, Any]) -> CommandRecord:
    return CommandRecord(
        command_id=str(item[LEDGER_TABLE_KEY])[len(COMMAND_KEY_PREFIX) :],
        document=str(item.get("document", "")),
        instance_ids=tuple(str(i) for i in item.get("instances", [])),
        created_at=int(item.get("createdAt", 0)),
        expires_at=int(item.get(LEDGER_TTL_ATTRIBUTE, 0)),
    )
