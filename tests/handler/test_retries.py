"""Failures: what goes to the DLQ, what is retried, with which visibility timeout, and until when."""

from __future__ import annotations

import json
from typing import Any

import pytest

from handlers.domain_join import backoff, contract

from .harness import (
    HOME_REGION,
    HUB_ACCOUNT,
    SPOKE_A,
    SPOKE_B,
    World,
    emitted_metrics,
    eventbridge_body,
    sns_body,
    stdout_json,
)
from .test_units import MALFORMED


def failed_ids(response: dict[str, Any]) -> list[str]:
    return sorted(f["itemIdentifier"] for f in response["batchItemFailures"])


def message_id_of(event: dict[str, Any], body: str) -> str:
    (record,) = [r for r in event["Records"] if r["body"] == body]
    return str(record["messageId"])


def visibility_timeouts(world: World) -> list[int]:
    return [
        e["VisibilityTimeout"]
        for c in world.calls_of("ChangeMessageVisibilityBatch")
        for e in c.params["Entries"]
    ]


# Every kind of malformed body is a unit test of the parser (test_units.py); two travel the whole way here.
@pytest.mark.parametrize("case", ["not JSON", "unsupported state"])
def test_malformed_body_goes_to_the_dlq_with_its_reason_and_the_batch_proceeds(
    world: World, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a malformed body between two good events
    bad, reason = MALFORMED[case]
    world.put_config(SPOKE_A)
    ids = world.launch(SPOKE_A, count=2)
    bodies = [
        eventbridge_body(SPOKE_A, HOME_REGION, ids[0]),
        bad,
        eventbridge_body(SPOKE_A, HOME_REGION, ids[1]),
    ]

    # WHEN the batch is handled
    response = world.run(bodies)

    # THEN no record fails: the good ones joined, the bad one is in the DLQ with its reason and original body
    assert response["batchItemFailures"] == []
    (join,) = world.commands(SPOKE_A, HOME_REGION)
    assert sorted(join["InstanceIds"]) == sorted(ids)
    (dead,) = world.dead_letters()
    wrapper = json.loads(dead["Body"])
    assert wrapper["reasonCode"] == "Malformed"
    assert reason in wrapper["reason"]
    assert wrapper["originalBody"] == bad
    assert dead["MessageAttributes"]["reason"]["StringValue"] == "Malformed"
    assert emitted_metrics(capsys.readouterr().out)["DeadLettered"] == 1


def test_unknown_account_fails_only_its_records_with_a_clear_reason(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN one configured and one unknown account in the same batch
    world.put_config(SPOKE_A)
    (known,) = world.launch(SPOKE_A)
    (unknown,) = world.launch(SPOKE_B)
    good, bad = eventbridge_body(SPOKE_A, HOME_REGION, known), eventbridge_body(SPOKE_B, HOME_REGION, unknown)
    event = world.deliver([good, bad])

    # WHEN the batch is handled
    response = world.invoke(event)

    # THEN exactly the unknown account's message is reported failed, and retried in 60 s
    assert failed_ids(response) == [message_id_of(event, bad)]
    assert visibility_timeouts(world) == [60]
    assert world.commands(SPOKE_A, HOME_REGION)[0]["InstanceIds"] == [known]
    # AND the log names the account
    logged = [line for line in stdout_json(capsys.readouterr().out) if line.get("instance_id") == unknown]
    assert any(line.get("outcome") == "ConfigMissing" and SPOKE_B in line["detail"] for line in logged)


def test_agent_not_online_is_retried_with_growing_timeouts_then_joins(world: World) -> None:
    # GIVEN an instance whose SSM agent is not Online yet
    world.put_config(SPOKE_A)
    (instance,) = world.launch(SPOKE_A)
    world.offline.add(instance)
    event = world.deliver([eventbridge_body(SPOKE_A, HOME_REGION, instance)])

    # WHEN it is received three times while still offline
    for _ in range(3):
        response = world.invoke(event)
        assert failed_ids(response) == [event["Records"][0]["messageId"]]
        assert world.receive()["Records"] == []  # the new visibility timeout holds it back
        world.let_time_pass(event)
        event = world.receive()

    # THEN the visibility timeouts followed the backoff schedule, and nothing was sent meanwhile
    assert visibility_timeouts(world) == [backoff.visibility_timeout(n) for n in (1, 2, 3)]
    assert world.commands(SPOKE_A, HOME_REGION) == []
    assert world.ledger() == {}

    # WHEN the agent comes Online and the message returns
    world.offline.clear()
    response = world.invoke(event)

    # THEN it joins
    assert response["batchItemFailures"] == []
    assert world.commands(SPOKE_A, HOME_REGION)[0]["InstanceIds"] == [instance]


def test_record_past_its_deadline_goes_to_the_dlq_with_the_last_reason(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an instance that never comes Online, received after READINESS_DEADLINE_SECONDS
    world.put_config(SPOKE_A)
    (instance,) = world.launch(SPOKE_A)
    world.offline.add(instance)
    body = eventbridge_body(SPOKE_A, HOME_REGION, instance)
    event = world.deliver([body])
    world.clock.offset = 3601

    # WHEN it is handled
    response = world.invoke(event)

    # THEN it is not failed (so it cannot loop) but dead-lettered with the deadline and the last reason
    assert response["batchItemFailures"] == []
    (dead,) = world.dead_letters()
    wrapper = json.loads(dead["Body"])
    assert wrapper["reasonCode"] == "DeadlineExceeded"
    assert "NotReady" in wrapper["reason"]
    assert wrapper["originalBody"] == body
    assert world.receive()["Records"] == []
    assert emitted_metrics(capsys.readouterr().out)["DeadLettered"] == 1


def test_visibility_never_reaches_past_the_deadline(world: World) -> None:
    # GIVEN a not-ready instance received 30 s before its deadline
    world.put_config(SPOKE_A)
    (instance,) = world.launch(SPOKE_A)
    world.offline.add(instance)
    event = world.deliver([eventbridge_body(SPOKE_A, HOME_REGION, instance)])
    world.clock.offset = 3570

    # WHEN it fails
    world.invoke(event)

    # THEN it comes back right at the deadline rather than after the 60 s backoff
    (timeout,) = visibility_timeouts(world)
    assert 25 <= timeout <= 31


def test_throttling_in_one_account_fails_exactly_its_records(world: World) -> None:
    # GIVEN two accounts, and DescribeInstances throttled in SPOKE_B (past the client's own retries)
    world.put_config(SPOKE_A)
    world.put_config(SPOKE_B)
    a = world.launch(SPOKE_A, count=2)
    b = world.launch(SPOKE_B, count=2)
    world.inject("DescribeInstances", "RequestLimitExceeded", status=503, account=SPOKE_B)
    bodies_b = [sns_body(SPOKE_B, HOME_REGION, i) for i in b]
    event = world.deliver([eventbridge_body(SPOKE_A, HOME_REGION, i) for i in a] + bodies_b)

    # WHEN the batch is handled
    response = world.invoke(event)

    # THEN the response lists exactly SPOKE_B's message ids; SPOKE_A joined
    assert failed_ids(response) == sorted(message_id_of(event, body) for body in bodies_b)
    assert sorted(world.commands(SPOKE_A, HOME_REGION)[0]["InstanceIds"]) == sorted(a)
    assert world.commands(SPOKE_B, HOME_REGION) == []
    assert visibility_timeouts(world) == [60, 60]


def test_throttled_ledger_claim_fails_the_batch_before_any_command(world: World) -> None:
    # GIVEN the ledger throttled
    world.put_config(SPOKE_A)
    ids = world.launch(SPOKE_A, count=2)
    world.inject("TransactWriteItems", "ProvisionedThroughputExceededException")
    event = world.deliver([eventbridge_body(SPOKE_A, HOME_REGION, i) for i in ids])

    # WHEN the batch is handled
    response = world.invoke(event)

    # THEN every record is reported (not an exception for the whole invocation), and nothing was sent
    assert failed_ids(response) == sorted(r["messageId"] for r in event["Records"])
    assert world.commands(SPOKE_A, HOME_REGION) == []
    assert world.commands() == []


def test_access_denied_on_assume_role_names_account_and_role(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN SPOKE_B's execution role refuses the hub
    role = f"arn:aws:iam::{SPOKE_B}:role/{contract.DEFAULT_SPOKE_ROLE_NAME}"
    world.put_config(SPOKE_B)
    (instance,) = world.launch(SPOKE_B)
    world.inject("AssumeRole", "AccessDenied", status=403)
    body = eventbridge_body(SPOKE_B, HOME_REGION, instance)
    event = world.deliver([body])

    # WHEN it is handled, then again after the deadline
    first = world.invoke(event)
    out = capsys.readouterr().out
    world.let_time_pass(event)
    world.clock.offset = 3601
    second = world.invoke(world.receive())

    # THEN the first attempt fails with a reason naming the account and the role
    assert failed_ids(first) == [event["Records"][0]["messageId"]]
    (line,) = [line for line in stdout_json(out) if line.get("outcome") == "AccessDenied"]
    assert SPOKE_B in line["detail"] and role in line["detail"]
    # AND after the deadline it is dead-lettered with that reason
    assert second["batchItemFailures"] == []
    (dead,) = world.dead_letters()
    assert role in json.loads(dead["Body"])["reason"]


def test_role_in_another_account_is_refused(world: World) -> None:
    # GIVEN SPOKE_A's config points at a role in SPOKE_B (a confused-deputy risk)
    world.put_config(SPOKE_A, assumeRoleARN=f"arn:aws:iam::{SPOKE_B}:role/anything")
    (instance,) = world.launch(SPOKE_A)

    # WHEN its instance starts
    response = world.run([eventbridge_body(SPOKE_A, HOME_REGION, instance)])

    # THEN no role is assumed and the record is retried as a config error
    assert len(response["batchItemFailures"]) == 1
    assert world.calls_of("AssumeRole") == []


@pytest.mark.parametrize("tools_host_problem", ["missing", "offline"])
def test_tools_host_unavailable_retries_without_sending_joins(world: World, tools_host_problem: str) -> None:
    # GIVEN the tools host is gone or its agent offline
    if tools_host_problem == "missing":
        world.terminate(HUB_ACCOUNT, HOME_REGION, [world.tools_host_id])
    else:
        world.offline.add(world.tools_host_id)
    world.put_config(SPOKE_A)
    (instance,) = world.launch(SPOKE_A)

    # WHEN an instance starts
    response = world.run([eventbridge_body(SPOKE_A, HOME_REGION, instance)])

    # THEN the record is retried and no join is sent (a join without prestage could never succeed)
    assert len(response["batchItemFailures"]) == 1
    assert world.commands(SPOKE_A, HOME_REGION) == []
    assert world.ledger() == {}


def test_caches_spare_config_reads_and_role_assumptions_until_they_expire(world: World) -> None:
    # GIVEN one spoke, three batches: two within the cache TTL, one after the session nears expiry
    world.put_config(SPOKE_A)
    ids = world.launch(SPOKE_A, count=3)

    # WHEN the batches are handled
    world.run([eventbridge_body(SPOKE_A, HOME_REGION, ids[0])])
    world.run([eventbridge_body(SPOKE_A, HOME_REGION, ids[1])])
    config_reads = len(
        [c for c in world.calls_of("BatchGetItem") if "domain-join-config" in c.params["RequestItems"]]
    )
    assumes = len(world.calls_of("AssumeRole"))
    tools_lookups = len([c for c in world.calls_of("DescribeInstances") if c.account == HUB_ACCOUNT])
    world.clock.offset = 3600 - 200  # session expires in 1 h; refreshed 5 min before
    world.run([eventbridge_body(SPOKE_A, HOME_REGION, ids[2])])

    # THEN the first two batches read the config, assumed the role and found the tools host once
    assert (config_reads, assumes, tools_lookups) == (1, 1, 1)
    # AND the third, past TTL and near expiry, did each again
    assert len(world.calls_of("AssumeRole")) == 2
    assert (
        len([c for c in world.calls_of("BatchGetItem") if "domain-join-config" in c.params["RequestItems"]])
        == 2
    )
    assert len(world.commands(SPOKE_A, HOME_REGION)) == 3


def test_sts_client_uses_the_regional_endpoint() -> None:
    from handlers.domain_join.adapter import boto3_client_factory

    client = boto3_client_factory("sts", "eu-central-1", None)
    assert client.meta.endpoint_url == "https://sts.eu-central-1.amazonaws.com"
    assert client.meta.config.retries["mode"] == "standard"


def test_expired_spoke_session_is_dropped_and_assumed_again(world: World) -> None:
    # GIVEN a spoke whose cached session is rejected as expired once
    world.put_config(SPOKE_A)
    ids = world.launch(SPOKE_A, count=2)
    world.run([eventbridge_body(SPOKE_A, HOME_REGION, ids[0])])
    world.inject("DescribeInstances", "ExpiredToken", account=SPOKE_A, times=1)

    # WHEN the next instance starts, fails, and comes back
    event = world.deliver([eventbridge_body(SPOKE_A, HOME_REGION, ids[1])])
    first = world.invoke(event)
    world.let_time_pass(event)
    second = world.invoke(world.receive())

    # THEN the retry assumed the role afresh and joined
    assert len(first["batchItemFailures"]) == 1
    assert second["batchItemFailures"] == []
    assert len(world.calls_of("AssumeRole")) == 2
    assert len(world.commands(SPOKE_A, HOME_REGION)) == 2
