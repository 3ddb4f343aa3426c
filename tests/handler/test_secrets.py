"""The join password and the one-time passwords never leak."""

from __future__ import annotations

import json

import pytest

from handlers.domain_join import contract

from .harness import (
    HOME_REGION,
    HUB_ACCOUNT,
    JOIN_PASSWORD,
    SPOKE_A,
    SPOKE_B,
    World,
    command_status,
    eventbridge_body,
    sns_body,
    sns_wrapped,
)


def test_no_secret_in_commands_logs_metrics_ledger_or_dlq(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the join password as a SecureString in the hub, and a busy day: joins in two accounts
    # (Linux and Windows), a not-ready instance, a throttled spoke, a malformed body, leaves
    world.put_config(SPOKE_A)
    world.put_config(SPOKE_B, installRdsRole=True)
    linux = world.launch(SPOKE_A, "eu-west-1", count=3)
    windows = world.launch(SPOKE_B, windows=True, count=2)
    (late,) = world.launch(SPOKE_A, "eu-west-1")
    world.offline.add(late)
    bodies = [sns_body(SPOKE_A, "eu-west-1", i) for i in [*linux, late]]
    bodies += [eventbridge_body(SPOKE_B, HOME_REGION, i) for i in windows]
    bodies.append('{"detail": "nope"}')
    world.run(bodies)
    world.inject("DescribeInstances", "Throttling", account=SPOKE_B, times=1)
    (throttled,) = world.launch(SPOKE_B)
    world.run([eventbridge_body(SPOKE_B, HOME_REGION, throttled)])
    # a join that failed on the instance is sent again (new OTP), one of them twice more until given up
    (failed,) = windows[:1]
    for _ in range(3):
        join_id = world.ledger()[failed]["joinCommandId"]
        event = command_status(SPOKE_B, HOME_REGION, join_id, contract.JOIN_DOCUMENT, failed)
        world.run([sns_wrapped(event)])
    world.terminate(SPOKE_A, "eu-west-1", linux)
    world.run([sns_body(SPOKE_A, "eu-west-1", i, "terminated") for i in linux])
    world.clock.offset = 4000
    world.offline.clear()
    world.offline.add(late)
    world.run([sns_body(SPOKE_A, "eu-west-1", late)])  # past its deadline: DLQ with reason

    # WHEN everything the handler sent, printed and stored is collected
    sends = world.calls_of("SendCommand")
    assert len(sends) >= 4
    otps = set()
    for call in sends:
        for entry in call.params["Parameters"][contract.JOIN_PARAM_COMPUTERS][0].split():
            fields = entry.split("=")
            if call.params["DocumentName"] == contract.JOIN_DOCUMENT:
                otps.add(fields[2])
            elif call.params["DocumentName"] == contract.PRESTAGE_DOCUMENT:
                otps.add(fields[1])
    assert len(otps) == 7  # one per joined instance, and one per resent join
    printed = capsys.readouterr().out
    stored = json.dumps(list(world.ledger().values()), default=str)
    dead = json.dumps(world.dead_letters())
    assert len(json.loads(dead)) == 2
    other_params = json.dumps(
        [
            {k: v for k, v in c.params.get("Parameters", {}).items() if k != contract.JOIN_PARAM_COMPUTERS}
            if c.operation == "SendCommand"
            else c.params
            for c in world.calls
        ],
        default=str,
    )
    everything_sent = json.dumps([c.params for c in world.calls], default=str)

    # THEN the join password appears nowhere, and was never even read by the handler
    for place in (printed, stored, dead, everything_sent):
        assert JOIN_PASSWORD not in place
    assert not [c for c in world.calls if c.operation in ("GetParameter", "GetParameters")]
    # AND no one-time password appears anywhere but in the Computers parameters
    for otp in otps:
        for place in (printed, stored, dead, other_params):
            assert otp not in place
    # AND the logs did say what happened (so the scan above looked at real output)
    assert "join requested" in printed and "remove requested" in printed and "JoinRequested" in printed
    assert "JoinRetried" in printed and "join failed" in printed
    assert {c.account for c in sends} == {HUB_ACCOUNT, SPOKE_A, SPOKE_B}
