"""Ledger claims: with at-least-once delivery only one container prestages, joins or removes an instance."""

from __future__ import annotations

import re
from typing import Any

import pytest

from handlers.domain_join import contract

from .harness import (
    HOME_REGION,
    HUB_ACCOUNT,
    SPOKE_A,
    FakeContext,
    World,
    app_module,
    emitted_metrics,
    eventbridge_body,
    stdout_json,
)
from .test_retries import failed_ids, visibility_timeouts


def claimed_ids(call: Any) -> list[str]:
    return [action["Put"]["Item"]["instanceId"]["S"] for action in call.params["TransactItems"]]


def prestaged_names(world: World) -> list[str]:
    return [
        entry.split("=")[0]
        for command in world.commands(HUB_ACCOUNT, HOME_REGION)
        if command["DocumentName"] == contract.PRESTAGE_DOCUMENT
        for entry in command["Params"][contract.TOOLS_PARAM_COMPUTERS].split()
    ]


def another_container(world: World) -> app_module.DomainJoinApp:
    """A second Lambda container: its own gateway and caches, the same AWS."""
    return app_module.build_app(FakeContext(), client_factory=world.handler_client_factory, clock=world.clock)


def test_instance_claimed_by_another_container_is_left_alone(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an instance whose ledger record another container has just claimed (fresh lease)
    world.put_config(SPOKE_A)
    (instance,) = world.launch(SPOKE_A)
    lease_end = int(world.clock()) + 600
    world.put_ledger(instance, SPOKE_A, status="JOINING", leaseExpiresAt=lease_end)

    # WHEN its running event (a duplicate) is handled
    response = world.run([eventbridge_body(SPOKE_A, HOME_REGION, instance)])

    # THEN no prestage or join is sent, and the message is done rather than retried
    assert response == {"batchItemFailures": []}
    assert world.commands(HUB_ACCOUNT, HOME_REGION) == []
    assert world.commands(SPOKE_A, HOME_REGION) == []
    assert world.calls_of("ChangeMessageVisibilityBatch") == []
    # AND the other container's claim is untouched
    assert world.ledger()[instance]["leaseExpiresAt"] == lease_end
    # AND it is counted and logged as claimed elsewhere
    out = capsys.readouterr().out
    assert emitted_metrics(out) == {"ClaimedElsewhere": 1}
    (line,) = [j for j in stdout_json(out) if j.get("outcome") == "ClaimedElsewhere"]
    assert line["instance_id"] == instance and line["retry"] is False


def test_claim_lost_to_a_racing_container_sends_nothing(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN another container that claims the instance between this one's ledger read and its claim
    world.put_config(SPOKE_A)
    (instance,) = world.launch(SPOKE_A)
    lease_end = int(world.clock()) + 600
    world.before(
        "TransactWriteItems",
        lambda: world.put_ledger(instance, SPOKE_A, status="JOINING", leaseExpiresAt=lease_end),
    )

    # WHEN the batch runs
    response = world.run([eventbridge_body(SPOKE_A, HOME_REGION, instance)])

    # THEN the claim is refused: no second prestage or join, the message is done and not retried
    assert response == {"batchItemFailures": []}
    assert world.commands(HUB_ACCOUNT, HOME_REGION) == []
    assert world.commands(SPOKE_A, HOME_REGION) == []
    assert len(world.calls_of("TransactWriteItems")) == 1
    assert world.ledger()[instance]["leaseExpiresAt"] == lease_end
    assert emitted_metrics(capsys.readouterr().out) == {"ClaimedElsewhere": 1}


def test_two_containers_racing_on_one_message_join_once(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN one running event received twice (SQS at-least-once), by two Lambda containers; the second
    # container runs its whole invocation while the first is about to claim
    world.put_config(SPOKE_A)
    (instance,) = world.launch(SPOKE_A)
    event = world.deliver([eventbridge_body(SPOKE_A, HOME_REGION, instance)])
    other = another_container(world)
    responses: list[dict[str, Any]] = []
    world.before("TransactWriteItems", lambda: responses.append(dict(other.handle(event, FakeContext()))))

    # WHEN the first container handles the batch
    responses.append(world.invoke(event))

    # THEN exactly one prestage and one join were sent, by the container whose claim landed
    (prestage,) = world.commands(HUB_ACCOUNT, HOME_REGION)
    (join,) = world.commands(SPOKE_A, HOME_REGION)
    assert join["InstanceIds"] == [instance]
    record = world.ledger()[instance]
    assert (record["status"], record["joinCommandId"]) == ("JOIN_SENT", join["CommandId"])
    assert record["prestageCommandId"] == prestage["CommandId"]
    # AND neither container retries the message; the loser counts it as already joined
    assert responses == [{"batchItemFailures": []}, {"batchItemFailures": []}]
    metrics = emitted_metrics(capsys.readouterr().out)
    assert (metrics["JoinRequested"], metrics["AlreadyJoined"]) == (1, 1)


def test_mixed_batch_skips_the_refused_claims_and_joins_the_rest(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN three instances; just before the claim, another container joins one and claims another
    world.put_config(SPOKE_A)
    joined_elsewhere, claimed_elsewhere, free = world.launch(SPOKE_A, count=3)

    def race() -> None:
        world.put_ledger(joined_elsewhere, SPOKE_A, status="JOIN_SENT", joinCommandId="other")
        world.put_ledger(
            claimed_elsewhere, SPOKE_A, status="JOINING", leaseExpiresAt=int(world.clock()) + 600
        )

    world.before("TransactWriteItems", race)

    # WHEN the batch runs
    response = world.run(
        [eventbridge_body(SPOKE_A, HOME_REGION, i) for i in (joined_elsewhere, claimed_elsewhere, free)]
    )

    # THEN the claim was tried for all three, then once more for the one that did not fail its condition
    first, second = world.calls_of("TransactWriteItems")
    assert sorted(claimed_ids(first)) == sorted([joined_elsewhere, claimed_elsewhere, free])
    assert claimed_ids(second) == [free]
    # AND only that one is prestaged and joined; nothing is retried
    assert response == {"batchItemFailures": []}
    (join,) = world.commands(SPOKE_A, HOME_REGION)
    assert join["InstanceIds"] == [free]
    assert len(prestaged_names(world)) == 1
    ledger = world.ledger()
    assert ledger[joined_elsewhere]["joinCommandId"] == "other"
    assert ledger[claimed_elsewhere]["status"] == "JOINING"
    assert ledger[free]["status"] == "JOIN_SENT"
    assert emitted_metrics(capsys.readouterr().out) == {
        "AlreadyJoined": 1,
        "ClaimedElsewhere": 1,
        "JoinRequested": 1,
    }


def test_claim_is_retried_only_once(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN three instances and a racing container that wins one claim before each of two attempts
    world.put_config(SPOKE_A)
    a, b, c = world.launch(SPOKE_A, count=3)
    lease_end = int(world.clock()) + 600
    world.before("TransactWriteItems", lambda: world.put_ledger(a, SPOKE_A, status="JOIN_SENT"))
    world.before(
        "TransactWriteItems",
        lambda: world.put_ledger(b, SPOKE_A, status="JOINING", leaseExpiresAt=lease_end),
    )
    event = world.deliver([eventbridge_body(SPOKE_A, HOME_REGION, i) for i in (a, b, c)])

    # WHEN the batch runs
    response = world.invoke(event)

    # THEN there is no third attempt: the instance still unclaimed is retried through the queue
    assert len(world.calls_of("TransactWriteItems")) == 2
    (record,) = [r for r in event["Records"] if c in r["body"]]
    assert failed_ids(response) == [record["messageId"]]
    assert world.commands(SPOKE_A, HOME_REGION) == []
    assert c not in world.ledger()
    metrics = emitted_metrics(capsys.readouterr().out)
    assert (metrics["AlreadyJoined"], metrics["ClaimedElsewhere"], metrics["LedgerContended"]) == (1, 1, 1)


def test_transaction_conflict_is_retried_once_with_every_claim(world: World) -> None:
    # GIVEN a claim transaction cancelled once because another transaction touched one of its items
    world.put_config(SPOKE_A)
    ids = world.launch(SPOKE_A, count=2)
    reasons = [{"Code": "None"}, {"Code": "TransactionConflict", "Message": "in use"}]
    world.inject(
        "TransactWriteItems", "TransactionCanceledException", times=1, extra={"CancellationReasons": reasons}
    )

    # WHEN the batch runs
    response = world.run([eventbridge_body(SPOKE_A, HOME_REGION, i) for i in ids])

    # THEN no item failed its condition, so the second attempt carries both, and both join
    first, second = world.calls_of("TransactWriteItems")
    assert sorted(claimed_ids(second)) == sorted(claimed_ids(first)) == sorted(ids)
    assert response == {"batchItemFailures": []}
    (join,) = world.commands(SPOKE_A, HOME_REGION)
    assert sorted(join["InstanceIds"]) == sorted(ids)


def test_claim_whose_lease_has_expired_is_taken_over_and_joined(world: World) -> None:
    # GIVEN an instance whose claim was left by a container that crashed mid-way (lease over)
    world.put_config(SPOKE_A)
    (instance,) = world.launch(SPOKE_A)
    created = int(world.clock()) - 2000
    world.put_ledger(
        instance, SPOKE_A, status="JOINING", createdAt=created, leaseExpiresAt=int(world.clock()) - 1
    )

    # WHEN the redelivered message is handled
    response = world.run([eventbridge_body(SPOKE_A, HOME_REGION, instance)])

    # THEN it is claimed again and joined from the start
    assert response == {"batchItemFailures": []}
    (join,) = world.commands(SPOKE_A, HOME_REGION)
    assert join["InstanceIds"] == [instance]
    assert len(prestaged_names(world)) == 1
    record = world.ledger()[instance]
    assert record["status"] == "JOIN_SENT"
    assert record["createdAt"] == created
    assert "leaseExpiresAt" not in record


@pytest.mark.parametrize(
    ("configured", "function_timeout", "lease"),
    [("120", 900, 120), ("", 300, 600), ("", 900, 1800)],
    ids=["LEDGER_LEASE_SECONDS", "300 s function", "900 s function"],
)
def test_claim_is_written_with_its_lease_before_anything_is_sent(
    world: World, monkeypatch: pytest.MonkeyPatch, configured: str, function_timeout: int, lease: int
) -> None:
    # GIVEN a function with that timeout, and LEDGER_LEASE_SECONDS set or not
    monkeypatch.setenv(contract.ENV_LEDGER_LEASE_SECONDS, configured)
    monkeypatch.setattr(app_module, "_app", another_container(world))
    world.put_config(SPOKE_A)
    (instance,) = world.launch(SPOKE_A)
    seen: list[dict[str, Any]] = []
    world.before("SendCommand", lambda: seen.append(world.ledger()[instance]))

    # WHEN its running event is handled at the start of an invocation
    started = int(world.clock())
    world.run(
        [eventbridge_body(SPOKE_A, HOME_REGION, instance)],
        FakeContext(timeout_millis=function_timeout * 1000),
    )

    # THEN when the first command went out, the ledger already held the claim, leased for the configured
    # time or else for twice as long as the invocation could still run (settings.LEDGER_LEASE_FACTOR)
    (claim,) = seen
    assert claim["status"] == "JOINING"
    assert started + lease <= claim["leaseExpiresAt"] <= int(world.clock()) + lease
    # AND once the join is sent the claim is over
    assert "leaseExpiresAt" not in world.ledger()[instance]


def test_failed_join_gives_the_claim_back_so_the_retry_takes_it(world: World) -> None:
    # GIVEN a join command that fails once in the spoke
    world.put_config(SPOKE_A)
    (instance,) = world.launch(SPOKE_A)
    world.inject("SendCommand", "InternalError", status=500, account=SPOKE_A, times=1)
    event = world.deliver([eventbridge_body(SPOKE_A, HOME_REGION, instance)])

    # WHEN the batch fails, and the message comes back after the usual backoff
    first = world.invoke(event)
    after_failure = world.ledger()[instance]
    world.let_time_pass(event)
    second = world.invoke(world.receive())

    # THEN the failure gave the claim back (no lease), with the usual 60 s backoff
    assert len(first["batchItemFailures"]) == 1
    assert after_failure["status"] == "JOINING" and "leaseExpiresAt" not in after_failure
    assert visibility_timeouts(world) == [60]
    # AND the retry claimed it and joined
    assert second == {"batchItemFailures": []}
    assert world.ledger()[instance]["status"] == "JOIN_SENT"
    assert len(world.commands(SPOKE_A, HOME_REGION)) == 1


def test_claim_that_cannot_be_given_back_is_taken_over_by_the_retry_of_its_own_message(world: World) -> None:
    # GIVEN a join command that fails, and a ledger that then refuses the write giving the claim back
    world.put_config(SPOKE_A)
    (instance,) = world.launch(SPOKE_A)
    world.inject("SendCommand", "InternalError", status=500, account=SPOKE_A, times=1)
    world.inject("BatchWriteItem", "InternalServerError", status=500, times=1)
    event = world.deliver([eventbridge_body(SPOKE_A, HOME_REGION, instance)])
    (message_id,) = [r["messageId"] for r in event["Records"]]

    # WHEN the batch fails
    first = world.invoke(event)

    # THEN the claim is still held, in the name of this message, and the retry comes after the usual backoff
    assert len(first["batchItemFailures"]) == 1
    held = world.ledger()[instance]
    assert (held["status"], held["claimedBy"], held["claimReceiveCount"]) == ("JOINING", message_id, 1)
    assert held["leaseExpiresAt"] > world.clock()
    assert visibility_timeouts(world) == [60]

    # WHEN it comes back, long before the lease is over
    world.let_time_pass(event)
    second = world.invoke(world.receive())

    # THEN its own claim does not shut it out: it is claimed again and joined, and the claim is gone
    assert second == {"batchItemFailures": []}
    record = world.ledger()[instance]
    assert record["status"] == "JOIN_SENT"
    assert "claimedBy" not in record and "leaseExpiresAt" not in record


def test_join_sent_but_not_recorded_is_redone_by_the_retry_of_the_same_message(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a join that SSM accepted, and a final ledger write that fails
    world.put_config(SPOKE_A)
    (instance,) = world.launch(SPOKE_A)
    world.inject("BatchWriteItem", "InternalServerError", status=500, times=1)
    event = world.deliver([eventbridge_body(SPOKE_A, HOME_REGION, instance)])

    # WHEN the batch fails, and its message comes back
    first = world.invoke(event)
    world.let_time_pass(event)
    second = world.invoke(world.receive())

    # THEN the retry is not dropped as claimed elsewhere: it prestages and joins again, and records it
    assert len(first["batchItemFailures"]) == 1 and second == {"batchItemFailures": []}
    joins = world.commands(SPOKE_A, HOME_REGION)
    assert len(joins) == 2
    record = world.ledger()[instance]
    assert (record["status"], record["joinCommandId"]) == ("JOIN_SENT", joins[-1]["CommandId"])
    metrics = emitted_metrics(capsys.readouterr().out)
    assert "ClaimedElsewhere" not in metrics and metrics["JoinRequested"] == 1


def test_duplicate_receive_of_the_same_message_still_respects_the_claim(world: World) -> None:
    # GIVEN a claim held by message M on its first receive, whose invocation is still running
    world.put_config(SPOKE_A)
    (instance,) = world.launch(SPOKE_A)
    event = world.deliver([eventbridge_body(SPOKE_A, HOME_REGION, instance)])
    (record,) = event["Records"]
    lease_end = int(world.clock()) + 600
    world.put_ledger(
        instance,
        SPOKE_A,
        status="JOINING",
        leaseExpiresAt=lease_end,
        claimedBy=record["messageId"],
        claimReceiveCount=int(record["attributes"]["ApproximateReceiveCount"]),
    )

    # WHEN a duplicate delivery of M with the same receive count runs
    response = world.invoke(event)

    # THEN it sends nothing and leaves the claim alone
    assert response == {"batchItemFailures": []}
    assert world.commands(SPOKE_A, HOME_REGION) == []
    assert world.ledger()[instance]["leaseExpiresAt"] == lease_end


# --- removal ----------------------------------------------------------------------


def test_two_containers_racing_on_a_terminated_event_remove_once(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a joined instance whose terminated event two containers receive; the second container runs
    # its whole invocation while the first is about to claim
    world.put_config(SPOKE_A)
    (instance,) = world.launch(SPOKE_A)
    world.run([eventbridge_body(SPOKE_A, HOME_REGION, instance)])
    world.terminate(SPOKE_A, HOME_REGION, [instance])
    capsys.readouterr()
    event = world.deliver([eventbridge_body(SPOKE_A, HOME_REGION, instance, "terminated")])
    other = another_container(world)
    responses: list[dict[str, Any]] = []
    world.before("TransactWriteItems", lambda: responses.append(dict(other.handle(event, FakeContext()))))

    # WHEN the first container handles it
    responses.append(world.invoke(event))

    # THEN one remove command was sent, and neither container retries
    removes = [c for c in world.commands() if c["DocumentName"] == contract.REMOVE_DOCUMENT]
    assert len(removes) == 1
    assert world.ledger()[instance]["status"] == "REMOVE_SENT"
    assert responses == [{"batchItemFailures": []}, {"batchItemFailures": []}]
    metrics = emitted_metrics(capsys.readouterr().out)
    assert (metrics["RemoveRequested"], metrics["AlreadyRemoved"]) == (1, 1)


def test_terminated_during_a_join_is_removed_once_the_join_is_sent(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an instance another container is joining right now (fresh JOINING claim)
    world.put_config(SPOKE_A)
    (instance,) = world.launch(SPOKE_A)
    world.put_ledger(instance, SPOKE_A, status="JOINING", leaseExpiresAt=int(world.clock()) + 600)
    event = world.deliver([eventbridge_body(SPOKE_A, HOME_REGION, instance, "terminated")])

    # WHEN its terminated event arrives
    first = world.invoke(event)

    # THEN nothing is removed yet (the prestage may still be on its way): the event is retried
    assert failed_ids(first) == [event["Records"][0]["messageId"]]
    assert world.commands() == []
    assert emitted_metrics(capsys.readouterr().out)["JoinInProgress"] == 1

    # WHEN the join has been sent and the event comes back
    world.put_ledger(instance, SPOKE_A, status="JOIN_SENT", computerName="EC2OTHERWRITER")
    world.let_time_pass(event)
    second = world.invoke(world.receive())

    # THEN the computer is removed
    assert second == {"batchItemFailures": []}
    (remove,) = world.commands()
    assert remove["DocumentName"] == contract.REMOVE_DOCUMENT
    assert remove["Params"][contract.TOOLS_PARAM_COMPUTERS].startswith("EC2OTHERWRITER=")
    assert world.ledger()[instance]["status"] == "REMOVE_SENT"


def test_failed_remove_gives_the_claim_back_and_is_retried(world: World) -> None:
    # GIVEN a joined instance whose remove command fails once
    world.put_config(SPOKE_A)
    (instance,) = world.launch(SPOKE_A)
    world.run([eventbridge_body(SPOKE_A, HOME_REGION, instance)])
    world.terminate(SPOKE_A, HOME_REGION, [instance])
    world.inject("SendCommand", "InternalError", status=500, account=HUB_ACCOUNT, times=1)
    event = world.deliver([eventbridge_body(SPOKE_A, HOME_REGION, instance, "terminated")])

    # WHEN it fails and comes back
    first = world.invoke(event)
    after_failure = world.ledger()[instance]
    world.let_time_pass(event)
    second = world.invoke(world.receive())

    # THEN the claim was given back, and the retry removed the computer
    assert len(first["batchItemFailures"]) == 1
    assert after_failure["status"] == "REMOVING" and "leaseExpiresAt" not in after_failure
    assert second == {"batchItemFailures": []}
    assert world.ledger()[instance]["status"] == "REMOVE_SENT"
    removes = [c for c in world.commands() if c["DocumentName"] == contract.REMOVE_DOCUMENT]
    assert len(removes) == 1


def test_claim_expressions_use_exactly_their_names_and_values(world: World) -> None:
    # GIVEN an instance joined and then removed (both kinds of claim)
    world.put_config(SPOKE_A)
    (instance,) = world.launch(SPOKE_A)
    world.run([eventbridge_body(SPOKE_A, HOME_REGION, instance)])
    world.terminate(SPOKE_A, HOME_REGION, [instance])
    world.run([eventbridge_body(SPOKE_A, HOME_REGION, instance, "terminated")])

    # THEN each claim's placeholders match its names and values one for one (DynamoDB refuses unused ones)
    puts = [a["Put"] for call in world.calls_of("TransactWriteItems") for a in call.params["TransactItems"]]
    assert sorted(p["Item"]["status"]["S"] for p in puts) == ["JOINING", "REMOVING"]
    for put in puts:
        expression = put["ConditionExpression"]
        assert set(re.findall(r"#\w+", expression)) == set(put["ExpressionAttributeNames"])
        assert set(re.findall(r":\w+", expression)) == set(put["ExpressionAttributeValues"])
        assert put["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"
