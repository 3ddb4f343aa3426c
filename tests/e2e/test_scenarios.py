"""The whole system, one launch at a time: EC2 event -> buses -> queue -> handler -> Run Command -> Samba AD.

Each scenario asserts on the directory and on the instance (keytab, logins), not only on AWS calls.  The world
(tests/e2e/conftest.py, e2e/world.py) lists what the lab provides where moto falls short.  Scenario 9 of
issue 13 (reconciliation: backfill, orphan removal) is not an e2e scenario yet.  Scenario 10: a sealed join
(the other spoke's directory has `seal_join_passwords`).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from e2e.world import (
    EXTRA_REGION,
    HOME_REGION,
    OTHER_SPOKE_ACCOUNT,
    SECURITY_ACCOUNT,
    SPOKE_ACCOUNT,
    CommandRun,
    Instance,
    World,
    keytab_works,
    pam_login,
    start_sssd,
)
from handlers.domain_join import contract, wire
from handlers.domain_join.naming import computer_name, ownership_stamp
from handlers.domain_join.sealing import instance_arn, join_context
from tests.scripts.adlab import OU_DN

pytestmark = pytest.mark.e2e

JOIN_SECONDS = 180  # the join script waits up to 600 s for its prestage; the lab needs far less


@dataclass
class Joined:
    instance: Instance
    name: str


def runs_of(instance: Instance, document: str) -> list[int]:
    return [run.exit_code for run in instance.runs if run.document == document]


def results_of(run: CommandRun) -> list[dict[str, Any]]:
    """The script's result lines in a command's output (`DOMAIN_JOIN_RESULT {json}`)."""
    prefix = "DOMAIN_JOIN_RESULT "
    return [json.loads(line[len(prefix) :]) for line in run.output.splitlines() if line.startswith(prefix)]


def prestages_of(world: World, name: str) -> int:
    """How many prestage commands the tools host ran that handled the computer (their lists are sealed, so
    the result lines tell)."""
    return sum(
        1
        for run in world.tools_host.runs
        if run.document == contract.PRESTAGE_DOCUMENT
        and any(result.get("computerName") == name for result in results_of(run))
    )


def wait_joined(world: World, instance: Instance) -> Joined:
    """Until the instance's own agent reports the join document succeeded; returns the ledger's name."""
    world.wait_for(
        f"a successful {contract.JOIN_DOCUMENT} on {instance.instance_id}",
        lambda: 0 in runs_of(instance, contract.JOIN_DOCUMENT),
        JOIN_SECONDS,
    )
    return Joined(instance, str(world.ledger(instance.instance_id)["computerName"]))


LATE_AGENT_SECONDS = 30  # scenario 5; the lab's readiness deadline is 90 s, the first retry comes after 60 s


@pytest.fixture(scope="module")
def late_agent(world: World) -> Instance:
    """Scenario 5's launch: its SSM agent registers 30 s after launch.  Launched with scenario 1's instance
    (often in the same batch), so its retry's wait overlaps the other scenarios instead of adding to them."""
    assert world.lab is not None
    return world.launch(
        SPOKE_ACCOUNT,
        HOME_REGION,
        tags={contract.TAG_LOGIN_GROUP: world.lab.login_group},
        agent_delay=LATE_AGENT_SECONDS,
    )


@pytest.fixture(scope="module")
def joined(world: World, late_agent: Instance) -> Joined:
    """Scenario 1's launch: a Linux instance in a spoke's home Region, tagged with the login group."""
    assert world.lab is not None
    instance = world.launch(
        SPOKE_ACCOUNT, HOME_REGION, tags={contract.TAG_LOGIN_GROUP: world.lab.login_group}
    )
    return wait_joined(world, instance)


def test_1_a_launched_linux_instance_is_joined_in_its_ou_with_our_stamp(world: World, joined: Joined) -> None:
    # GIVEN an instance launched in a spoke (the `joined` fixture); THEN its computer object is in the OU,
    # named as the handler names it, and stamped with the instance's account, Region and id
    instance = joined.instance
    assert joined.name == computer_name(instance.instance_id)
    computer = world.lab.computer(joined.name)  # type: ignore[union-attr]
    assert computer["dn"] == [f"CN={joined.name},{OU_DN}"]
    assert computer["description"] == [ownership_stamp(SPOKE_ACCOUNT, HOME_REGION, instance.instance_id)]
    assert world.ledger(instance.instance_id)["status"] == "JOIN_SENT"
    # AND the instance holds a working keytab
    kinit = keytab_works(instance.machine, joined.name)
    assert kinit.returncode == 0, kinit.stderr


def test_1_only_members_of_the_tagged_group_may_log_in(world: World, joined: Joined) -> None:
    lab = world.lab
    assert lab is not None
    start_sssd(lab, joined.instance.machine)
    member = pam_login(joined.instance.machine, lab.member, lab.member_password)
    assert member.returncode == 0, member.stderr
    outsider = pam_login(joined.instance.machine, lab.outsider, lab.outsider_password)
    assert outsider.returncode != 0
    assert "Permission denied" in outsider.stderr  # the password was right; the access check refused


def test_2_terminating_the_instance_removes_its_object(world: World, joined: Joined) -> None:
    # WHEN the joined instance is terminated
    world.terminate(joined.instance)
    # THEN the tools host removes its object and the ledger says so
    world.wait_for(
        f"a successful {contract.REMOVE_DOCUMENT} on the tools host",
        lambda: 0 in runs_of(world.tools_host, contract.REMOVE_DOCUMENT),
        JOIN_SECONDS,
    )
    assert world.lab.computer(joined.name) == {}  # type: ignore[union-attr]
    assert world.directory_objects_of(joined.instance.instance_id) == {}
    assert world.ledger(joined.instance.instance_id)["status"] == "REMOVE_SENT"


@pytest.mark.parametrize("value", ["False", "fALSE"])
def test_3_an_opted_out_instance_leaves_the_directory_alone(world: World, value: str) -> None:
    # GIVEN an instance tagged autoadjoin=False (any case)
    assert world.lab is not None
    since = time.time()
    instance = world.launch(
        OTHER_SPOKE_ACCOUNT,
        HOME_REGION,
        tags={contract.TAG_OPT_OUT: value, contract.TAG_LOGIN_GROUP: world.lab.login_group},
    )
    # WHEN the handler has taken its running event (and let it go: no retry)
    world.wait_for(
        "the running event to be handled", lambda: world.handled(instance.instance_id, "running", since)
    )
    # THEN nothing reached the directory, the tools host or the instance
    time.sleep(2)  # a command sent by mistake would be picked up by now
    assert world.directory_objects_of(instance.instance_id) == {}
    assert world.lab.computer(computer_name(instance.instance_id)) == {}
    assert world.ledger(instance.instance_id) == {}
    assert instance.runs == []


@pytest.fixture(scope="module")
def joined_in_extra_region(world: World) -> Joined:
    """Scenario 8's launch: the spoke's extra Region, whose events hop to the home Region through SNS."""
    assert world.lab is not None
    since = time.time()
    instance = world.launch(
        SPOKE_ACCOUNT, EXTRA_REGION, tags={contract.TAG_LOGIN_GROUP: world.lab.login_group}
    )
    assert world.timeline.first("eventbridge", "SNS topic", since) is not None
    return wait_joined(world, instance)


def test_8_an_instance_in_the_extra_region_joins_through_the_sns_hop(
    world: World, joined_in_extra_region: Joined
) -> None:
    instance = joined_in_extra_region.instance
    computer = world.lab.computer(joined_in_extra_region.name)  # type: ignore[union-attr]
    assert computer["description"] == [ownership_stamp(SPOKE_ACCOUNT, EXTRA_REGION, instance.instance_id)]
    assert world.ledger(instance.instance_id)["region"] == EXTRA_REGION
    kinit = keytab_works(instance.machine, joined_in_extra_region.name)
    assert kinit.returncode == 0, kinit.stderr


def test_4_stop_and_start_does_not_join_again(world: World, joined_in_extra_region: Joined) -> None:
    # GIVEN a joined instance and its object
    instance, name = joined_in_extra_region.instance, joined_in_extra_region.name
    before = world.lab.computer(name)  # type: ignore[union-attr]
    prestages = prestages_of(world, name)
    # WHEN it is stopped and started again
    world.stop(instance)
    since = time.time()
    world.start_again(instance)
    world.wait_for(
        "the second running event to be handled",
        lambda: world.handled(instance.instance_id, "running", since),
    )
    time.sleep(2)
    # THEN no command was sent again and the object is untouched
    assert runs_of(instance, contract.JOIN_DOCUMENT) == [0]
    assert prestages_of(world, name) == prestages == 1
    after = world.lab.computer(name)  # type: ignore[union-attr]
    assert (after["dn"], after["uSNChanged"], after["pwdLastSet"]) == (
        before["dn"],
        before["uSNChanged"],
        before["pwdLastSet"],
    )
    assert keytab_works(instance.machine, name).returncode == 0


def test_5_an_instance_whose_agent_comes_online_late_is_joined_after_the_retry(
    world: World, late_agent: Instance
) -> None:
    # GIVEN an instance whose SSM agent registers 30 s after launch (the lab's readiness deadline is 90 s)
    assert world.lab is not None
    instance = late_agent
    # WHEN the handler meets it before and after that
    joined = wait_joined(world, instance)
    # THEN the first delivery was handed back (not ready), a later one joined it, and the keytab works
    deliveries = world.deliveries(instance.instance_id, "running")
    assert deliveries[0] is True and deliveries[-1] is False, deliveries
    assert world.ledger(instance.instance_id)["attempts"] == 1
    assert world.lab.computer(joined.name)["dn"] == [f"CN={joined.name},{OU_DN}"]
    assert keytab_works(instance.machine, joined.name).returncode == 0


def test_6_a_short_kerberos_outage_is_waited_out_by_the_join_itself(world: World) -> None:
    # GIVEN the DC's firewall refuses the new instance's Kerberos traffic
    assert world.lab is not None
    instance = world.launch(
        SPOKE_ACCOUNT, HOME_REGION, tags={contract.TAG_LOGIN_GROUP: world.lab.login_group}
    )
    world.block_kerberos(world.address_of(instance.machine))
    try:
        # WHEN the join has been refused at least once, and the firewall then opens
        world.wait_for("a refused Kerberos packet", lambda: world.kerberos_refusals() > 0, JOIN_SECONDS)
    finally:
        world.open_firewall()
    # THEN the same join command carries on and joins (the script retries an unreachable DC for 600 s)
    joined = wait_joined(world, instance)
    assert runs_of(instance, contract.JOIN_DOCUMENT) == [0]
    assert world.ledger(instance.instance_id)["attempts"] == 1
    assert keytab_works(instance.machine, joined.name).returncode == 0


def test_6_a_rejected_join_comes_back_as_a_failure_event_and_is_sent_again(world: World) -> None:
    # GIVEN a new instance held off the KDC by the DC's firewall until its account is prestaged, and the
    # account's password then reset (what a duplicate prestage leaves: the join's one-time password is stale)
    assert world.lab is not None
    instance = world.launch(
        SPOKE_ACCOUNT, HOME_REGION, tags={contract.TAG_LOGIN_GROUP: world.lab.login_group}
    )
    world.block_kerberos(world.address_of(instance.machine))
    name = computer_name(instance.instance_id)
    try:
        world.wait_for(f"{name} prestaged", lambda: world.lab.computer(name) != {}, JOIN_SECONDS)  # type: ignore[union-attr]
        world.wait_for("the join's first try", lambda: world.kerberos_refusals() > 0, JOIN_SECONDS)
        world.reset_computer_password(name)
    finally:
        world.open_firewall()
    # WHEN the join is rejected, SSM's failure event travels back, and the handler sends the join again
    world.wait_for("a second join", lambda: len(runs_of(instance, contract.JOIN_DOCUMENT)) >= 2, JOIN_SECONDS)
    # THEN the first join failed, the second (after a fresh prestage) joined; the ledger counts two attempts
    outputs = [run.output[-1500:] for run in instance.runs]
    assert runs_of(instance, contract.JOIN_DOCUMENT)[0] != 0, outputs
    assert runs_of(instance, contract.JOIN_DOCUMENT)[-1] == 0, outputs
    ledger = world.ledger(instance.instance_id)
    assert (ledger["status"], ledger["attempts"]) == ("JOIN_SENT", 2)
    assert world.lab.computer(name)["description"] == [
        ownership_stamp(SPOKE_ACCOUNT, HOME_REGION, instance.instance_id)
    ]
    assert keytab_works(instance.machine, name).returncode == 0


def test_10_a_sealed_join_password_is_opened_by_its_instance_alone(world: World) -> None:
    # GIVEN the other spoke's directory seals join passwords, and an instance launched there whose instance
    # role attaches the spoke stack's unseal policy (its AWS CLI acts with that role)
    assert world.lab is not None
    instance = world.launch(
        OTHER_SPOKE_ACCOUNT,
        HOME_REGION,
        tags={contract.TAG_LOGIN_GROUP: world.lab.login_group},
        instance_role=True,
    )
    # WHEN it has been joined
    joined = wait_joined(world, instance)
    # THEN its join command, as SSM keeps it, carries the hub key and the one-time password sealed for it
    key = world.function.attributes["environment"]["variables"][contract.ENV_SEALING_KEY_ARN]
    commands = world.moto.client("ssm", OTHER_SPOKE_ACCOUNT, HOME_REGION).list_commands(
        InstanceId=instance.instance_id
    )["Commands"]
    (command,) = [c for c in commands if c["DocumentName"] == contract.JOIN_DOCUMENT]
    assert command["Parameters"][contract.PARAM_SEALING_KEY] == [key]
    (entry,) = wire.decode_sealed_join(command["Parameters"][contract.JOIN_PARAM_COMPUTERS][0])
    assert (entry.instance_id, entry.computer_name) == (instance.instance_id, joined.name)
    # AND it opens only under that instance's own ARN, to a password found in no command, output or log
    own = instance_arn("aws", HOME_REGION, OTHER_SPOKE_ACCOUNT, instance.instance_id)
    otp = world.unseal(entry.sealed_otp, join_context(own))
    assert re.fullmatch(wire.OTP, otp)
    with pytest.raises(ClientError, match="InvalidCiphertext"):
        world.unseal(entry.sealed_otp, join_context(own.replace(instance.instance_id, "i-0123456789abcdef0")))
    tools_commands = world.moto.client("ssm", SECURITY_ACCOUNT, HOME_REGION).list_commands(
        InstanceId=world.tools_host.instance_id
    )["Commands"]
    history = json.dumps([commands, tools_commands], default=str)
    outputs = [run.output for run in [*instance.runs, *world.tools_host.runs]]
    assert otp not in history
    assert not any(otp in output for output in outputs)
    assert otp not in world.container.log_path.read_text()
    # AND the join worked: the object is stamped and the instance holds a working keytab
    assert world.lab.computer(joined.name)["description"] == [
        ownership_stamp(OTHER_SPOKE_ACCOUNT, HOME_REGION, instance.instance_id)
    ]
    assert keytab_works(instance.machine, joined.name).returncode == 0


def test_7_with_the_tools_host_down_records_retry_until_the_deadline_then_reach_the_dlq(world: World) -> None:
    # GIVEN the AD tools host's agent is not Online
    assert world.lab is not None
    deadline = int(
        world.function.attributes["environment"]["variables"][contract.ENV_READINESS_DEADLINE_SECONDS]
    )
    world.tools_host_down()
    # The handler caches the tools host for CONFIG_CACHE_TTL_SECONDS: a warm container would still send to it.
    world.recycle_lambda()
    try:
        # WHEN an instance is launched
        instance = world.launch(
            OTHER_SPOKE_ACCOUNT, HOME_REGION, tags={contract.TAG_LOGIN_GROUP: world.lab.login_group}
        )
        message = world.wait_for(
            "a dead letter", lambda: world.dead_letter_for(instance.instance_id), deadline + JOIN_SECONDS
        )
        world.wait_for(
            "the dead-lettering invocation",
            lambda: world.deliveries(instance.instance_id, "running")[-1] is False,
        )
    finally:
        world.tools_host_up()
    # THEN its event was retried until the deadline, then dead-lettered with the reason
    deliveries = world.deliveries(instance.instance_id, "running")
    assert len(deliveries) >= 2 and all(deliveries[:-1]) and deliveries[-1] is False, deliveries
    assert message["MessageAttributes"]["reason"]["StringValue"] == "DeadlineExceeded"
    body = json.loads(message["Body"])
    assert body["reasonCode"] == "DeadlineExceeded"
    assert "ToolsHost" in body["reason"], body["reason"]
    # AND nothing was half-created: no object, no command on the instance, no ledger claim left
    assert world.directory_objects_of(instance.instance_id) == {}
    assert instance.runs == []
    assert world.ledger(instance.instance_id).get("status") in (None, "JOIN_FAILED")
