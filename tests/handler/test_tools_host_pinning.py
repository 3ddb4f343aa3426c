"""A tools host that cannot be impersonated: the tag alone never makes an instance the tools host.

Pure decision (``decisions.decide_tools_host``) first, then the handler under moto: an instance that carries
the tools-host tag but another instance profile (an "impostor") never receives a command.

Stubbed (moto lacks it): ssm DescribeInstanceInformation (harness.py answers it from moto's instances).
"""

from __future__ import annotations

import pytest

from handlers.domain_join import contract
from handlers.domain_join.decisions import (
    ToolsHostCandidate,
    ToolsHostChoice,
    ToolsHostPin,
    decide_tools_host,
)

from .harness import (
    HOME_REGION,
    HUB_ACCOUNT,
    SPOKE_A,
    TOOLS_TAG_KEY,
    TOOLS_TAG_VALUE,
    FakeContext,
    World,
    app_module,
    emitted_metrics,
    eventbridge_body,
    stdout_json,
)

PROFILE = "arn:aws:iam::123456789012:instance-profile/domain-join-tools-host"
OTHER_PROFILE = "arn:aws:iam::123456789012:instance-profile/web-server"
HOST = "i-0bbbbbbbbbbbbbbbb"
IMPOSTOR = "i-0aaaaaaaaaaaaaaaa"  # sorts first: taking the first tagged instance would take it


# --- the pure decision ----------------------------------------------------------------------------------
def test_an_instance_with_the_tag_but_another_profile_is_refused_and_the_pinned_one_chosen() -> None:
    # GIVEN the real host and an impostor (tagged, Online, another profile) that sorts before it
    candidates = [ToolsHostCandidate(IMPOSTOR, OTHER_PROFILE, True), ToolsHostCandidate(HOST, PROFILE, True)]

    # WHEN the tools host is decided with the profile pinned
    choice = decide_tools_host(candidates, ToolsHostPin(instance_profile_arn=PROFILE))

    # THEN the real host is chosen, the impostor refused, and nothing is ambiguous
    assert (choice.instance_id, choice.refused, choice.ambiguous) == (HOST, (IMPOSTOR,), False)


def test_only_an_impostor_gives_no_host_and_a_reason_naming_it() -> None:
    choice = decide_tools_host(
        [ToolsHostCandidate(IMPOSTOR, OTHER_PROFILE, True)], ToolsHostPin(instance_profile_arn=PROFILE)
    )
    assert choice.instance_id == ""
    assert PROFILE in choice.reason and IMPOSTOR in choice.reason


def test_an_instance_without_a_profile_is_refused() -> None:
    choice = decide_tools_host(
        [ToolsHostCandidate(HOST, "", True)], ToolsHostPin(instance_profile_arn=PROFILE)
    )
    assert choice.instance_id == "" and choice.refused == (HOST,)


def test_no_pin_refuses_every_instance_with_a_reason_naming_the_settings() -> None:
    # GIVEN neither a profile ARN nor an instance id is configured (the secure default)
    choice = decide_tools_host([ToolsHostCandidate(HOST, PROFILE, True)], ToolsHostPin())

    # THEN no instance qualifies, and the reason says what to set
    assert choice.instance_id == ""
    assert contract.ENV_TOOLS_HOST_INSTANCE_PROFILE_ARN in choice.reason
    assert contract.ENV_TOOLS_HOST_INSTANCE_ID in choice.reason


def test_a_pinned_instance_id_qualifies_whatever_its_profile() -> None:
    choice = decide_tools_host(
        [ToolsHostCandidate(IMPOSTOR, OTHER_PROFILE, True), ToolsHostCandidate(HOST, "", True)],
        ToolsHostPin(instance_id=HOST),
    )
    assert (choice.instance_id, choice.refused) == (HOST, (IMPOSTOR,))


def test_a_qualified_host_that_is_not_online_gives_no_host() -> None:
    choice = decide_tools_host(
        [ToolsHostCandidate(HOST, PROFILE, False), ToolsHostCandidate(IMPOSTOR, OTHER_PROFILE, True)],
        ToolsHostPin(instance_profile_arn=PROFILE),
    )
    assert choice.instance_id == "" and "not Online" in choice.reason and HOST in choice.reason


@pytest.mark.parametrize(
    ("pin", "chosen"),
    [
        (ToolsHostPin(instance_profile_arn=PROFILE), IMPOSTOR),  # the lowest id of the qualified
        (ToolsHostPin(instance_profile_arn=PROFILE, instance_id=HOST), HOST),  # the pinned id wins
    ],
)
def test_several_qualified_hosts_are_ambiguous_and_the_choice_is_deterministic(
    pin: ToolsHostPin, chosen: str
) -> None:
    # GIVEN two Online instances with the pinned profile, in either order
    first = [ToolsHostCandidate(HOST, PROFILE, True), ToolsHostCandidate(IMPOSTOR, PROFILE, True)]

    # WHEN decided in both orders
    choices = {decide_tools_host(order, pin) for order in (first, first[::-1])}

    # THEN the same host is chosen, and the choice says it was ambiguous and names both
    (choice,) = choices
    assert isinstance(choice, ToolsHostChoice) and choice.instance_id == chosen and choice.ambiguous
    assert set(choice.qualified_online) == {HOST, IMPOSTOR} and chosen in choice.reason


@pytest.mark.parametrize(
    ("pin", "wrong"),
    [
        (ToolsHostPin(instance_profile_arn="arn:aws:iam::123456789012:role/x"), "PROFILE_ARN"),
        (ToolsHostPin(instance_id="host-1"), "INSTANCE_ID"),
    ],
)
def test_a_malformed_pin_refuses_with_the_setting_named(pin: ToolsHostPin, wrong: str) -> None:
    choice = decide_tools_host([ToolsHostCandidate(HOST, PROFILE, True)], pin)
    assert choice.instance_id == "" and wrong in choice.reason


# --- the handler under moto ---------------------------------------------------------------------------------
def _impostor_before(world: World, profile_arn: str | None) -> str:
    """A tagged, running, Online instance in the hub whose id sorts before the real tools host's.

    Deterministic: two fresh tagged instances replace the harness's host; the higher id gets the pinned
    profile and becomes the real host, the lower one gets ``profile_arn`` (None: no profile).
    """
    ec2 = world.client("ec2", HUB_ACCOUNT)
    low, high = sorted(world.launch(HUB_ACCOUNT, count=2, tags={TOOLS_TAG_KEY: TOOLS_TAG_VALUE}))
    world.terminate(HUB_ACCOUNT, HOME_REGION, [world.tools_host_id])
    ec2.associate_iam_instance_profile(
        IamInstanceProfile={"Arn": world.tools_host_profile_arn}, InstanceId=high
    )
    world.tools_host_id = high
    if profile_arn:
        ec2.associate_iam_instance_profile(IamInstanceProfile={"Arn": profile_arn}, InstanceId=low)
    return low


def _rebuild_app(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The handler again, with the environment as the test changed it."""
    monkeypatch.setattr(
        app_module,
        "_app",
        app_module.build_app(FakeContext(), client_factory=world.handler_client_factory, clock=world.clock),
    )


def _tools_targets(world: World) -> set[str]:
    return {
        i
        for c in world.calls_of("SendCommand")
        if c.params["DocumentName"] != contract.JOIN_DOCUMENT
        for i in c.params["InstanceIds"]
    }


def test_a_tagged_instance_with_another_profile_never_receives_a_command(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an impostor: tagged, running, Online, another instance profile, and an id before the real host's
    # (the real one, world.tools_host_id: tagged, with the pinned profile; see harness.py)
    impostor = _impostor_before(world, world.instance_profile("web-server"))
    world.put_config(SPOKE_A)
    (instance,) = world.launch(SPOKE_A)

    # WHEN an instance starts, then terminates
    world.run([eventbridge_body(SPOKE_A, HOME_REGION, instance)])
    world.run([eventbridge_body(SPOKE_A, HOME_REGION, instance, "terminated")])

    # THEN the prestage and the remove went to the real tools host only, and the impostor was logged
    assert _tools_targets(world) == {world.tools_host_id}
    assert {c.params["DocumentName"] for c in world.calls_of("SendCommand")} == {
        contract.PRESTAGE_DOCUMENT,
        contract.JOIN_DOCUMENT,
        contract.REMOVE_DOCUMENT,
    }
    refusals = [
        line
        for line in stdout_json(capsys.readouterr().out)
        if "refused as tools host" in line.get("message", "")
    ]
    assert refusals and refusals[0]["refused"] == [impostor]


def test_only_an_impostor_means_tools_host_unavailable_and_no_command(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the real tools host is gone; an instance with the tag but without the pinned profile remains
    world.terminate(HUB_ACCOUNT, HOME_REGION, [world.tools_host_id])
    (impostor,) = world.launch(HUB_ACCOUNT, tags={TOOLS_TAG_KEY: TOOLS_TAG_VALUE})
    world.put_config(SPOKE_A)
    (instance,) = world.launch(SPOKE_A)

    # WHEN an instance starts
    response = world.run([eventbridge_body(SPOKE_A, HOME_REGION, instance)])

    # THEN the record is retried as ToolsHostUnavailable, naming the impostor, and no command is sent
    assert len(response["batchItemFailures"]) == 1
    assert world.calls_of("SendCommand") == []
    out = capsys.readouterr().out
    assert emitted_metrics(out).get("ToolsHostUnavailable") == 1
    outcomes = [line for line in stdout_json(out) if line.get("outcome") == "ToolsHostUnavailable"]
    assert outcomes and impostor in outcomes[0]["detail"]


def test_without_a_pin_no_tools_host_is_used(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the handler is configured with neither the profile ARN nor an instance id
    monkeypatch.delenv(contract.ENV_TOOLS_HOST_INSTANCE_PROFILE_ARN)
    _rebuild_app(world, monkeypatch)
    world.put_config(SPOKE_A)
    (instance,) = world.launch(SPOKE_A)

    # WHEN an instance starts
    world.run([eventbridge_body(SPOKE_A, HOME_REGION, instance)])

    # THEN nothing is sent, and the reason names the settings to set
    assert world.calls_of("SendCommand") == []
    outcomes = [line for line in stdout_json(capsys.readouterr().out) if line.get("outcome")]
    assert contract.ENV_TOOLS_HOST_INSTANCE_PROFILE_ARN in outcomes[0]["detail"]


def test_a_pinned_instance_id_is_the_tools_host_without_the_profile(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the handler pinned to an instance id only; that instance has no profile, the harness's has one
    (pinned,) = world.launch(HUB_ACCOUNT, tags={TOOLS_TAG_KEY: TOOLS_TAG_VALUE})
    monkeypatch.delenv(contract.ENV_TOOLS_HOST_INSTANCE_PROFILE_ARN)
    monkeypatch.setenv(contract.ENV_TOOLS_HOST_INSTANCE_ID, pinned)
    _rebuild_app(world, monkeypatch)
    world.put_config(SPOKE_A)
    (instance,) = world.launch(SPOKE_A)

    # WHEN an instance starts
    world.run([eventbridge_body(SPOKE_A, HOME_REGION, instance)])

    # THEN the prestage went to the pinned instance alone
    assert _tools_targets(world) == {pinned}


def test_two_hosts_with_the_profile_are_reported_ambiguous(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a second tagged instance with the pinned profile
    second = _impostor_before(world, world.tools_host_profile_arn)
    world.put_config(SPOKE_A)
    (instance,) = world.launch(SPOKE_A)

    # WHEN an instance starts
    world.run([eventbridge_body(SPOKE_A, HOME_REGION, instance)])

    # THEN one of them (the lowest id) prestages, and the ambiguity is a metric and a log line
    assert _tools_targets(world) == {second}
    out = capsys.readouterr().out
    assert emitted_metrics(out).get("ToolsHostAmbiguous") == 1
    (line,) = [j for j in stdout_json(out) if j.get("message") == "tools host ambiguous"]
    assert set(line["qualified"]) == {second, world.tools_host_id} and line["chosen"] == second
