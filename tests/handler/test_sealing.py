"""Sealed one-time passwords: a reader of the command history sees only ciphertext.

Under moto (which enforces the encryption context of kms:Decrypt, not key policies: those are evaluated in
tests/modules/test_sealing_policy.py).  No stub beyond the harness's own (ssm DescribeInstanceInformation,
ds CreateComputer).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from handlers.domain_join import contract, naming, sealing, wire

from .harness import HOME_REGION, HUB_ACCOUNT, SPOKE_A, SPOKE_B, FakeContext, World, app_module, sns_body

SPOKE_REGION = "eu-west-1"


@pytest.fixture
def sealing_key(world: World, monkeypatch: pytest.MonkeyPatch) -> str:
    """GIVEN the hub key in the handler's environment (as the hub module sets it)."""
    key: str = world.client("kms").create_key(Description="domain-join hub key")["KeyMetadata"]["Arn"]
    monkeypatch.setenv(contract.ENV_SEALING_KEY_ARN, key)
    monkeypatch.setattr(
        app_module,
        "_app",
        app_module.build_app(FakeContext(), client_factory=world.handler_client_factory, clock=world.clock),
    )
    return key


def open_sealed(world: World, text: str, context: dict[str, str]) -> str:
    """kms:Decrypt as the recipient would (moto checks the encryption context)."""
    answer = world.client("kms").decrypt(CiphertextBlob=sealing.from_text(text), EncryptionContext=context)
    return bytes(answer["Plaintext"]).decode("ascii")


def command_history(world: World, *places: tuple[str, str]) -> str:
    """Everything ssm:ListCommands and ssm:GetCommandInvocation tell a reader, in the given places."""
    seen: list[Any] = []
    for account, region in places:
        ssm = world.client("ssm", account, region)
        commands = ssm.list_commands()["Commands"]
        seen += commands
        for command in commands:
            for instance_id in world.requested_targets[command["CommandId"]]:
                seen.append(
                    ssm.get_command_invocation(CommandId=command["CommandId"], InstanceId=instance_id)
                )
    return json.dumps(seen, default=str)


def test_command_history_holds_only_ciphertext_of_prestage_and_sealed_joins(
    world: World, sealing_key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN account A's directory sealing join passwords, account B's not (prestage is sealed for both)
    world.put_config(SPOKE_A, **{contract.CONFIG_SEAL_JOIN_PASSWORDS: True})
    world.put_config(SPOKE_B)
    sealed_ids = world.launch(SPOKE_A, SPOKE_REGION, count=3)
    (plain_id,) = world.launch(SPOKE_B, HOME_REGION)

    # WHEN they start
    world.run(
        [sns_body(SPOKE_A, SPOKE_REGION, i) for i in sealed_ids] + [sns_body(SPOKE_B, HOME_REGION, plain_id)]
    )

    # THEN the prestage commands carry ciphertext that only the prestage context (with its batch) opens
    prestage_otps: dict[str, str] = {}
    prestages = [c for c in world.commands() if c["DocumentName"] == contract.PRESTAGE_DOCUMENT]
    assert prestages
    for command in prestages:
        params = command["Params"]
        assert params[contract.PARAM_SEALING_KEY] == sealing_key
        context = sealing.prestage_context(params[contract.TOOLS_PARAM_SEALED_BATCH])
        pieces = wire.decode_sealed_prestage(params[contract.TOOLS_PARAM_COMPUTERS])
        opened = " ".join(open_sealed(world, piece, context) for piece in pieces)
        prestage_otps |= {e.computer_name: e.otp for e in wire.decode_prestage(opened)}
    names = {i: naming.computer_name(i) for i in [*sealed_ids, plain_id]}
    assert set(prestage_otps) == set(names.values())

    # AND account A's join carries each OTP sealed for its instance; only that instance's ARN opens it
    (join,) = world.commands(SPOKE_A, SPOKE_REGION)
    assert join["Params"][contract.PARAM_SEALING_KEY] == sealing_key
    entries = wire.decode_sealed_join(join["Params"][contract.JOIN_PARAM_COMPUTERS])
    assert {e.instance_id for e in entries} == set(sealed_ids)
    for entry in entries:
        arn = sealing.instance_arn("aws", SPOKE_REGION, SPOKE_A, entry.instance_id)
        assert (
            open_sealed(world, entry.sealed_otp, sealing.join_context(arn))
            == prestage_otps[entry.computer_name]
        )
        other = next(i for i in sealed_ids if i != entry.instance_id)
        wrong = sealing.join_context(sealing.instance_arn("aws", SPOKE_REGION, SPOKE_A, other))
        with pytest.raises(ClientError, match="InvalidCiphertextException"):
            open_sealed(world, entry.sealed_otp, wrong)

    # AND account B (not opted in) gets its OTP plain, as before
    (plain_join,) = world.commands(SPOKE_B, HOME_REGION)
    assert plain_join["Params"][contract.PARAM_SEALING_KEY] == ""
    (plain_entry,) = wire.decode_join(plain_join["Params"][contract.JOIN_PARAM_COMPUTERS])
    assert plain_entry.otp == prestage_otps[names[plain_id]]

    # AND no sealed OTP appears in the command history, on the wire or in the logs
    history = command_history(world, (HUB_ACCOUNT, HOME_REGION))
    history += command_history(world, (SPOKE_A, SPOKE_REGION))
    wire_params = json.dumps([c.params for c in world.calls_of("SendCommand")])
    printed = capsys.readouterr().out
    for instance_id in sealed_ids:
        otp = prestage_otps[names[instance_id]]
        assert otp not in history and otp not in wire_params and otp not in printed


def test_a_prestage_batch_opens_only_under_its_own_batch(world: World, sealing_key: str) -> None:
    # GIVEN one sealed prestage
    world.put_config(SPOKE_A)
    (instance,) = world.launch(SPOKE_A, SPOKE_REGION)
    world.run([sns_body(SPOKE_A, SPOKE_REGION, instance)])
    (prestage,) = [c for c in world.commands() if c["DocumentName"] == contract.PRESTAGE_DOCUMENT]
    (piece,) = wire.decode_sealed_prestage(prestage["Params"][contract.TOOLS_PARAM_COMPUTERS])
    batch = prestage["Params"][contract.TOOLS_PARAM_SEALED_BATCH]
    # WHEN it is opened under another batch, or under the join purpose, THEN KMS refuses
    for context in (
        sealing.prestage_context(sealing.new_batch_id()),
        {contract.SEAL_CONTEXT_PURPOSE: contract.SEAL_PURPOSE_JOIN, contract.SEAL_CONTEXT_BATCH: batch},
    ):
        with pytest.raises(ClientError, match="InvalidCiphertextException"):
            open_sealed(world, piece, context)
    # AND under its own batch it is the prestage list of the computer
    (entry,) = wire.decode_prestage(open_sealed(world, piece, sealing.prestage_context(batch)))
    assert entry.computer_name == naming.computer_name(instance)


def test_a_directory_asking_for_sealed_joins_without_a_sealing_key_sends_no_join(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a handler without a sealing key, and a directory that seals join passwords
    world.put_config(SPOKE_A, **{contract.CONFIG_SEAL_JOIN_PASSWORDS: True})
    (instance,) = world.launch(SPOKE_A, SPOKE_REGION)
    # WHEN the instance starts
    world.run([sns_body(SPOKE_A, SPOKE_REGION, instance)])
    # THEN no join command carries its OTP in the clear: none is sent, and the log says why
    assert world.commands(SPOKE_A, SPOKE_REGION) == []
    assert "no sealing key" in capsys.readouterr().out


# --- pure: what is sealed --------------------------------------------------------------------------------
def test_a_full_prestage_batch_is_cut_at_entry_boundaries_into_pieces_kms_encrypts() -> None:
    # GIVEN 50 entries of the handler's grammar (the most one prestage command carries), longest OTPs
    entries = [
        wire.PrestageEntry(
            naming.computer_name(f"i-{n:017x}"),
            "A1b" * 42 + "xy",
            f"ec2-domain-join:{SPOKE_A}/us-gov-west-1/i-{n:017x}",
        )
        for n in range(wire.MAX_ENTRIES)
    ]
    value = wire.encode_prestage(entries)
    # WHEN it is cut for sealing
    pieces = sealing.prestage_pieces(value)
    # THEN every piece fits kms:Encrypt, no entry is split, and together they are the value
    assert len(value) > 2 * sealing.KMS_MAX_PLAINTEXT
    assert all(len(piece.encode()) <= sealing.KMS_MAX_PLAINTEXT for piece in pieces)
    assert " ".join(pieces) == value
    assert sum(len(wire.decode_prestage(p)) for p in pieces) == wire.MAX_ENTRIES
    assert len(pieces) <= wire.MAX_SEALED_PIECES


def test_join_requests_name_each_instance_in_its_context_and_keep_the_order() -> None:
    ids = ["i-0123456789abcdef0", "i-0fedcba9876543210"]
    parameters = {
        contract.JOIN_PARAM_COMPUTERS: wire.encode_join(
            wire.JoinEntry(i, naming.computer_name(i), naming.one_time_password()) for i in ids
        )
    }
    requests = sealing.join_requests(parameters, "aws-us-gov", "us-gov-west-1", SPOKE_A)
    assert [r.context[contract.SEAL_CONTEXT_INSTANCE] for r in requests] == [
        f"arn:aws-us-gov:ec2:us-gov-west-1:{SPOKE_A}:instance/{i}" for i in ids
    ]
    assert all(r.context[contract.SEAL_CONTEXT_PURPOSE] == contract.SEAL_PURPOSE_JOIN for r in requests)
    assert all(r.plaintext not in repr(r) for r in requests), "a request never shows its plaintext"
    sealed = sealing.sealed_join_parameters(
        parameters, "arn:aws-us-gov:kms:us-gov-west-1:111111111111:key/k", ["Q" * 80, "R" * 80]
    )
    assert [e.sealed_otp for e in wire.decode_sealed_join(sealed[contract.JOIN_PARAM_COMPUTERS])] == [
        "Q" * 80,
        "R" * 80,
    ]


def test_a_kms_failure_sends_no_command_and_the_event_comes_back(world: World, sealing_key: str) -> None:
    # GIVEN KMS throttling the handler's Encrypt once
    world.put_config(SPOKE_A, **{contract.CONFIG_SEAL_JOIN_PASSWORDS: True})
    (instance,) = world.launch(SPOKE_A, SPOKE_REGION)
    world.inject("Encrypt", "ThrottlingException", times=1)
    # WHEN the instance starts
    response = world.run([sns_body(SPOKE_A, SPOKE_REGION, instance)])
    # THEN nothing was sent (no plain fallback), and the message is retried
    assert world.calls_of("SendCommand") == []
    assert len(response["batchItemFailures"]) == 1
    # AND once KMS answers, the retry prestages and joins, sealed
    world.run([sns_body(SPOKE_A, SPOKE_REGION, instance)])
    (join,) = world.commands(SPOKE_A, SPOKE_REGION)
    assert join["Params"][contract.PARAM_SEALING_KEY] == sealing_key
