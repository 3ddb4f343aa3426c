"""The ledger store (adapter/ledger.py, adapter/dynamodb.py) against moto's DynamoDB.

Stubbed: only what moto lacks.  moto processes every BatchWriteItem/BatchGetItem in full and never
answers with ``UnprocessedItems``/``UnprocessedKeys``; ``PartialDynamoDB`` wraps moto's real client and
makes the first calls process one item (key) only, handing the rest back as unprocessed, as DynamoDB does
under throttling.  Everything that is processed is processed by moto.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from handlers.domain_join import claims
from handlers.domain_join.adapter.dynamodb import UNPROCESSED_ATTEMPTS
from handlers.domain_join.adapter.ledger import LedgerStore
from handlers.domain_join.adapter.sessions import Credentials, Sessions
from handlers.domain_join.errors import LedgerClaimRefusedError, TransientAwsError
from handlers.domain_join.model import (
    JOIN_FAILED,
    JOIN_SENT,
    JOINING,
    REMOVE_FAILED,
    REMOVE_SENT,
    REMOVING,
    CommandRecord,
    LedgerEntry,
)

from .harness import HOME_REGION, LEDGER_TABLE, SPOKE_A, SPOKE_B

NOW = 1_800_000_000


class PartialDynamoDB:
    """moto's DynamoDB client, except that the next ``partial_calls`` batch calls process one item only."""

    def __init__(self, client: Any, partial_calls: int) -> None:
        self._client = client
        self.partial_calls = partial_calls
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        if self.partial_calls <= 0:
            return dict(self._client.batch_write_item(RequestItems=RequestItems))
        self.partial_calls -= 1
        ((table, requests),) = RequestItems.items()
        self._client.batch_write_item(RequestItems={table: requests[:1]})
        return {"UnprocessedItems": {table: requests[1:]} if requests[1:] else {}}

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        if self.partial_calls <= 0:
            return dict(self._client.batch_get_item(RequestItems=RequestItems))
        self.partial_calls -= 1
        ((table, request),) = RequestItems.items()
        keys = request["Keys"]
        first = {table: {**request, "Keys": keys[:1]}}
        response = dict(self._client.batch_get_item(RequestItems=first))
        response["UnprocessedKeys"] = {table: {**request, "Keys": keys[1:]}} if keys[1:] else {}
        return response


@pytest.fixture
def dynamodb(aws_env: None) -> Iterator[Any]:
    client = boto3.client("dynamodb", region_name=HOME_REGION)
    create_table(client, LEDGER_TABLE)
    yield client


def create_table(client: Any, name: str) -> None:
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "instanceId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "instanceId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def store_with(client: Any, sleeps: list[float], table: str = LEDGER_TABLE) -> LedgerStore:
    def factory(service: str, region: str, credentials: Credentials | None) -> Any:
        assert (service, region, credentials) == ("dynamodb", HOME_REGION, None)
        return client

    return LedgerStore(Sessions(HOME_REGION, client_factory=factory), table, sleep=sleeps.append)


def entry(instance_id: str, status: str = JOIN_SENT, account: str = SPOKE_A, **changes: Any) -> LedgerEntry:
    base = LedgerEntry(
        instance_id, account, HOME_REGION, "EC2NAME", "corp.example.com", status, NOW - 60, NOW
    )
    return LedgerEntry(**{**{f: getattr(base, f) for f in base.__slots__}, **changes})


def ids(count: int) -> list[str]:
    return [f"i-{n:017x}" for n in range(count)]


def test_unprocessed_items_are_written_again_until_all_are_in(dynamodb: Any) -> None:
    # GIVEN DynamoDB that writes only one item of each of the next two batches
    partial, sleeps = PartialDynamoDB(dynamodb, partial_calls=2), []
    store = store_with(partial, sleeps)
    entries = [entry(i) for i in ids(4)]
    command = CommandRecord(
        "5d1e7c2a-0000-4000-8000-000000000001", "DomainJoin-Remove", tuple(ids(2)), NOW, NOW + 9
    )

    # WHEN the store writes four records and a command item
    store.write(entries, [command])

    # THEN it sent the rest again, pausing longer each time, until every item was in
    assert partial.calls == 3
    assert sleeps == [0.05, 0.1]
    read, commands = store.read(ids(4), [command.command_id])
    assert read == {e.instance_id: e for e in entries}
    assert commands == {command.command_id: command}


def test_items_left_unprocessed_after_every_attempt_fail_the_write(dynamodb: Any) -> None:
    # GIVEN DynamoDB that keeps handing items back
    partial, sleeps = PartialDynamoDB(dynamodb, partial_calls=100), []
    store = store_with(partial, sleeps)

    # WHEN the store writes more items than its attempts can carry one by one
    with pytest.raises(TransientAwsError, match="unprocessed"):
        store.write([entry(i) for i in ids(UNPROCESSED_ATTEMPTS + 2)])

    # THEN it gave up after its attempts (a retry of the record comes from the queue)
    assert partial.calls == UNPROCESSED_ATTEMPTS
    assert len(sleeps) == UNPROCESSED_ATTEMPTS - 1


def test_unprocessed_keys_are_read_again_until_all_are_read(dynamodb: Any) -> None:
    # GIVEN three records, and DynamoDB that reads only one key of each of the next two requests
    entries = [entry(i) for i in ids(3)]
    store_with(dynamodb, []).write(entries)
    partial, sleeps = PartialDynamoDB(dynamodb, partial_calls=2), []

    # WHEN the store reads them
    read, _ = store_with(partial, sleeps).read(ids(3))

    # THEN every record came back, after two more requests
    assert read == {e.instance_id: e for e in entries}
    assert partial.calls == 3
    assert sleeps == [0.05, 0.1]


def test_keys_left_unprocessed_after_every_attempt_fail_the_read(dynamodb: Any) -> None:
    partial, sleeps = PartialDynamoDB(dynamodb, partial_calls=100), []
    with pytest.raises(TransientAwsError, match="unprocessed"):
        store_with(partial, sleeps).read(ids(UNPROCESSED_ATTEMPTS + 2))
    assert partial.calls == UNPROCESSED_ATTEMPTS


# --- the claim conditions, as DynamoDB evaluates them, against the declared transition table -------------
CURRENT_STATUSES = [None, JOINING, JOIN_SENT, JOIN_FAILED, REMOVING, REMOVE_SENT, REMOVE_FAILED]
LEASES = {"lease over": NOW - 1, "no lease": 0, "lease held": NOW + 600}
CLAIMANTS = {"other message": ("other-message", 1), "earlier receive": ("this-message", 1)}
COMMAND = "5d1e7c2a-0000-4000-8000-00000000000a"
CHUNK = 12


def test_every_claim_condition_agrees_with_the_transition_table(dynamodb: Any) -> None:
    # GIVEN every kind of claim, and records in every status, lease, claimant, command and account
    cases = list(
        itertools.product(
            claims.TRANSITIONS, CURRENT_STATUSES, LEASES, CLAIMANTS, (COMMAND, "another"), (SPOKE_A, SPOKE_B)
        )
    )
    currents: list[LedgerEntry] = []
    claim_entries: list[LedgerEntry] = []
    resends: dict[str, str] = {}
    expected: dict[str, bool] = {}
    for n, ((status, resend), current_status, lease, claimant, current_command, account) in enumerate(cases):
        instance_id = f"i-{n:017x}"
        current = None
        if current_status is not None:
            by, receive = CLAIMANTS[claimant]
            current = entry(
                instance_id,
                current_status,
                account,
                lease_expires_at=LEASES[lease],
                claimed_by=by,
                claim_receive_count=receive,
                join_command_id=current_command,
                remove_command_id=current_command,
            )
            currents.append(current)
        claim = entry(
            instance_id,
            status,
            SPOKE_A,
            lease_expires_at=NOW + 240,
            claimed_by="this-message",
            claim_receive_count=2,
        )
        claim_entries.append(claim)
        resends[instance_id] = COMMAND if resend else ""
        rule = claims.rule_for(claim, resends[instance_id])
        expected[instance_id] = claims.allows(rule, claim, current, NOW, resends[instance_id])

    # WHEN the store claims each record, CHUNK per transaction (its cancellation reasons name each refusal;
    # a small table per chunk, since moto copies every table for every item of a transaction)
    refused: dict[str, str] = {}
    for start in range(0, len(claim_entries), CHUNK):
        chunk = claim_entries[start : start + CHUNK]
        create_table(dynamodb, f"ledger-{start}")
        store = store_with(dynamodb, [], f"ledger-{start}")
        store.write([c for c in currents if c.instance_id in {e.instance_id for e in chunk}])
        try:
            store.claim(chunk, NOW, resends)
        except LedgerClaimRefusedError as exc:
            assert not exc.contended
            refused.update(exc.refused)
        dynamodb.delete_table(TableName=f"ledger-{start}")

    # THEN DynamoDB refused exactly the claims the table does not allow
    verdicts = {e.instance_id: e.instance_id not in refused for e in claim_entries}
    wrong = [cases[int(i[2:], 16)] for i in verdicts if verdicts[i] != expected[i]]
    assert wrong == []
    assert set(expected.values()) == {True, False}  # the matrix holds both verdicts
