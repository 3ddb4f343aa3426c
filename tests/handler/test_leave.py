"""Leaving: `terminated` events remove the stamped computer object through the tools host."""

from __future__ import annotations

import time

import pytest

from handlers.domain_join import contract
from handlers.domain_join.naming import computer_name

from .harness import (
    DOMAIN,
    HOME_REGION,
    HUB_ACCOUNT,
    PASSWORD_PARAMETER,
    SPOKE_A,
    SPOKE_B,
    World,
    emitted_metrics,
    eventbridge_body,
    sns_body,
)


def joined(world: World, account: str, region: str, count: int = 1) -> list[str]:
    ids = world.launch(account, region, count=count)
    response = world.run([eventbridge_body(account, region, i) for i in ids])
    assert response["batchItemFailures"] == []
    return ids


def test_terminated_joined_instances_are_removed_in_one_command(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN joined instances in two accounts and Regions
    world.put_config(SPOKE_A)
    world.put_config(SPOKE_B)
    a = joined(world, SPOKE_A, "eu-west-1", count=2)
    b = joined(world, SPOKE_B, HOME_REGION)
    capsys.readouterr()
    world.calls.clear()

    # WHEN they terminate (events in both body forms)
    world.terminate(SPOKE_A, "eu-west-1", a)
    world.terminate(SPOKE_B, HOME_REGION, b)
    bodies = [sns_body(SPOKE_A, "eu-west-1", i, "terminated") for i in a]
    bodies.append(eventbridge_body(SPOKE_B, HOME_REGION, b[0], "terminated"))
    response = world.run(bodies)

    # THEN one remove command on the tools host names each computer with its ownership stamp
    assert response["batchItemFailures"] == []
    removes = [c for c in world.commands() if c["DocumentName"] == contract.REMOVE_DOCUMENT]
    assert len(removes) == 1
    (remove,) = removes
    assert remove["InstanceIds"] == [world.tools_host_id]
    assert remove["Params"][contract.TOOLS_PARAM_DOMAIN] == DOMAIN
    assert remove["Params"][contract.TOOLS_PARAM_JOIN_USER] == "svc-domain-join"
    assert remove["Params"][contract.TOOLS_PARAM_PASSWORD_PARAMETER] == PASSWORD_PARAMETER
    expected = {
        f"{computer_name(i)}={contract.STAMP_PREFIX}{account}/{region}/{i}"
        for account, region, ids in ((SPOKE_A, "eu-west-1", a), (SPOKE_B, HOME_REGION, b))
        for i in ids
    }
    assert set(remove["Params"][contract.TOOLS_PARAM_COMPUTERS].split()) == expected
    # AND the ledger says so, with a TTL so removed records expire
    ledger = world.ledger()
    for instance in a + b:
        assert ledger[instance]["status"] == "REMOVE_SENT"
        assert ledger[instance]["removeCommandId"] == remove["CommandId"]
        assert int(ledger[instance]["expiresAt"]) > time.time() + 7 * 24 * 3600
    assert emitted_metrics(capsys.readouterr().out) == {"RemoveRequested": 3}
    # AND no spoke was touched for a removal
    assert {c.account for c in world.calls} == {HUB_ACCOUNT}


def test_terminated_before_join_is_logged_and_done(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN an instance that terminated before its running event was handled
    world.put_config(SPOKE_A)
    (instance,) = world.launch(SPOKE_A)
    world.terminate(SPOKE_A, HOME_REGION, [instance])

    # WHEN both its running and its terminated events arrive
    response = world.run(
        [
            eventbridge_body(SPOKE_A, HOME_REGION, instance),
            eventbridge_body(SPOKE_A, HOME_REGION, instance, "terminated"),
        ]
    )

    # THEN nothing is sent to anyone, nothing is recorded, both messages are done
    assert response["batchItemFailures"] == []
    assert world.commands() == []
    assert world.commands(SPOKE_A, HOME_REGION) == []
    assert world.ledger() == {}
    out = capsys.readouterr().out
    assert emitted_metrics(out) == {"NotRunning": 1, "NeverJoined": 1}


def test_second_terminated_event_does_not_remove_again(world: World) -> None:
    # GIVEN a joined instance whose removal was already requested
    world.put_config(SPOKE_A)
    (instance,) = joined(world, SPOKE_A, HOME_REGION)
    world.terminate(SPOKE_A, HOME_REGION, [instance])
    world.run([eventbridge_body(SPOKE_A, HOME_REGION, instance, "terminated")])

    # WHEN the terminated event is delivered again
    response = world.run([eventbridge_body(SPOKE_A, HOME_REGION, instance, "terminated")])

    # THEN it is done without a second remove command
    assert response["batchItemFailures"] == []
    removes = [c for c in world.commands() if c["DocumentName"] == contract.REMOVE_DOCUMENT]
    assert len(removes) == 1


def test_removal_still_works_after_the_account_config_is_deleted(world: World) -> None:
    # GIVEN a joined instance whose account was offboarded (config item deleted, cache expired)
    world.put_config(SPOKE_A)
    (instance,) = joined(world, SPOKE_A, HOME_REGION)
    world.client("dynamodb").delete_item(TableName="domain-join-config", Key={"accountId": {"S": SPOKE_A}})
    world.clock.offset += 3600

    # WHEN it terminates
    response = world.run([eventbridge_body(SPOKE_A, HOME_REGION, instance, "terminated")])

    # THEN the ledger's copy of the domain and join user is enough to remove it
    assert response["batchItemFailures"] == []
    (remove,) = [c for c in world.commands() if c["DocumentName"] == contract.REMOVE_DOCUMENT]
    assert remove["Params"][contract.TOOLS_PARAM_PASSWORD_PARAMETER] == PASSWORD_PARAMETER
    assert world.ledger()[instance]["status"] == "REMOVE_SENT"


def test_terminated_event_claiming_another_account_does_not_remove(world: World) -> None:
    # GIVEN an instance joined for SPOKE_A
    world.put_config(SPOKE_A)
    world.put_config(SPOKE_B)
    (instance,) = joined(world, SPOKE_A, HOME_REGION)

    # WHEN a terminated event for the same instance id claims to come from SPOKE_B
    response = world.run([eventbridge_body(SPOKE_B, HOME_REGION, instance, "terminated")])

    # THEN the ledger record of SPOKE_A is not used to remove the computer
    assert response["batchItemFailures"] == []
    assert [c for c in world.commands() if c["DocumentName"] == contract.REMOVE_DOCUMENT] == []
    assert world.ledger()[instance]["status"] == "JOIN_SENT"
