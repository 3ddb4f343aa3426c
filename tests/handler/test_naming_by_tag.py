"""The OU and the computer name from instance tags (both optional, per directory).

Pure decisions (``decide_ou``, ``decide_computer_name``, ``prestages_to_check``, ``naming.refused_names``,
the config item's validation) first, then the handler under moto.

Stubbed (moto lacks them): ssm DescribeInstanceInformation (harness.py), and ssm GetCommandInvocation's
output (moto runs no script, so the tools host's result lines are given by the test).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from handlers.domain_join import contract
from handlers.domain_join.decisions import (
    NameChoice,
    OuChoice,
    decide_computer_name,
    decide_ou,
    prestages_to_check,
)
from handlers.domain_join.errors import ConfigInvalidError
from handlers.domain_join.model import JOIN_FAILED, JOIN_SENT, AccountConfig, LedgerEntry
from handlers.domain_join.naming import computer_name, refused_names

from .harness import (
    HUB_ACCOUNT,
    SPOKE_A,
    World,
    command_status,
    emitted_metrics,
    eventbridge_body,
    stdout_json,
)

REGION = "eu-west-1"
INSTANCE = "i-0123456789abcdef0"
DEFAULT_OU = "OU=EC2,DC=corp,DC=example,DC=com"
PROD_OU = "OU=Prod,DC=corp,DC=example,DC=com"
DEV_OU = "OU=Dev,DC=corp,DC=example,DC=com"
COMMAND = "11111111-2222-3333-4444-555555555555"


def config(**changes: Any) -> AccountConfig:
    item: dict[str, Any] = {
        contract.CONFIG_DNS_NAME: "corp.example.com",
        contract.CONFIG_JOIN_USER: "svc-join",
        contract.CONFIG_PASSWORD_PARAMETER: "/domain-join/join-password",
        contract.CONFIG_OU_PATH: DEFAULT_OU,
        contract.CONFIG_OU_TAG_KEY: "Environment",
        contract.CONFIG_OU_BY_TAG_VALUE: {"prod": PROD_OU, "dev": DEV_OU},
        contract.CONFIG_COMPUTER_NAME_TAG: "Name",
    }
    item.update(changes)
    return AccountConfig.from_item("111111111111", {k: v for k, v in item.items() if v is not None})


# --- OU by tag: pure ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tags", "ou", "fallback"),
    [
        ({"Environment": "prod"}, PROD_OU, ""),
        ({"Environment": " dev "}, DEV_OU, ""),
        ({"Environment": "staging"}, DEFAULT_OU, "not in the allow-list"),
        ({"Environment": PROD_OU}, DEFAULT_OU, "not in the allow-list"),  # an OU as value: never taken
        ({"Environment": ""}, DEFAULT_OU, "missing"),
        ({}, DEFAULT_OU, "missing"),
    ],
)
def test_the_ou_comes_from_the_allow_list_or_is_the_default(
    tags: dict[str, str], ou: str, fallback: str
) -> None:
    choice = decide_ou(config(), tags)
    assert choice.ou_path == ou
    assert (fallback in choice.fallback) and (bool(choice.fallback) == bool(fallback))


def test_without_an_ou_tag_the_default_ou_is_used_silently() -> None:
    plain = config(**{contract.CONFIG_OU_TAG_KEY: None, contract.CONFIG_OU_BY_TAG_VALUE: None})
    assert decide_ou(plain, {"Environment": "prod"}) == OuChoice(DEFAULT_OU)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({contract.CONFIG_OU_BY_TAG_VALUE: {"prod": "OU=Prod;rm -rf"}}, "not an OU"),
        ({contract.CONFIG_OU_BY_TAG_VALUE: {f"v{i}": PROD_OU for i in range(51)}}, "at most 50"),
        ({contract.CONFIG_OU_BY_TAG_VALUE: ["prod"]}, "not a map"),
        ({contract.CONFIG_OU_BY_TAG_VALUE: {"pr\nod": PROD_OU}}, "not a tag value"),
        ({contract.CONFIG_OU_BY_TAG_VALUE: None}, "go together"),
        ({contract.CONFIG_OU_TAG_KEY: None}, "go together"),
        ({contract.CONFIG_OU_TAG_KEY: "Env\nironment"}, "ouTagKey"),
        ({contract.CONFIG_COMPUTER_NAME_TAG: "Na;me"}, "computerNameTag"),
    ],
)
def test_a_bad_tag_configuration_is_refused_at_load(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigInvalidError) as caught:
        config(**changes)
    assert message in str(caught.value)


# --- computer name from a tag: pure ----------------------------------------------------------------------
HASHED = computer_name(INSTANCE, "EC2")


@pytest.mark.parametrize(
    ("value", "name", "reason"),
    [
        ("web-01", "WEB-01", ""),
        ("ABCDEFGHIJKLMNO", "ABCDEFGHIJKLMNO", ""),  # 15 characters
        ("ABCDEFGHIJKLMNOP", HASHED, "not a NetBIOS name"),  # 16
        ("12345", HASHED, "not a NetBIOS name"),  # all digits
        ("web_01", HASHED, "not a NetBIOS name"),
        ("web-", HASHED, "not a NetBIOS name"),
        ("web 01", HASHED, "not a NetBIOS name"),
        ("", HASHED, "missing"),
    ],
)
def test_the_name_tag_is_used_when_it_is_a_netbios_name(value: str, name: str, reason: str) -> None:
    choice = decide_computer_name(INSTANCE, "EC2", "Name", {"Name": value})
    assert choice.name == name
    assert (reason in choice.fallback) and (bool(choice.fallback) == bool(reason))


def test_without_a_name_tag_setting_the_hash_name_is_used_silently() -> None:
    assert decide_computer_name(INSTANCE, "EC2", "", {"Name": "web-01"}) == NameChoice(HASHED)


def test_a_name_once_chosen_is_kept_whatever_the_tag_says_now() -> None:
    assert decide_computer_name(INSTANCE, "EC2", "Name", {"Name": "web-02"}, "WEB-01") == NameChoice("WEB-01")
    assert decide_computer_name(INSTANCE, "EC2", "Name", {"Name": "web-02"}, HASHED) == NameChoice(HASHED)


def test_a_refused_name_gives_the_hash_name_with_the_reason() -> None:
    kept = decide_computer_name(INSTANCE, "EC2", "Name", {"Name": "web-01"}, "WEB-01", {"WEB-01"})
    fresh = decide_computer_name(INSTANCE, "EC2", "Name", {"Name": "web-01"}, "", {"WEB-01"})
    for choice in (kept, fresh):
        assert choice.name == HASHED and "not ours" in choice.fallback


def test_only_prestages_of_tag_named_computers_are_checked() -> None:
    def entry(name: str, prestage: str, status: str = JOIN_SENT) -> LedgerEntry:
        return LedgerEntry(INSTANCE, "111111111111", REGION, name, "corp.example.com", status, 1, 1,
                           prestage_command_id=prestage)  # fmt: skip

    entries = [
        entry("WEB-01", COMMAND),
        entry(HASHED, "22222222-2222-3333-4444-555555555555"),  # a hash name: nothing to check
        entry("WEB-02", "ds-prestage-1", JOIN_FAILED),  # not a Run Command id
        None,
    ]
    assert prestages_to_check(entries, "EC2") == {COMMAND}


def test_refused_names_are_read_from_the_result_lines() -> None:
    output = "\n".join(
        [
            "diagnostics",
            'DOMAIN_JOIN_RESULT {"computerName":"WEB-01","status":"refused","exitCode":6,"message":"x"}',
            'DOMAIN_JOIN_RESULT {"computerName":"WEB-02","status":"created","exitCode":0,"message":"y"}',
            "DOMAIN_JOIN_RESULT not json",
        ]
    )
    assert refused_names(output) == {"WEB-01"}


# --- the handler under moto -------------------------------------------------------------------------------
def tagged_config(world: World) -> None:
    world.put_config(
        SPOKE_A,
        ouPath=DEFAULT_OU,
        ouTagKey="Environment",
        ouByTagValue={"prod": PROD_OU, "dev": DEV_OU},
        computerNameTag="Name",
    )


def prestaged(world: World) -> dict[str, str]:
    """computer name -> OU of every prestage the tools host was sent."""
    found: dict[str, str] = {}
    for command in world.commands(HUB_ACCOUNT):
        if command["DocumentName"] == contract.PRESTAGE_DOCUMENT:
            for entry in command["Params"][contract.TOOLS_PARAM_COMPUTERS].split():
                found[entry.split("=")[0]] = command["Params"][contract.TOOLS_PARAM_OU]
    return found


def test_the_ou_and_the_name_come_from_the_tags_with_fallbacks_logged_and_counted(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a directory with both options, and instances with good, unknown, hostile and missing tags
    tagged_config(world)
    (prod,) = world.launch(SPOKE_A, REGION, tags={"Environment": "prod", "Name": "web-01"})
    (odd,) = world.launch(SPOKE_A, REGION, tags={"Environment": "OU=Evil,DC=corp", "Name": "web_02"})
    (bare,) = world.launch(SPOKE_A, REGION)

    # WHEN they start
    assert world.run([eventbridge_body(SPOKE_A, REGION, i) for i in (prod, odd, bare)]) == {
        "batchItemFailures": []
    }

    # THEN the tagged one is WEB-01 in the prod OU; the others have hash names in the default OU
    assert prestaged(world) == {
        "WEB-01": PROD_OU,
        computer_name(odd, "EC2"): DEFAULT_OU,
        computer_name(bare, "EC2"): DEFAULT_OU,
    }
    assert world.ledger()[prod]["computerName"] == "WEB-01"
    # AND every fallback is counted and logged with its reason; the hostile value never reached an OU
    out = capsys.readouterr().out
    metrics = emitted_metrics(out)
    assert (metrics["OuTagFallback"], metrics["ComputerNameTagFallback"]) == (2, 2)
    reasons = {
        j["instance_id"]: j["reason"] for j in stdout_json(out) if j.get("message") == "OU tag fallback"
    }
    assert "not in the allow-list" in reasons[odd] and "missing" in reasons[bare]
    # AND a first join reads no prestage results (the tags come with DescribeInstances)
    assert world.calls_of("GetCommandInvocation") == []


def results_stub(world: World, monkeypatch: pytest.MonkeyPatch, lines: list[dict[str, Any]]) -> None:
    """The tools host's output of every prestage: these DOMAIN_JOIN_RESULT lines (moto runs no script)."""
    original = world.on_before_call
    output = "\n".join(f"{contract.RESULT_LINE_TAG} {json.dumps(line)}" for line in lines)

    def on_before_call(account: str, region: str, operation: str, context: dict[str, Any]) -> Any:
        if operation == "GetCommandInvocation":
            return AWSResponse("https://stub.invalid", 200, {}, None), {
                "CommandId": context["api_params"]["CommandId"],
                "InstanceId": context["api_params"]["InstanceId"],
                "Status": "Success",
                "StandardOutputContent": output,
                "ResponseMetadata": {"HTTPStatusCode": 200},
            }
        return original(account, region, operation, context)

    monkeypatch.setattr(world, "on_before_call", on_before_call)


def join_failed(world: World, instance: str) -> str:
    command_id = world.ledger()[instance]["joinCommandId"]
    return json.dumps(command_status(SPOKE_A, REGION, command_id, contract.JOIN_DOCUMENT, instance))


def test_a_name_taken_by_a_foreign_object_falls_back_to_the_hash_name(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an instance joined as WEB-01, whose prestage the tools host refused (an object not ours)
    tagged_config(world)
    (instance,) = world.launch(SPOKE_A, REGION, tags={"Name": "web-01"})
    world.run([eventbridge_body(SPOKE_A, REGION, instance)])
    assert world.ledger()[instance]["computerName"] == "WEB-01"
    first_prestage = world.ledger()[instance]["prestageCommandId"]
    results_stub(world, monkeypatch, [{"computerName": "WEB-01", "status": "refused", "exitCode": 6}])
    capsys.readouterr()

    # WHEN its join fails and is sent again
    world.run([join_failed(world, instance)])

    # THEN the tools host's results were read, and the retry prestages and joins the hash name
    hashed = computer_name(instance, "EC2")
    assert world.ledger()[instance]["computerName"] == hashed
    assert hashed in prestaged(world)
    reads = world.calls_of("GetCommandInvocation")
    assert {(c.params["CommandId"], c.params["InstanceId"]) for c in reads} == {
        (first_prestage, world.tools_host_id)
    }
    out = capsys.readouterr().out
    assert emitted_metrics(out)["ComputerNameTagFallback"] == 1
    (line,) = [j for j in stdout_json(out) if j.get("message") == "computer name tag fallback"]
    assert "WEB-01" in line["reason"] and "not ours" in line["reason"]


def test_a_rerun_after_the_tag_changed_keeps_the_first_name(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an instance joined as WEB-01 (its prestage created it), whose Name tag then changes
    tagged_config(world)
    (instance,) = world.launch(SPOKE_A, REGION, tags={"Name": "web-01"})
    world.run([eventbridge_body(SPOKE_A, REGION, instance)])
    results_stub(world, monkeypatch, [{"computerName": "WEB-01", "status": "created", "exitCode": 0}])
    world.client("ec2", SPOKE_A, REGION).create_tags(
        Resources=[instance], Tags=[{"Key": "Name", "Value": "web-02"}]
    )

    # WHEN its join fails and is sent again, then the instance restarts (a new running event)
    world.run([join_failed(world, instance)])
    world.run([eventbridge_body(SPOKE_A, REGION, instance)])

    # THEN every prestage and the ledger keep WEB-01
    assert set(prestaged(world)) == {"WEB-01"}
    assert world.ledger()[instance]["computerName"] == "WEB-01"
