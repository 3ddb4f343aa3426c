"""Joining: `running` events become one prestage on the tools host and grouped joins in the spokes."""

from __future__ import annotations

import json
from typing import Any

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
    FakeContext,
    World,
    app_module,
    emitted_metrics,
    eventbridge_body,
    raw_body,
    sns_body,
)


def computers_of(command: dict[str, Any]) -> list[list[str]]:
    return [entry.split("=") for entry in command["Params"][contract.JOIN_PARAM_COMPUTERS].split()]


def test_eventbridge_sns_and_raw_bodies_all_join(world: World) -> None:
    # GIVEN three instances of one spoke, announced in each of the three body forms
    world.put_config(SPOKE_A)
    ids = world.launch(SPOKE_A, "eu-west-1", count=3)
    bodies = [
        eventbridge_body(SPOKE_A, "eu-west-1", ids[0]),
        sns_body(SPOKE_A, "eu-west-1", ids[1]),
        raw_body(SPOKE_A, "eu-west-1", ids[2]),
    ]

    # WHEN the batch is handled
    response = world.run(bodies)

    # THEN nothing failed, one join command in the spoke's Region names all three instances
    assert response == {"batchItemFailures": []}
    (join,) = world.commands(SPOKE_A, "eu-west-1")
    assert join["DocumentName"] == contract.JOIN_DOCUMENT
    assert sorted(join["InstanceIds"]) == sorted(ids)
    assert sorted(e[0] for e in computers_of(join)) == sorted(ids)
    # AND one prestage command on the tools host in the hub lists the same computers with their stamps
    (prestage,) = world.commands(HUB_ACCOUNT, HOME_REGION)
    assert prestage["DocumentName"] == contract.PRESTAGE_DOCUMENT
    assert prestage["InstanceIds"] == [world.tools_host_id]
    staged = {
        name: (otp, stamp)
        for name, otp, stamp in (e.split("=") for e in prestage["Params"]["Computers"].split())
    }
    for instance_id, name, otp in computers_of(join):
        assert name == computer_name(instance_id)
        assert staged[name] == (otp, f"{contract.STAMP_PREFIX}{SPOKE_A}/eu-west-1/{instance_id}")
    # AND the ledger records each join as sent
    ledger = world.ledger()
    assert {ledger[i]["status"] for i in ids} == {"JOIN_SENT"}
    assert {ledger[i]["joinCommandId"] for i in ids} == {join["CommandId"]}
    assert {ledger[i]["prestageCommandId"] for i in ids} == {prestage["CommandId"]}


def test_join_parameters_come_from_config_and_tags(world: World) -> None:
    # GIVEN a config with an OU, a name prefix, a sudo group and the RDS role, and a tagged instance
    world.put_config(
        SPOKE_A,
        ouPath="OU=Servers,DC=corp,DC=example,DC=com",
        computerNamePrefix="web",
        sudoGroupName="linux-admins",
        installRdsRole=True,
        installPackages=False,
    )
    (instance,) = world.launch(SPOKE_A, tags={contract.TAG_LOGIN_GROUP: "app-team"})

    # WHEN its running event is handled
    world.run([eventbridge_body(SPOKE_A, HOME_REGION, instance)])

    # THEN the join carries the domain, both DNS servers, the login/sudo groups and the RDS flag
    (join,) = world.commands(SPOKE_A, HOME_REGION)
    params = join["Params"]
    assert params[contract.JOIN_PARAM_DOMAIN] == DOMAIN
    assert params[contract.JOIN_PARAM_DNS_IPS] == "10.0.0.10,10.0.1.10"
    assert params[contract.JOIN_PARAM_LOGIN_GROUP] == "app-team"
    assert params[contract.JOIN_PARAM_SUDO_GROUP] == "linux-admins"
    assert params[contract.JOIN_PARAM_INSTALL_RDS] == "true"
    assert (
        params[contract.JOIN_PARAM_INSTALL_PACKAGES] == "false"
    )  # private subnets: the image has the client
    ((_, name, _),) = computers_of(join)
    assert name.startswith("WEB") and len(name) == 15
    # AND the prestage targets the OU with the join user and only the NAME of the password parameter
    (prestage,) = world.commands(HUB_ACCOUNT, HOME_REGION)
    assert prestage["Params"][contract.TOOLS_PARAM_OU] == "OU=Servers,DC=corp,DC=example,DC=com"
    assert prestage["Params"][contract.TOOLS_PARAM_JOIN_USER] == "svc-domain-join"
    assert prestage["Params"][contract.TOOLS_PARAM_PASSWORD_PARAMETER] == PASSWORD_PARAMETER


def test_instances_with_different_login_groups_get_separate_commands(world: World) -> None:
    # GIVEN two instances of one group per login-group tag value
    world.put_config(SPOKE_A)
    red = world.launch(SPOKE_A, count=2, tags={contract.TAG_LOGIN_GROUP: "red"})
    blue = world.launch(SPOKE_A, count=2, tags={contract.TAG_LOGIN_GROUP: "blue"})

    # WHEN they arrive in one batch
    world.run([eventbridge_body(SPOKE_A, HOME_REGION, i) for i in red + blue])

    # THEN one join command per parameter set, and still a single prestage
    joins = world.commands(SPOKE_A, HOME_REGION)
    by_group = {c["Params"][contract.JOIN_PARAM_LOGIN_GROUP]: sorted(c["InstanceIds"]) for c in joins}
    assert by_group == {"red": sorted(red), "blue": sorted(blue)}
    assert len(world.commands(HUB_ACCOUNT, HOME_REGION)) == 1


def test_several_accounts_and_regions_are_reached_through_their_own_roles(world: World) -> None:
    # GIVEN two spoke accounts with instances in two Regions, each with its own execution role
    world.put_config(SPOKE_A)
    world.put_config(SPOKE_B, assumeRoleARN=f"arn:aws:iam::{SPOKE_B}:role/custom-join-role")
    placed = {
        (SPOKE_A, "eu-west-1"): world.launch(SPOKE_A, "eu-west-1", count=2),
        (SPOKE_A, "ap-southeast-2"): world.launch(SPOKE_A, "ap-southeast-2"),
        (SPOKE_B, "eu-west-1"): world.launch(SPOKE_B, "eu-west-1", count=2),
    }
    bodies = [eventbridge_body(a, r, i) for (a, r), ids in placed.items() for i in ids]

    # WHEN one batch carries them all
    response = world.run(bodies)

    # THEN each account/Region got exactly its own instances in a join command sent in that account
    assert response["batchItemFailures"] == []
    for (account, region), ids in placed.items():
        (join,) = world.commands(account, region)
        assert sorted(join["InstanceIds"]) == sorted(ids)
    assert world.commands(HUB_ACCOUNT, "eu-west-1") == []
    # AND each account's role was assumed once, the configured one for SPOKE_B
    assumed = sorted(c.params["RoleArn"] for c in world.calls_of("AssumeRole"))
    assert assumed == [
        f"arn:aws:iam::{SPOKE_A}:role/{contract.DEFAULT_SPOKE_ROLE_NAME}",
        f"arn:aws:iam::{SPOKE_B}:role/custom-join-role",
    ]
    # AND the instances were described and checked in the account they live in, once per group
    describe = sorted(
        (c.account, c.region) for c in world.calls_of("DescribeInstances") if c.account != HUB_ACCOUNT
    )
    assert describe == sorted(placed)
    # AND all five computers were prestaged by a single command
    (prestage,) = world.commands(HUB_ACCOUNT, HOME_REGION)
    assert len(prestage["Params"]["Computers"].split()) == 5


def test_instance_in_the_hub_account_without_a_configured_role_is_joined_through_the_default_role(
    world: World,
) -> None:
    """Least privilege: the hub role itself may never send DomainJoin-Join, not even in its own account."""
    # GIVEN an instance in the handler's own account, whose config names no assumeRoleARN
    world.put_config(HUB_ACCOUNT, assumeRoleARN=None)
    (instance,) = world.launch(HUB_ACCOUNT, "eu-west-1")

    # WHEN its running event is handled
    response = world.run([eventbridge_body(HUB_ACCOUNT, "eu-west-1", instance)])

    # THEN the default execution role of that account was assumed, and the join went through it
    assert response == {"batchItemFailures": []}
    role_arn = f"arn:aws:iam::{HUB_ACCOUNT}:role/{contract.DEFAULT_SPOKE_ROLE_NAME}"
    (assume,) = world.calls_of("AssumeRole")
    assert assume.params["RoleArn"] == role_arn
    (join,) = world.commands(HUB_ACCOUNT, "eu-west-1")
    assert join["InstanceIds"] == [instance]
    (send,) = [c for c in world.calls_of("SendCommand") if c.params["DocumentName"] == contract.JOIN_DOCUMENT]
    assert send.access_key_id == world.issued_access_keys[role_arn]


def test_spoke_role_name_from_the_environment_is_the_default_for_items_without_a_role(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the hub module named the execution role "org-ad-join", and a spoke without assumeRoleARN
    monkeypatch.setenv(contract.ENV_SPOKE_ROLE_NAME, "org-ad-join")
    monkeypatch.setattr(
        app_module,
        "_app",
        app_module.build_app(FakeContext(), client_factory=world.handler_client_factory, clock=world.clock),
    )
    world.put_config(SPOKE_A, assumeRoleARN=None)
    (instance,) = world.launch(SPOKE_A)

    # WHEN its running event is handled
    response = world.run([eventbridge_body(SPOKE_A, HOME_REGION, instance)])

    # THEN that role was assumed in the spoke
    assert response == {"batchItemFailures": []}
    (assume,) = world.calls_of("AssumeRole")
    assert assume.params["RoleArn"] == f"arn:aws:iam::{SPOKE_A}:role/org-ad-join"


def test_instance_in_the_hub_account_with_a_configured_role_is_joined_through_that_role(
    world: World,
) -> None:
    """The security account enrolled like a spoke: the hub role itself may run no DomainJoin-Join."""
    # GIVEN an instance in the handler's own account, whose config names the execution role there
    role_arn = f"arn:aws:iam::{HUB_ACCOUNT}:role/{contract.DEFAULT_SPOKE_ROLE_NAME}"
    world.put_config(HUB_ACCOUNT, assumeRoleARN=role_arn)
    (instance,) = world.launch(HUB_ACCOUNT, "eu-west-1")

    # WHEN its running event is handled
    response = world.run([eventbridge_body(HUB_ACCOUNT, "eu-west-1", instance)])

    # THEN that role was assumed once, and every call in the instance's Region used the assumed session
    assert response == {"batchItemFailures": []}
    (assume,) = world.calls_of("AssumeRole")
    assert assume.params["RoleArn"] == role_arn and assume.access_key_id is None
    session_key = world.issued_access_keys[role_arn]
    in_region = [c for c in world.calls if c.region == "eu-west-1"]
    assert {c.operation for c in in_region} == {
        "DescribeInstances",
        "DescribeInstanceInformation",
        "SendCommand",
    }
    assert {c.access_key_id for c in in_region} == {session_key}
    (join,) = world.commands(HUB_ACCOUNT, "eu-west-1")
    assert join["DocumentName"] == contract.JOIN_DOCUMENT and join["InstanceIds"] == [instance]
    # AND the tools host's prestage still goes with the handler's own credentials
    (prestage,) = [
        c for c in world.calls_of("SendCommand") if c.params["DocumentName"] == contract.PRESTAGE_DOCUMENT
    ]
    assert prestage.access_key_id is None and prestage.params["InstanceIds"] == [world.tools_host_id]


def test_windows_instance_joins_and_is_recorded_as_windows(world: World) -> None:
    # GIVEN a Windows and a Linux instance (moto's Windows AMIs report Platform=windows)
    world.put_config(SPOKE_A, installRdsRole="TRUE")
    (windows,) = world.launch(SPOKE_A, windows=True)
    (linux,) = world.launch(SPOKE_A)

    # WHEN both start
    world.run([eventbridge_body(SPOKE_A, HOME_REGION, i) for i in (windows, linux)])

    # THEN the one join command serves both (the document picks its step by platform)
    (join,) = world.commands(SPOKE_A, HOME_REGION)
    assert sorted(join["InstanceIds"]) == sorted([windows, linux])
    assert join["Params"][contract.JOIN_PARAM_INSTALL_RDS] == "true"
    assert join["Params"][contract.JOIN_PARAM_INSTALL_PACKAGES] == "true"  # not in the item: the default
    ledger = world.ledger()
    assert ledger[windows]["platform"] == "windows"
    assert ledger[linux]["platform"] == "linux"


@pytest.mark.parametrize("value", ["false", "FALSE", "False "])
def test_opt_out_tag_in_any_case_skips_the_instance(
    world: World, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an opted-out instance next to a normal one
    world.put_config(SPOKE_A)
    (opted_out,) = world.launch(SPOKE_A, tags={contract.TAG_OPT_OUT: value})
    (normal,) = world.launch(SPOKE_A)

    # WHEN both start
    response = world.run([eventbridge_body(SPOKE_A, HOME_REGION, i) for i in (opted_out, normal)])

    # THEN only the normal one is joined; the opted-out one is done (no retry) and counted
    assert response["batchItemFailures"] == []
    (join,) = world.commands(SPOKE_A, HOME_REGION)
    assert join["InstanceIds"] == [normal]
    assert opted_out not in world.ledger()
    assert emitted_metrics(capsys.readouterr().out)["OptedOut"] == 1


def test_instance_no_longer_running_is_skipped(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN an instance that terminated while its running event waited in the queue
    world.put_config(SPOKE_A)
    (instance,) = world.launch(SPOKE_A)
    world.terminate(SPOKE_A, HOME_REGION, [instance])

    # WHEN the running event is handled
    response = world.run([eventbridge_body(SPOKE_A, HOME_REGION, instance)])

    # THEN nothing is sent and the record is done
    assert response["batchItemFailures"] == []
    assert world.commands(SPOKE_A, HOME_REGION) == []
    assert world.commands(HUB_ACCOUNT, HOME_REGION) == []
    assert emitted_metrics(capsys.readouterr().out)["NotRunning"] == 1


def test_restart_of_a_joined_instance_is_not_joined_twice(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an instance that was joined
    world.put_config(SPOKE_A)
    (instance,) = world.launch(SPOKE_A)
    world.run([eventbridge_body(SPOKE_A, HOME_REGION, instance)])
    capsys.readouterr()

    # WHEN it is stopped and started again (a new running event)
    client = world.client("ec2", SPOKE_A)
    client.stop_instances(InstanceIds=[instance])
    client.start_instances(InstanceIds=[instance])
    response = world.run([eventbridge_body(SPOKE_A, HOME_REGION, instance)])

    # THEN no second prestage or join is sent, and the event is done
    assert response["batchItemFailures"] == []
    assert len(world.commands(SPOKE_A, HOME_REGION)) == 1
    assert len(world.commands(HUB_ACCOUNT, HOME_REGION)) == 1
    assert emitted_metrics(capsys.readouterr().out) == {"AlreadyJoined": 1}


def test_duplicate_events_in_one_batch_join_once(world: World) -> None:
    # GIVEN the same running event delivered twice (SQS is at-least-once)
    world.put_config(SPOKE_A)
    (instance,) = world.launch(SPOKE_A)
    body = eventbridge_body(SPOKE_A, HOME_REGION, instance)

    # WHEN both copies are in one batch
    response = world.run([body, body])

    # THEN one join, both messages done
    assert response["batchItemFailures"] == []
    (join,) = world.commands(SPOKE_A, HOME_REGION)
    assert len(computers_of(join)) == 1


def test_crash_after_joining_record_is_redone_from_the_ledger(world: World) -> None:
    # GIVEN a join whose join command failed after the prestage (the record then stays JOINING)
    world.put_config(SPOKE_A)
    (instance,) = world.launch(SPOKE_A)
    world.inject("SendCommand", "InternalError", status=500, account=SPOKE_A, times=1)
    event = world.deliver([eventbridge_body(SPOKE_A, HOME_REGION, instance)])
    first = world.invoke(event)
    assert [f["itemIdentifier"] for f in first["batchItemFailures"]] == [event["Records"][0]["messageId"]]
    assert world.ledger()[instance]["status"] == "JOINING"
    assert "leaseExpiresAt" not in world.ledger()[instance]  # the claim was given back

    # WHEN the message comes back
    world.let_time_pass(event)
    second = world.invoke(world.receive())

    # THEN the step is redone: a fresh prestage (new one-time password) and a join, ledger JOIN_SENT
    assert second["batchItemFailures"] == []
    prestages = world.commands(HUB_ACCOUNT, HOME_REGION)
    assert len(prestages) == 2
    otps = [p["Params"]["Computers"].split("=")[1] for p in prestages]
    assert otps[0] != otps[1]
    (join,) = world.commands(SPOKE_A, HOME_REGION)
    assert computers_of(join)[0][2] == otps[1]
    assert world.ledger()[instance]["status"] == "JOIN_SENT"


def test_more_than_fifty_instances_are_split_into_commands_of_fifty(world: World) -> None:
    # GIVEN 60 instances of one group (a batch larger than the usual ESM size)
    world.put_config(SPOKE_A)
    ids = world.launch(SPOKE_A, count=60)

    # WHEN they arrive in one batch
    response = world.run([eventbridge_body(SPOKE_A, HOME_REGION, i) for i in ids])

    # THEN two join commands of 50 and 10, covering each instance once
    assert response["batchItemFailures"] == []
    joins = world.commands(SPOKE_A, HOME_REGION)
    assert sorted(len(c["InstanceIds"]) for c in joins) == [10, 50]
    assert sorted(i for c in joins for i in c["InstanceIds"]) == sorted(ids)
    # AND the prestage is split the same way (the document accepts at most 50 computers)
    prestages = world.commands(HUB_ACCOUNT, HOME_REGION)
    assert sorted(len(c["Params"]["Computers"].split()) for c in prestages) == [10, 50]


def test_login_group_tag_the_document_would_refuse_goes_to_the_dlq(world: World) -> None:
    # GIVEN an instance whose adGroupName tag holds characters no AD group name (nor the document) allows
    world.put_config(SPOKE_A)
    (bad,) = world.launch(SPOKE_A, tags={contract.TAG_LOGIN_GROUP: "admins;rm -rf /"})
    (good,) = world.launch(SPOKE_A, tags={contract.TAG_LOGIN_GROUP: "Domain Users"})

    # WHEN both start
    response = world.run([eventbridge_body(SPOKE_A, HOME_REGION, i) for i in (bad, good)])

    # THEN the good one joins; the bad one is not joined without its login restriction but dead-lettered
    assert response["batchItemFailures"] == []
    (join,) = world.commands(SPOKE_A, HOME_REGION)
    assert join["InstanceIds"] == [good]
    (dead,) = world.dead_letters()
    wrapper = json.loads(dead["Body"])
    assert wrapper["reasonCode"] == "InvalidTag"
    assert contract.TAG_LOGIN_GROUP in wrapper["reason"]
