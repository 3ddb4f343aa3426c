"""The operator's AWS calls, with the operator's credentials (the standard AWS chain).

Clients come only from the handler's ``adapter.sessions.Sessions`` (the one module that imports boto3),
every call runs inside the adapter's ``translated`` (botocore errors become the handler's ``...Error``
classes: ``CredentialsMissingError``, ``AccessDeniedError`` naming the action, ``TransientAwsError``), and
the ledger's item codec is the handler's own (``adapter.ledger.entry_from_item``).  What is missing (a
table, a queue, an instance) becomes ``Failed`` with exit code 4 and a line that says which and where.

Where each call goes:

* ledger and config table, join queue, the tools host's commands (prestage, remove): the hub account
  and Region, with the operator's credentials;
* a join command (it runs on the instance, in its account and Region): the operator's credentials when
  they belong to that account, else a role the operator names (``--spoke-role``), assumed through the
  same ``Sessions.spoke_client`` the handler uses for spokes.  The spokes' execution role trusts only the
  hub's handler role, so an operator cannot (and should not) assume it.

Example::

    aws = OperatorAws(HubTarget("eu-west-1"))
    view = aws.ledger_record("i-0123456789abcdef0")
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from handlers.domain_join import contract
from handlers.domain_join.adapter import dynamodb
from handlers.domain_join.adapter.errors import failed_code, translated
from handlers.domain_join.adapter.ledger import LedgerStore
from handlers.domain_join.adapter.partitions import partition_of
from handlers.domain_join.adapter.sessions import ClientFactory, Sessions, boto3_client_factory
from handlers.domain_join.errors import AwsRequestError
from handlers.domain_join.model import LedgerEntry, Spoke

from .output import EXIT_NOT_FOUND, Failed
from .target import HubTarget

# Tests replace this with a factory whose clients carry a stub (see tests/cli).
DEFAULT_CLIENT_FACTORY: list[ClientFactory] = [boto3_client_factory]

_TABLE_MISSING: Final = frozenset({"ResourceNotFoundException"})
_QUEUE_MISSING: Final = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})
_COMMAND_MISSING: Final = frozenset({"InvocationDoesNotExist", "InvalidCommandId", "InvalidInstanceId"})
NOT_FOUND: Final = "not found"  # a command SSM no longer knows (history is kept 30 days)


@dataclass(frozen=True, slots=True)
class LedgerView:
    """One ledger record as the operator sees it: the handler's entry, and when it was last re-queued."""

    entry: LedgerEntry
    retried_at: int = 0


@dataclass(frozen=True, slots=True)
class CommandStatus:
    """A Run Command's status (``Success``, ``Failed``, ``TimedOut``...; ``not found``), and its detail."""

    status: str
    detail: str = ""


class OperatorAws:
    """The hub (and, for join commands, spoke) calls of the operator's commands.

    Parameters:
        hub: where the hub's tables and queue are.
        client_factory: builds the clients (default: boto3 with the standard credential chain).
        clock: seconds since the epoch (assumed-role sessions).
    """

    def __init__(
        self,
        hub: HubTarget,
        client_factory: ClientFactory | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.hub = hub
        self.client_factory = client_factory or DEFAULT_CLIENT_FACTORY[0]
        self.sessions = Sessions(hub.region, "", self.client_factory, clock)
        self._ledger = LedgerStore(self.sessions, hub.ledger_table)
        self._account = ""

    @property
    def partition(self) -> str:
        return partition_of(self.hub.region)

    # --- who ------------------------------------------------------------------------------
    def caller_account(self) -> str:
        """The account of the operator's credentials (sts:GetCallerIdentity, once)."""
        if not self._account:
            with translated("sts:GetCallerIdentity"):
                self._account = str(self.sessions.hub_client("sts").get_caller_identity()["Account"])
        return self._account

    # --- ledger and config table -------------------------------------------------------------
    def ledger_record(self, instance_id: str) -> LedgerView | None:
        """The instance's ledger record (a consistent read), or None when the ledger has none."""
        with self._table(self.hub.ledger_table):
            found = self._ledger.get(instance_id)
        return None if found is None else LedgerView(*found)

    def config_items(self) -> dict[str, dict[str, Any]]:
        """Every item of the config table, by account id (a paginated scan)."""
        client = self.sessions.hub_client("dynamodb")
        items: dict[str, dict[str, Any]] = {}
        request: dict[str, Any] = {"TableName": self.hub.config_table}
        while True:
            with self._table(self.hub.config_table), translated("dynamodb:Scan"):
                response = client.scan(**request)
            for raw in response.get("Items", []):
                item = dynamodb.deserialize(raw)
                items[str(item.get(contract.CONFIG_TABLE_KEY, ""))] = item
            if not response.get("LastEvaluatedKey"):
                return items
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def mark_retried(self, entry: LedgerEntry, now: int, not_since: int | None) -> bool:
        """See ``LedgerStore.mark_retried``: False when the record changed or was re-queued meanwhile."""
        with self._table(self.hub.ledger_table):
            return self._ledger.mark_retried(entry, now, not_since)

    def unmark_retried(self, instance_id: str, marked_at: int) -> None:
        """Take back our ``retriedAt`` stamp (the event could not be sent); nothing if it changed."""
        with self._table(self.hub.ledger_table):
            self._ledger.unmark_retried(instance_id, marked_at)

    # --- join queue -----------------------------------------------------------------------
    def join_queue_url(self) -> str:
        """The URL of the hub's join queue (``sqs:GetQueueUrl`` of its name)."""
        client = self.sessions.hub_client("sqs")
        name = self.hub.join_queue_name
        try:
            with translated("sqs:GetQueueUrl"):
                return str(client.get_queue_url(QueueName=name)["QueueUrl"])
        except AwsRequestError as error:
            if failed_code(error) in _QUEUE_MISSING:
                raise Failed(
                    [
                        f"join queue {name} not found in {self.hub.region} (give --name, --join-queue or "
                        "--hub-region)"
                    ],
                    EXIT_NOT_FOUND,
                ) from error
            raise

    def send_to_join_queue(self, body: str) -> str:
        """Put ``body`` on the hub's join queue at once (no delivery delay); returns the message id."""
        url = self.join_queue_url()
        with translated("sqs:SendMessage"):
            response = self.sessions.hub_client("sqs").send_message(
                QueueUrl=url, MessageBody=body, DelaySeconds=0
            )
        return str(response["MessageId"])

    # --- the reconcile worker ---------------------------------------------------------------
    def function_environment(self, function_name: str) -> dict[str, str]:
        """The environment of a hub function (``lambda:GetFunctionConfiguration``): the deployed worker's
        own configuration, for a real reconcile run."""
        client = self.sessions.hub_client("lambda")
        try:
            with translated("lambda:GetFunctionConfiguration"):
                response = client.get_function_configuration(FunctionName=function_name)
        except AwsRequestError as error:
            if failed_code(error) in _TABLE_MISSING:
                raise Failed(
                    [
                        f"function {function_name} not found in {self.hub.region} (is the reconciliation "
                        "deployed? give --name or --hub-region)"
                    ],
                    EXIT_NOT_FOUND,
                ) from error
            raise
        return {str(k): str(v) for k, v in response.get("Environment", {}).get("Variables", {}).items()}

    # --- Run Command ----------------------------------------------------------------------
    def tools_command_status(self, command_id: str) -> CommandStatus:
        """A prestage/remove command (hub account and Region, on the tools host)."""
        client = self.sessions.hub_client("ssm")
        try:
            with translated("ssm:ListCommands"):
                commands = client.list_commands(CommandId=command_id)["Commands"]
        except AwsRequestError as error:
            if failed_code(error) in _COMMAND_MISSING:
                return CommandStatus(NOT_FOUND)
            raise
        if not commands:
            return CommandStatus(NOT_FOUND)
        return CommandStatus(str(commands[0].get("Status", "")), str(commands[0].get("StatusDetails", "")))

    def join_command_status(
        self, command_id: str, instance_id: str, account: str, region: str, role_arn: str = ""
    ) -> CommandStatus:
        """A join command on the instance: with the operator's credentials (``role_arn`` "") or
        through ``role_arn`` (assumed as the handler assumes spoke roles)."""
        if role_arn:
            client = self.sessions.spoke_client("ssm", Spoke(account, region, role_arn))
        else:
            client = self.sessions.hub_client("ssm", region)
        try:
            with translated("ssm:GetCommandInvocation"):
                response = client.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
        except AwsRequestError as error:
            if failed_code(error) in _COMMAND_MISSING:
                return CommandStatus(NOT_FOUND)
            raise
        return CommandStatus(str(response.get("Status", "")), str(response.get("StatusDetails", "")))

    # --- errors ---------------------------------------------------------------------------
    @contextmanager
    def _table(self, table: str) -> Iterator[None]:
        try:
            yield
        except AwsRequestError as error:
            if failed_code(error) in _TABLE_MISSING:
                raise Failed(
                    [f"table {table} not found in {self.hub.region} (give --hub-region or the table option)"],
                    EXIT_NOT_FOUND,
                ) from error
            raise
