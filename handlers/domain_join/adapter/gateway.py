"""``AwsGateway``: the one object the engine and the batch layer reach AWS through.

It implements ``model.AwsPort`` by delegating to the adapter's parts (sessions, ledger store, fleet,
queues) and keeps the config items in a cache that survives warm invocations for
``config_cache_ttl_seconds``.

Example::

    gateway = AwsGateway(Settings.from_env(os.environ))
    gateway.partition  # 'aws'
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from ..contract import CONFIG_TABLE_KEY
from ..decisions import ToolsHostPin
from ..model import CommandRecord, DirectoryComputer, InstanceFacts, LedgerEntry, Spoke
from ..sealing import SealRequest
from ..settings import Settings
from . import dynamodb
from .directory_service import DirectoryService
from .fleet import Fleet
from .kms import Sealer
from .ledger import LedgerStore
from .partitions import partition_of
from .queues import Queues
from .sessions import ClientFactory, Sessions, boto3_client_factory


class AwsGateway:
    """The real ``model.AwsPort``, plus ``queue_url``, ``change_visibility`` and ``dead_letter``.

    Parameters:
        settings: tables, queues, the tools-host tag, the external id and the cache TTL.
        client_factory: builds boto3 clients (a moto-backed factory in tests).
        clock: seconds since the epoch (cache expiry, session refresh).
        sleep: pause between retries of unprocessed DynamoDB items.
    """

    def __init__(
        self,
        settings: Settings,
        client_factory: ClientFactory = boto3_client_factory,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self._sessions = Sessions(
            settings.home_region, settings.spoke_role_external_id, client_factory, clock
        )
        self._ledger = LedgerStore(self._sessions, settings.ledger_table, sleep)
        self._fleet = Fleet(
            self._sessions,
            (settings.tools_host_tag_key, settings.tools_host_tag_value),
            settings.config_cache_ttl_seconds,
            clock,
            ToolsHostPin(settings.tools_host_instance_profile_arn, settings.tools_host_instance_id),
        )
        self._queues = Queues(self._sessions, settings.dead_letter_queue_url)
        self._sealer = Sealer(self._sessions, settings.sealing_key_arn)
        self._directory_service = DirectoryService(self._sessions)
        self._configs: dict[str, tuple[float, Mapping[str, Any]]] = {}

    @property
    def partition(self) -> str:
        """The partition of the home Region (and so of every spoke: roles are never assumed across)."""
        return partition_of(self._settings.home_region)

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
            client = self._sessions.hub_client("dynamodb")
            table = self._settings.config_table
            items = dynamodb.batch_get(client, table, CONFIG_TABLE_KEY, missing, False, self._sleep)
            expires = now + self._settings.config_cache_ttl_seconds
            for item in items:
                account = str(item[CONFIG_TABLE_KEY])
                self._configs[account] = (expires, item)  # absent accounts are not cached: fixes show fast
                found[account] = item
        return found

    # --- ledger ---------------------------------------------------------------
    def read_ledger(
        self, instance_ids: Collection[str], command_ids: Collection[str] = ()
    ) -> tuple[dict[str, LedgerEntry], dict[str, CommandRecord]]:
        return self._ledger.read(instance_ids, command_ids)

    def write_ledger(self, entries: Sequence[LedgerEntry], commands: Sequence[CommandRecord] = ()) -> None:
        self._ledger.write(entries, commands)

    def claim_ledger(
        self, entries: Sequence[LedgerEntry], now: int, resends: Mapping[str, str] | None = None
    ) -> None:
        self._ledger.claim(entries, now, resends)

    # --- instances and commands ----------------------------------------------
    def describe_instances(self, spoke: Spoke, instance_ids: Sequence[str]) -> dict[str, InstanceFacts]:
        return self._fleet.describe_instances(spoke, instance_ids)

    def online_instances(self, spoke: Spoke, instance_ids: Sequence[str]) -> set[str]:
        return self._fleet.online_instances(spoke, instance_ids)

    def send_spoke_command(
        self, spoke: Spoke, document: str, instance_ids: Sequence[str], parameters: Mapping[str, str]
    ) -> str:
        return self._fleet.send_spoke_command(spoke, document, instance_ids, parameters)

    def tools_host(self) -> str:
        return self._fleet.tools_host()

    def send_tools_command(self, document: str, instance_id: str, parameters: Mapping[str, str]) -> str:
        return self._fleet.send_tools_command(document, instance_id, parameters)

    def prestage_refusals(self, command_id: str) -> frozenset[str]:
        return self._fleet.prestage_refusals(command_id)

    # --- sealed one-time passwords ---------------------------------------------
    def sealing_key(self) -> str:
        return self._sealer.key_arn

    def seal(self, requests: Sequence[SealRequest]) -> tuple[str, ...]:
        return self._sealer.seal(requests)

    def create_directory_computer(self, computer: DirectoryComputer) -> None:
        self._directory_service.create_computer(computer)

    # --- join queue and its DLQ ----------------------------------------------
    def queue_url(self, queue_arn: str) -> str:
        return self._queues.queue_url(queue_arn)

    def change_visibility(self, queue_url: str, timeouts: Sequence[tuple[str, int]]) -> int:
        return self._queues.change_visibility(queue_url, timeouts)

    def dead_letter(self, messages: Sequence[tuple[str, Mapping[str, Any], str]]) -> set[str]:
        return self._queues.dead_letter(messages)
