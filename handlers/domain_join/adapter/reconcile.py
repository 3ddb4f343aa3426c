"""``ReconcileGateway``: the reconciliation's ``worker.ReconcilePort``, and ``build_reconciler``.

Clients come from ``sessions.Sessions`` (boto3 is imported there only); the tools host, tools commands,
config items and ledger writes go through the join path's own ``AwsGateway``, so the tools-host pin and
the command checks are the same.  Calls per work item (docs/reconcile.md "Cost"): one AssumeRole per
account and worker container, one DescribeInstances per 1,000 instances, one SendMessageBatch per 10
events; the planner reads the ledger and the config table once per run for all work items.

Example::

    reconciler = build_reconciler(ReconcilerConfig.from_env(os.environ))
    reconciler.run(item, dry_run=True)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

from .. import arns, contract, wire
from ..decisions import opted_out, remove_command_parameters
from ..errors import DomainJoinError
from ..model import AccountConfig, LedgerEntry, Spoke
from ..naming import ownership_stamp
from ..reconcile.inventory import Inventory, InventoryError, encode_work_item, parse_inventory
from ..reconcile.plan import QUARANTINED, FleetInstance, LedgerRecord, ReconcileAction, WorkItem
from ..reconcile.worker import Logger, Reconciler, ReconcilerConfig, no_log
from . import dynamodb
from .errors import translated
from .gateway import AwsGateway
from .ledger import ENTRY_FIELDS, LedgerStore
from .partitions import partition_of
from .sessions import ClientFactory, Sessions, boto3_client_factory, session_client_factory

SQS_BATCH_LIMIT: Final = 10
MESSAGE_BYTES_LIMIT: Final = 240 * 1024  # SQS: 256 KiB per message and per batch (some headroom)
DESCRIBE_PAGE: Final = 1000
LIST_COMMANDS_PAGES: Final = 3  # newest inventories are on the first page; a few more for many domains
RETRIED_AT: Final = contract.LEDGER_RETRIED_AT_ATTRIBUTE  # when a JOIN_FAILED record was last re-queued
QUARANTINE_RETENTION_SECONDS: Final = 400 * 86400
_LEDGER_PROJECTION: Final = "#k, #a, #r, #s, #n, #u, #t"
_LEDGER_NAMES: Final = {
    "#k": contract.LEDGER_TABLE_KEY,
    "#a": ENTRY_FIELDS["account"],
    "#r": ENTRY_FIELDS["region"],
    "#s": ENTRY_FIELDS["status"],
    "#n": ENTRY_FIELDS["computer_name"],
    "#u": ENTRY_FIELDS["updated_at"],
    "#t": RETRIED_AT,
}


class ReconcileGateway:
    """The real ``ReconcilePort``.

    Parameters:
        config: tables, queues, bucket and the join path's settings.
        client_factory: builds clients (an operator's session, a moto-backed factory in tests).
        clock: seconds since the epoch.
    """

    def __init__(
        self,
        config: ReconcilerConfig,
        client_factory: ClientFactory = boto3_client_factory,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        handler = config.handler
        # Spoke sessions are of the reader role (ec2:DescribeInstances only), never the execution role.
        self._sessions = Sessions(handler.home_region, handler.spoke_role_external_id, client_factory, clock)
        self._gateway = AwsGateway(handler, client_factory=client_factory, clock=clock)
        self._ledger = LedgerStore(self._sessions, handler.ledger_table)
        self._partition = partition_of(handler.home_region)

    # --- planner ----------------------------------------------------------------------
    def load_config_items(self) -> dict[str, Mapping[str, Any]]:
        items: dict[str, Mapping[str, Any]] = {}
        for item in self._scan(self._config.handler.config_table, {}):
            items[str(item[contract.CONFIG_TABLE_KEY])] = item
        return items

    def scan_ledger(self, accounts: Collection[str] | None = None) -> list[LedgerRecord]:
        request: dict[str, Any] = {
            "ProjectionExpression": _LEDGER_PROJECTION,
            "ExpressionAttributeNames": dict(_LEDGER_NAMES),
            "FilterExpression": "attribute_exists(#a) AND attribute_exists(#r)",
        }
        wanted = sorted(accounts) if accounts is not None else None
        if wanted is not None and 0 < len(wanted) <= 100:
            placeholders = {f":a{n}": account for n, account in enumerate(wanted)}
            request["FilterExpression"] += f" AND #a IN ({', '.join(placeholders)})"
            request["ExpressionAttributeValues"] = dynamodb.serialize(placeholders)
        records: list[LedgerRecord] = []
        for item in self._scan(self._config.handler.ledger_table, request):
            key = str(item[contract.LEDGER_TABLE_KEY])
            account = str(item[ENTRY_FIELDS["account"]])
            if wanted is not None and account not in wanted:
                continue
            records.append(
                LedgerRecord(
                    instance_id=key,
                    account=account,
                    region=str(item[ENTRY_FIELDS["region"]]),
                    status=str(item.get(ENTRY_FIELDS["status"], "")),
                    computer_name=str(item.get(ENTRY_FIELDS["computer_name"], "")),
                    updated_at=int(item.get(ENTRY_FIELDS["updated_at"], 0)),
                    retried_at=int(item.get(RETRIED_AT, 0)),
                )
            )
        return records

    def _scan(self, table: str, request: Mapping[str, Any]) -> list[dict[str, Any]]:
        client = self._sessions.hub_client("dynamodb")
        args: dict[str, Any] = {"TableName": table, **request}
        found: list[dict[str, Any]] = []
        while True:
            with translated(f"dynamodb:Scan {table}"):
                response = client.scan(**args)
            found += [dynamodb.deserialize(i) for i in response.get("Items", [])]
            if not response.get("LastEvaluatedKey"):
                return found
            args["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def latest_inventories(self) -> list[Inventory]:
        """The newest successful inventory command per domain, read from the bucket."""
        if not self._config.inventory_bucket:
            return []
        ssm = self._sessions.hub_client("ssm")
        request: dict[str, Any] = {
            "Filters": [{"key": "DocumentName", "value": contract.INVENTORY_DOCUMENT}],
            "MaxResults": 50,
        }
        # (domain, search bases) -> (requested at, command id): one inventory per command that was sent
        newest: dict[tuple[str, str], tuple[Any, str]] = {}
        for _ in range(LIST_COMMANDS_PAGES):
            with translated("ssm:ListCommands"):
                response = ssm.list_commands(**request)
            for command in response.get("Commands", []):
                if (
                    command.get("DocumentName") != contract.INVENTORY_DOCUMENT
                    or command.get("Status") != "Success"
                ):
                    continue
                parameters = command.get("Parameters", {})
                domain = str((parameters.get(contract.TOOLS_PARAM_DOMAIN) or [""])[0]).lower()
                key = (domain, str((parameters.get(contract.TOOLS_PARAM_SEARCH_BASES) or [""])[0]))
                when = command.get("RequestedDateTime")
                if domain and (key not in newest or when > newest[key][0]):
                    newest[key] = (when, str(command["CommandId"]))
            if not response.get("NextToken"):
                break
            request["NextToken"] = response["NextToken"]
        inventories: list[Inventory] = []
        for (domain, _), (requested, command_id) in newest.items():
            text = self._command_output(command_id)
            if text is None:
                continue
            sent = int(requested.timestamp()) if hasattr(requested, "timestamp") else 0
            try:
                inventories.append(parse_inventory(text, domain, sent))
            except InventoryError:
                continue  # an unreadable inventory: no directory pass for that domain this run
        return inventories

    def _command_output(self, command_id: str) -> str | None:
        s3 = self._sessions.hub_client("s3")
        bucket = self._config.inventory_bucket
        prefix = f"{contract.INVENTORY_OUTPUT_PREFIX}{command_id}/"
        with translated(f"s3:ListObjectsV2 {bucket}"):
            listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
        keys = sorted(o["Key"] for o in listed.get("Contents", []) if str(o["Key"]).endswith("/stdout"))
        if not keys:
            return None
        with translated(f"s3:GetObject {bucket}"):
            body = s3.get_object(Bucket=bucket, Key=keys[-1])["Body"].read()
        return bytes(body).decode("utf-8", errors="replace")

    def request_inventories(self, configs: Mapping[str, Mapping[str, Any]]) -> list[str]:
        if not self._config.inventory_bucket:
            return []
        groups: dict[tuple[str, str, str], set[str]] = {}
        for account, item in sorted(configs.items()):
            try:
                config = AccountConfig.from_item(
                    account, item, self._config.handler.spoke_role_name, self._partition
                )
            except DomainJoinError:
                continue
            key = (config.domain.lower(), config.join_user, config.password_parameter)
            groups.setdefault(key, set()).update({config.ou_path, *(ou for _, ou in config.ou_by_tag_value)})
        if not groups:
            return []
        tools_host = self._gateway.tools_host()
        ssm = self._sessions.hub_client("ssm")
        command_ids: list[str] = []
        for (domain, user, parameter), bases in self._search_bases(groups):
            parameters = {
                contract.TOOLS_PARAM_DOMAIN: domain,
                contract.TOOLS_PARAM_JOIN_USER: user,
                contract.TOOLS_PARAM_PASSWORD_PARAMETER: parameter,
                contract.TOOLS_PARAM_SEARCH_BASES: bases,
            }
            with translated(f"ssm:SendCommand {contract.INVENTORY_DOCUMENT}"):
                response = ssm.send_command(
                    DocumentName=contract.INVENTORY_DOCUMENT,
                    InstanceIds=[tools_host],
                    Parameters={k: [v] for k, v in parameters.items()},
                    Comment="ec2-domain-join reconcile",
                    OutputS3BucketName=self._config.inventory_bucket,
                    OutputS3KeyPrefix=contract.INVENTORY_OUTPUT_KEY_PREFIX,
                )
            command_ids.append(str(response["Command"]["CommandId"]))
        return command_ids

    @staticmethod
    def _search_bases(
        groups: Mapping[tuple[str, str, str], set[str]],
    ) -> list[tuple[tuple[str, str, str], str]]:
        """One SearchBases value per command: at most MAX_SEARCH_BASES OUs each; "" (the domain's Computers
        container) only for a domain whose accounts name no OU."""
        commands: list[tuple[tuple[str, str, str], str]] = []
        for key, ous in sorted(groups.items()):
            named = sorted(ou for ou in ous if ou)
            if not named:
                commands.append((key, ""))
            for start in range(0, len(named), contract.MAX_SEARCH_BASES):
                chunk = named[start : start + contract.MAX_SEARCH_BASES]
                commands.append((key, contract.SEARCH_BASES_SEPARATOR.join(chunk)))
        return commands

    def send_work_items(self, items: Sequence[WorkItem]) -> int:
        return self._send_batches(self._config.reconcile_queue_url, [fitting_body(i) for i in items])

    # --- worker -----------------------------------------------------------------------
    def describe_fleet(self, item: WorkItem) -> list[FleetInstance]:
        role_arn = item.role_arn or arns.role_arn(
            self._partition, item.account_id, self._config.reader_role_name
        )
        spoke = Spoke(item.account_id, item.region, role_arn)
        ec2 = self._sessions.spoke_client("ec2", spoke)
        request: dict[str, Any] = {"MaxResults": DESCRIBE_PAGE}
        fleet: list[FleetInstance] = []
        while True:  # every state: a stopped instance is not gone
            with translated(f"ec2:DescribeInstances in {item.account_id}/{item.region}"):
                response = ec2.describe_instances(**request)
            for reservation in response.get("Reservations", []):
                for instance in reservation.get("Instances", []):
                    tags = {t["Key"]: t.get("Value", "") for t in instance.get("Tags", [])}
                    launched = instance.get("LaunchTime")
                    fleet.append(
                        FleetInstance(
                            instance_id=str(instance["InstanceId"]),
                            state=str(instance.get("State", {}).get("Name", "")),
                            opted_out=opted_out(tags),
                            launch_time=int(launched.timestamp()) if launched is not None else 0,
                        )
                    )
            if not response.get("NextToken"):
                return fleet
            request["NextToken"] = response["NextToken"]

    def send_join_events(self, bodies: Sequence[str]) -> int:
        return self._send_batches(self._config.join_queue_url, bodies)

    def mark_retried(self, records: Sequence[LedgerRecord], now: int) -> None:
        for record in records:  # False: the join path got there first (the record changed meanwhile)
            self._ledger.mark_retried(_entry_of(record), now)

    def remove_computers(self, item: WorkItem, actions: Sequence[ReconcileAction], remove_action: str) -> str:
        config = self._account_config(item.account_id)
        entries = [
            wire.RemoveEntry(
                a.computer_name or "", ownership_stamp(item.account_id, item.region, a.instance_id or "")
            )
            for a in actions
        ]
        key = (config.domain, config.join_user, config.password_parameter)
        tools_host = self._gateway.tools_host()
        last = ""
        for start in range(0, len(entries), wire.MAX_ENTRIES):
            chunk = entries[start : start + wire.MAX_ENTRIES]
            parameters = remove_command_parameters(key, chunk, remove_action)
            last = self._gateway.send_tools_command(contract.REMOVE_DOCUMENT, tools_host, parameters)
        return last

    def mark_quarantined(self, item: WorkItem, actions: Sequence[ReconcileAction], now: int) -> None:
        config = self._account_config(item.account_id)
        entries = [
            LedgerEntry(
                instance_id=a.instance_id or "",
                account=item.account_id,
                region=item.region,
                computer_name=a.computer_name or "",
                domain=config.domain,
                status=QUARANTINED,
                created_at=now,
                updated_at=now,
                join_user=config.join_user,
                password_parameter=config.password_parameter,
                expires_at=now + QUARANTINE_RETENTION_SECONDS,
            )
            for a in actions
            if a.instance_id
        ]
        self._gateway.write_ledger(entries)

    def _account_config(self, account: str) -> AccountConfig:
        items = self._gateway.load_configs([account])
        if account not in items:
            raise DomainJoinError(f"account {account} has no config item")
        return AccountConfig.from_item(
            account, items[account], self._config.handler.spoke_role_name, self._partition
        )

    def _send_batches(self, queue_url: str, bodies: Sequence[str]) -> int:
        """SendMessageBatch of up to 10 bodies and MESSAGE_BYTES_LIMIT bytes together."""
        sqs = self._sessions.hub_client("sqs")
        refused = 0
        chunks: list[list[str]] = [[]]
        for body in bodies:
            size = len(body.encode())
            if chunks[-1] and (
                len(chunks[-1]) == SQS_BATCH_LIMIT
                or sum(len(b.encode()) for b in chunks[-1]) + size > MESSAGE_BYTES_LIMIT
            ):
                chunks.append([])
            chunks[-1].append(body)
        for chunk in chunks:
            if not chunk:
                continue
            with translated("sqs:SendMessageBatch"):
                response = sqs.send_message_batch(
                    QueueUrl=queue_url,
                    Entries=[{"Id": str(n), "MessageBody": body} for n, body in enumerate(chunk)],
                )
            refused += len(response.get("Failed", []))
        return refused


def fitting_body(item: WorkItem) -> str:
    """The item's message body within MESSAGE_BYTES_LIMIT: whole; else without its ledger records (the worker
    then reads them); else also without its inventory (no directory pass for it this run)."""
    for candidate in (
        item,
        replace(item, ledger=None),
        replace(item, ledger=None, inventory=(), inventory_taken_at=0),
    ):
        body = encode_work_item(candidate)
        if len(body.encode()) <= MESSAGE_BYTES_LIMIT:
            return body
    return body


def _entry_of(record: LedgerRecord) -> LedgerEntry:
    """The ledger record as the store's ``LedgerEntry`` (the fields its conditions compare: status and
    ``updatedAt``)."""
    return LedgerEntry(
        instance_id=record.instance_id,
        account=record.account,
        region=record.region,
        computer_name=record.computer_name,
        domain="",
        status=record.status,
        created_at=0,
        updated_at=record.updated_at,
    )


def build_reconciler(
    config: ReconcilerConfig,
    session: Any = None,
    *,
    client_factory: ClientFactory | None = None,
    clock: Callable[[], float] = time.time,
    log: Logger = no_log,
) -> Reconciler:
    """A ``Reconciler`` on real AWS: the function's credentials, or an operator's boto3 ``session`` (CLI).

    Example::

        reconciler = build_reconciler(config, session=boto3.Session(profile_name="security"))
    """
    factory = client_factory or (
        session_client_factory(session) if session is not None else boto3_client_factory
    )
    gateway = ReconcileGateway(config, factory, clock)
    return Reconciler(gateway, config.tunables, config.hub_regions, clock, log)
