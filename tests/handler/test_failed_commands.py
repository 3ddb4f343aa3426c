"""Failed Run Commands: SSM's status events make the handler send a join or remove again, then give up."""

from __future__ import annotations

import json
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
    command_status,
    emitted_metrics,
    eventbridge_body,
    sns_wrapped,
    stdout_json,
)

REGION = "eu-west-1"


def joined(world: World, count: int = 1) -> list[str]:
    """GIVEN instances of spoke A that were joined (prestage and join sent, ledger JOIN_SENT)."""
    world.put_config(SPOKE_A)
    ids = world.launch(SPOKE_A, REGION, count=count)
    assert world.run([eventbridge_body(SPOKE_A, REGION, i) for i in ids]) == {"batchItemFailures": []}
    return ids


def removed(world: World, ids: list[str]) -> str:
    """GIVEN those instances terminated and their remove sent; returns the remove command id."""
    world.terminate(SPOKE_A, REGION, ids)
    bodies = [eventbridge_body(SPOKE_A, REGION, i, "terminated") for i in ids]
    assert world.run(bodies) == {"batchItemFailures": []}
    return str(world.ledger()[ids[0]]["removeCommandId"])


def join_failed(world: World, instance: str, form: str = "eventbridge", status: str = "Failed") -> str:
    """The failure event of the instance's current join command, in one of the three body forms."""
    event = command_status(
        SPOKE_A, REGION, world.ledger()[instance]["joinCommandId"], contract.JOIN_DOCUMENT, instance, status
    )
    return body_in_form(event, form)


def remove_failed(world: World, command_id: str, form: str = "eventbridge") -> str:
    event = command_status(
        HUB_ACCOUNT, HOME_REGION, command_id, contract.REMOVE_DOCUMENT, world.tools_host_id
    )
    return body_in_form(event, form)


def body_in_form(event: dict[str, Any], form: str) -> str:
    if form == "sns":
        return sns_wrapped(event)
    if form == "raw":  # SNS raw delivery: the published event itself
        return json.dumps(event, indent=1)
    return json.dumps(event)


def join_commands(world: World) -> list[dict[str, Any]]:
    return world.commands(SPOKE_A, REGION)


def tools_commands(world: World, document: str) -> list[dict[str, Any]]:
    return [c for c in world.commands(HUB_ACCOUNT, HOME_REGION) if c["DocumentName"] == document]


def otp_of(command: dict[str, Any], instance: str) -> str:
    (entry,) = [e for e in command["Params"][contract.JOIN_PARAM_COMPUTERS].split() if e.startswith(instance)]
    return entry.split("=")[2]


@pytest.mark.parametrize("form", ["eventbridge", "sns", "raw"])
def test_failed_join_is_sent_again_with_a_new_prestage_and_otp(
    world: World, form: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a joined instance whose join command then failed on the instance
    (instance,) = joined(world)
    (first_join,) = join_commands(world)
    capsys.readouterr()

    # WHEN SSM's failure event arrives (in each of the three body forms)
    response = world.run([join_failed(world, instance, form)])

    # THEN a new prestage and a new join were sent for it, with a fresh one-time password
    assert response == {"batchItemFailures": []}
    joins = join_commands(world)
    assert len(joins) == 2 and joins[1]["InstanceIds"] == [instance]
    assert otp_of(joins[1], instance) != otp_of(first_join, instance)
    assert len(tools_commands(world, contract.PRESTAGE_DOCUMENT)) == 2
    # AND the ledger records the new command as the second attempt, with no claim left
    record = world.ledger()[instance]
    assert record["status"] == "JOIN_SENT"
    assert record["joinCommandId"] == joins[1]["CommandId"] and record["attempts"] == 2
    assert "claimedBy" not in record and "leaseExpiresAt" not in record
    # AND it is counted as a retried join
    assert emitted_metrics(capsys.readouterr().out) == {"JoinRetried": 1}


def test_join_that_keeps_failing_is_given_up_after_max_attempts(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a joined instance whose joins always fail (default MAX_COMMAND_ATTEMPTS: 3)
    (instance,) = joined(world)

    # WHEN each join's failure event arrives in turn
    responses = [world.run([join_failed(world, instance)]) for _ in range(3)]

    # THEN the join was sent three times in all, and not after the third failure
    assert responses == [{"batchItemFailures": []}] * 3
    assert len(join_commands(world)) == 3
    # AND the ledger says JOIN_FAILED, keeping the last command and the attempt count
    record = world.ledger()[instance]
    assert record["status"] == "JOIN_FAILED" and record["attempts"] == 3
    assert record["joinCommandId"] == join_commands(world)[-1]["CommandId"]
    # AND it was logged as an error and counted
    out = capsys.readouterr().out
    assert emitted_metrics(out)["JoinFailed"] == 1 and emitted_metrics(out)["JoinRetried"] == 2
    (error,) = [j for j in stdout_json(out) if j.get("message") == "join failed"]
    assert error["level"] == "ERROR" and error["instance_id"] == instance and error["attempts"] == 3


def test_max_command_attempts_comes_from_the_environment(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN MAX_COMMAND_ATTEMPTS=1, and a joined instance whose join failed
    monkeypatch.setenv(contract.ENV_MAX_COMMAND_ATTEMPTS, "1")
    monkeypatch.setattr(
        app_module,
        "_app",
        app_module.build_app(FakeContext(), client_factory=world.handler_client_factory, clock=world.clock),
    )
    (instance,) = joined(world)

    # WHEN the failure event arrives
    world.run([join_failed(world, instance)])

    # THEN it is given up at once
    assert len(join_commands(world)) == 1
    assert world.ledger()[instance]["status"] == "JOIN_FAILED"
    assert emitted_metrics(capsys.readouterr().out)["JoinFailed"] == 1


def test_failure_of_a_superseded_join_command_is_ignored(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a joined instance whose first join failed and was sent again
    (instance,) = joined(world)
    stale = join_failed(world, instance)
    world.run([stale])
    before = world.ledger()[instance]
    capsys.readouterr()

    # WHEN the first command's failure event comes again (a duplicate delivery)
    response = world.run([stale])

    # THEN nothing is sent and the ledger is untouched; the message is done
    assert response == {"batchItemFailures": []}
    assert len(join_commands(world)) == 2
    assert world.ledger()[instance] == before
    out = capsys.readouterr().out
    assert emitted_metrics(out) == {"StaleCommandStatus": 1}
    (line,) = [j for j in stdout_json(out) if j.get("outcome") == "StaleCommandStatus"]
    assert before["joinCommandId"] in line["detail"]


def test_success_status_is_logged_and_done(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a joined instance
    (instance,) = joined(world)
    before = world.ledger()[instance]
    capsys.readouterr()

    # WHEN a status event that is no failure arrives (not routed, but possible)
    response = world.run([join_failed(world, instance, status="Success")])

    # THEN it is not an error: logged, counted, nothing sent, nothing retried or dead-lettered
    assert response == {"batchItemFailures": []}
    assert len(join_commands(world)) == 1 and world.ledger()[instance] == before
    assert world.dead_letters() == []
    assert emitted_metrics(capsys.readouterr().out) == {"CommandStatusIgnored": 1}


def test_failed_rejoin_that_could_not_be_recorded_is_redone_by_the_retry(world: World) -> None:
    # GIVEN a failed join, whose resend is sent but whose final ledger write fails
    (instance,) = joined(world)
    world.inject("BatchWriteItem", "InternalServerError", status=500, times=1)
    event = world.deliver([join_failed(world, instance)])

    # WHEN the failure event is handled, fails, and comes back
    first = world.invoke(event)
    world.let_time_pass(event)
    second = world.invoke(world.receive())

    # THEN the retry carries on under its own claim and records its join as the second attempt
    assert len(first["batchItemFailures"]) == 1 and second == {"batchItemFailures": []}
    joins = join_commands(world)
    assert len(joins) == 3
    record = world.ledger()[instance]
    assert (record["status"], record["joinCommandId"], record["attempts"]) == (
        "JOIN_SENT",
        joins[-1]["CommandId"],
        2,
    )


def test_instance_whose_join_was_given_up_is_joined_again_on_restart(
    world: World,
) -> None:
    # GIVEN an instance given up as JOIN_FAILED (three failures, the default maximum)
    (instance,) = joined(world)
    for _ in range(3):
        world.run([join_failed(world, instance)])
    assert world.ledger()[instance]["status"] == "JOIN_FAILED"

    # WHEN it is restarted (a running event)
    world.run([eventbridge_body(SPOKE_A, REGION, instance)])

    # THEN it is joined afresh, counting from one
    record = world.ledger()[instance]
    assert (record["status"], record["attempts"]) == ("JOIN_SENT", 1)
    assert len(join_commands(world)) == 4


def test_terminated_instance_whose_join_was_given_up_is_still_removed(world: World) -> None:
    # GIVEN an instance given up as JOIN_FAILED (its prestaged object may exist)
    (instance,) = joined(world)
    world.put_ledger(
        instance,
        SPOKE_A,
        REGION,
        status="JOIN_FAILED",
        attempts=3,
        computerName=world.ledger()[instance]["computerName"],
    )

    # WHEN it terminates
    world.terminate(SPOKE_A, REGION, [instance])
    response = world.run([eventbridge_body(SPOKE_A, REGION, instance, "terminated")])

    # THEN its computer object is removed
    assert response == {"batchItemFailures": []}
    (remove,) = tools_commands(world, contract.REMOVE_DOCUMENT)
    assert world.ledger()[instance]["status"] == "REMOVE_SENT"
    assert remove["Params"][contract.TOOLS_PARAM_COMPUTERS].startswith(
        world.ledger()[instance]["computerName"]
    )


# --- removals -----------------------------------------------------------------------


def test_remove_records_which_instances_its_command_was_for_in_the_same_write(world: World) -> None:
    # GIVEN two joined instances
    ids = joined(world, count=2)
    world.calls.clear()

    # WHEN they terminate together
    command_id = removed(world, ids)

    # THEN the ledger holds a command item listing both, with a TTL, written by the one final BatchWriteItem
    item = world.ledger()[f"command#{command_id}"]
    assert sorted(item["instances"]) == sorted(ids)
    assert item["document"] == contract.REMOVE_DOCUMENT and item["expiresAt"] > world.clock()
    (write,) = world.calls_of("BatchWriteItem")
    (requests,) = write.params["RequestItems"].values()
    assert len(requests) == 3


@pytest.mark.parametrize("form", ["eventbridge", "sns", "raw"])
def test_failed_remove_is_sent_again_for_its_computers(
    world: World, form: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN two terminated instances whose one remove command failed on the tools host
    ids = joined(world, count=2)
    command_id = removed(world, ids)
    (first_remove,) = tools_commands(world, contract.REMOVE_DOCUMENT)
    capsys.readouterr()

    # WHEN SSM's failure event (naming the tools host) arrives
    response = world.run([remove_failed(world, command_id, form)])

    # THEN one new remove names the same computers, and the ledger records it as the second attempt
    assert response == {"batchItemFailures": []}
    removes = tools_commands(world, contract.REMOVE_DOCUMENT)
    assert len(removes) == 2 and removes[1]["InstanceIds"] == [world.tools_host_id]
    resent = removes[1]["Params"][contract.TOOLS_PARAM_COMPUTERS].split()
    assert sorted(resent) == sorted(first_remove["Params"][contract.TOOLS_PARAM_COMPUTERS].split())
    ledger = world.ledger()
    for instance in ids:
        record = ledger[instance]
        assert (record["status"], record["removeCommandId"], record["attempts"]) == (
            "REMOVE_SENT",
            removes[1]["CommandId"],
            2,
        )
    assert sorted(ledger[f"command#{removes[1]['CommandId']}"]["instances"]) == sorted(ids)
    # AND the event is counted once as a retried remove
    assert emitted_metrics(capsys.readouterr().out) == {"RemoveRetried": 1}


def test_remove_that_keeps_failing_is_given_up_after_max_attempts(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a terminated instance whose removes always fail
    (instance,) = joined(world)
    removed(world, [instance])

    # WHEN each remove's failure event arrives in turn
    for _ in range(3):
        world.run([remove_failed(world, str(world.ledger()[instance]["removeCommandId"]))])

    # THEN three removes were sent in all, and the ledger says REMOVE_FAILED
    assert len(tools_commands(world, contract.REMOVE_DOCUMENT)) == 3
    record = world.ledger()[instance]
    assert (record["status"], record["attempts"]) == ("REMOVE_FAILED", 3)
    # AND it was logged as an error and counted
    out = capsys.readouterr().out
    assert emitted_metrics(out)["RemoveFailed"] == 1
    (error,) = [j for j in stdout_json(out) if j.get("message") == "remove failed"]
    assert error["level"] == "ERROR" and error["instance_id"] == instance


def test_remove_failure_of_an_unknown_command_is_ignored(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN no remove was ever recorded for this command
    world.put_config(SPOKE_A)

    # WHEN its failure event arrives
    response = world.run([remove_failed(world, "0b4c6c1e-1111-4222-8333-944445555666")])

    # THEN nothing is sent and the message is done
    assert response == {"batchItemFailures": []}
    assert tools_commands(world, contract.REMOVE_DOCUMENT) == []
    assert emitted_metrics(capsys.readouterr().out) == {"StaleCommandStatus": 1}


def test_failed_prestage_is_left_to_its_join(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a joined instance whose prestage then failed on the tools host
    (instance,) = joined(world)
    prestage_id = world.ledger()[instance]["prestageCommandId"]
    capsys.readouterr()

    # WHEN the prestage's failure event arrives
    event = command_status(
        HUB_ACCOUNT, HOME_REGION, prestage_id, contract.PRESTAGE_DOCUMENT, world.tools_host_id
    )
    response = world.run([json.dumps(event)])

    # THEN nothing is sent: the join, finding no prestaged account, fails and is sent again by its own event
    assert response == {"batchItemFailures": []}
    assert len(join_commands(world)) == 1
    assert emitted_metrics(capsys.readouterr().out) == {"CommandStatusIgnored": 1}


MALFORMED_STATUS_EVENTS = {
    "other document": ({"document-name": "AWS-RunShellScript"}, "status event of another document"),
    "no command id": ({"command-id": None}, "event lacks command-id"),
    "bad instance id": ({"instance-id": "mi-0123"}, "invalid instance-id"),
    "no status": ({"status": ""}, "event lacks status"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_STATUS_EVENTS))
def test_other_ssm_shapes_are_malformed(world: World, case: str) -> None:
    # GIVEN a Run Command status event that is not one of ours, or lacks a field
    changes, reason = MALFORMED_STATUS_EVENTS[case]
    event = command_status(
        SPOKE_A, REGION, "0b4c6c1e-1111-4222-8333-944445555666", contract.JOIN_DOCUMENT, "i-0123456789abcdef0"
    )
    event["detail"] = {k: v for k, v in {**event["detail"], **changes}.items() if v is not None}

    # WHEN it is handled
    response = world.run([json.dumps(event)])

    # THEN it goes to the DLQ with its reason
    assert response == {"batchItemFailures": []}
    (dead,) = world.dead_letters()
    assert dead["MessageAttributes"]["reason"]["StringValue"] == "Malformed"
    assert reason in json.loads(dead["Body"])["reason"]


def test_other_ssm_detail_type_is_malformed(world: World) -> None:
    event = command_status(
        SPOKE_A, REGION, "0b4c6c1e-1111-4222-8333-944445555666", contract.JOIN_DOCUMENT, "i-0123456789abcdef0"
    )
    event["detail-type"] = "Parameter Store Change"
    assert world.run([json.dumps(event)]) == {"batchItemFailures": []}
    (dead,) = world.dead_letters()
    assert "not a Run Command status event" in json.loads(dead["Body"])["reason"]


def test_two_failure_events_of_one_join_in_a_batch_send_it_again_once(world: World) -> None:
    # GIVEN a joined instance, and two status events of its one join command (Failed, then Cancelled)
    (instance,) = joined(world)
    bodies = [join_failed(world, instance, status=s) for s in ("Failed", "Cancelled")]

    # WHEN both arrive in one batch
    response = world.run(bodies)

    # THEN the join is sent again once, as the second attempt; the other event is stale
    assert response == {"batchItemFailures": []}
    assert len(join_commands(world)) == 2
    assert world.ledger()[instance]["attempts"] == 2


def test_resend_claim_expressions_use_exactly_their_names_and_values(world: World) -> None:
    # GIVEN a failed join sent again, then a failed remove sent again (both kinds of resend claim)
    (instance,) = joined(world)
    world.run([join_failed(world, instance)])
    command_id = removed(world, [instance])
    world.run([remove_failed(world, command_id)])

    # THEN every claim's placeholders match its names and values one for one (DynamoDB refuses unused ones)
    puts = [a["Put"] for call in world.calls_of("TransactWriteItems") for a in call.params["TransactItems"]]
    resends = [p for p in puts if "#command" in p["ExpressionAttributeNames"]]
    assert sorted(p["Item"]["status"]["S"] for p in resends) == ["JOINING", "REMOVING"]
    for put in puts:
        expression = put["ConditionExpression"]
        assert set(re.findall(r"#\w+", expression)) == set(put["ExpressionAttributeNames"])
        assert set(re.findall(r":\w+", expression)) == set(put["ExpressionAttributeValues"])


def test_resend_claim_is_refused_when_the_record_moved_on_meanwhile(world: World) -> None:
    # GIVEN a failed join, and another container that records a newer join just before this one claims
    (instance,) = joined(world)
    body = join_failed(world, instance)
    newer = "5d1e7c2a-0000-4000-8000-000000000001"
    world.before(
        "TransactWriteItems",
        lambda: world.put_ledger(
            instance, SPOKE_A, REGION, status="JOIN_SENT", joinCommandId=newer, attempts=2
        ),
    )

    # WHEN the failure event is handled
    response = world.run([body])

    # THEN the claim's condition refuses it: nothing is sent, the newer record stays
    assert response == {"batchItemFailures": []}
    assert len(join_commands(world)) == 1
    assert world.ledger()[instance]["joinCommandId"] == newer
