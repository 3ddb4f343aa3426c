"""Prestaging through the Directory Service API (AWS Managed Microsoft AD): no tools host for joins.

Stubs (moto lacks the call; everything else is moto's):

* ``ds:CreateComputer`` is answered by ``harness.World._create_computer`` through botocore's ``before-call``
  event, only for directories moto holds (an unknown id is ``EntityDoesNotExistException``, a name created
  before ``EntityAlreadyExistsException``); injected errors (``World.inject``) come first;
* the adapter's error mapping is also checked on a bare ``ds`` client with ``botocore.stub.Stubber``
  (``test_adapter_raises_our_errors_from_the_client_error``).
"""

from __future__ import annotations

import json
from dataclasses import astuple, replace
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from handlers.domain_join import contract, wire
from handlers.domain_join.adapter.directory_service import DirectoryService
from handlers.domain_join.decisions import plan_join
from handlers.domain_join.errors import (
    AccessDeniedError,
    AwsRequestError,
    ComputerExistsError,
    ConfigInvalidError,
    DomainJoinError,
    ToolsHostUnavailableError,
    TransientAwsError,
)
from handlers.domain_join.events import InstanceStateChange
from handlers.domain_join.model import AccountConfig, DirectoryComputer, InstanceFacts, Spoke
from handlers.domain_join.naming import computer_name, ownership_stamp
from handlers.domain_join.prestage import (
    DIRECTORY_SERVICE,
    FAIL,
    FALL_BACK_TO_TOOLS_HOST,
    TOOLS_HOST,
    decide_directory_failure,
    decide_prestage_path,
    directory_computer,
    directory_prestage_id,
)

from .harness import (
    HOME_REGION,
    HUB_ACCOUNT,
    SPOKE_A,
    SPOKE_B,
    World,
    command_status,
    emitted_metrics,
    eventbridge_body,
)

REGION = "eu-west-1"
OU = "OU=Computers,OU=corp,DC=corp,DC=example,DC=com"


def join_entries(world: World, account: str = SPOKE_A) -> dict[str, tuple[str, str]]:
    """instance id -> (computer name, one-time password) of every join command sent in the spoke."""
    entries: dict[str, tuple[str, str]] = {}
    for command in world.commands(account, REGION):
        assert command["DocumentName"] == contract.JOIN_DOCUMENT
        for entry in wire.decode_join(command["Params"][contract.JOIN_PARAM_COMPUTERS]):
            entries[entry.instance_id] = (entry.computer_name, entry.otp)
    return entries


def hub_commands(world: World) -> list[dict[str, Any]]:
    return world.commands(HUB_ACCOUNT, HOME_REGION)


@pytest.fixture
def directory(world: World) -> str:
    """GIVEN an AWS Managed Microsoft AD in the hub's account and Region, and spoke A configured for it."""
    directory_id = world.create_managed_directory()
    world.put_config(SPOKE_A, directoryId=directory_id, ouPath=OU)
    return directory_id


# --- the Directory Service path under moto ------------------------------------------------------------
def test_join_prestages_through_directory_service_without_any_tools_host(
    world: World, directory: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN no tools host at all (its agent is offline) and two new instances of spoke A
    world.offline.add(world.tools_host_id)
    ids = world.launch(SPOKE_A, REGION, count=2)

    # WHEN their running events are handled
    response = world.run([eventbridge_body(SPOKE_A, REGION, i) for i in ids])

    # THEN both joins are sent, and not one command (nor a tools-host lookup) happened in the hub
    assert response == {"batchItemFailures": []}
    assert hub_commands(world) == []
    assert [c for c in world.calls if c.account == HUB_ACCOUNT and c.operation == "DescribeInstances"] == []
    # AND each computer was created in the directory with its name, the OU, our stamp in description and the
    # very one-time password its instance receives in the join command
    created = world.calls_of("CreateComputer")
    assert len(created) == 2
    joins = join_entries(world)
    for instance in ids:
        name, otp = joins[instance]
        assert name == computer_name(instance)
        request = world.directory_computers[(directory, name)]
        assert request["Password"] == otp
        assert request["OrganizationalUnitDistinguishedName"] == OU
        assert request["ComputerAttributes"] == [
            {"Name": "description", "Value": ownership_stamp(SPOKE_A, REGION, instance)}
        ]
    # AND the ledger says which directory prestaged them
    ledger = world.ledger()
    assert {ledger[i]["status"] for i in ids} == {"JOIN_SENT"}
    assert {ledger[i]["prestageCommandId"] for i in ids} == {directory_prestage_id(directory)}
    # AND no one-time password reached a log line, a metric or the ledger
    printed = capsys.readouterr().out + repr(ledger)
    assert not any(otp in printed for _, otp in joins.values())


def test_accounts_without_a_directory_id_still_use_the_tools_host_in_the_same_batch(
    world: World, directory: str
) -> None:
    # GIVEN spoke A on Directory Service and spoke B on the tools host, one instance each
    world.put_config(SPOKE_B)
    (a,) = world.launch(SPOKE_A, REGION)
    (b,) = world.launch(SPOKE_B, REGION)

    # WHEN both are handled in one batch
    response = world.run([eventbridge_body(SPOKE_A, REGION, a), eventbridge_body(SPOKE_B, REGION, b)])

    # THEN A was created in the directory only, and B prestaged on the tools host only
    assert response == {"batchItemFailures": []}
    assert [c.params["ComputerName"] for c in world.calls_of("CreateComputer")] == [computer_name(a)]
    (prestage,) = hub_commands(world)
    assert prestage["DocumentName"] == contract.PRESTAGE_DOCUMENT
    staged = [
        entry.computer_name
        for entry in wire.decode_prestage(prestage["Params"][contract.TOOLS_PARAM_COMPUTERS])
    ]
    assert staged == [computer_name(b)]
    assert set(join_entries(world, SPOKE_A)) == {a} and set(join_entries(world, SPOKE_B)) == {b}


def test_a_missing_tools_host_fails_only_the_tools_host_path(
    world: World, directory: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the tools host offline, spoke A on Directory Service and spoke B on the tools host
    world.offline.add(world.tools_host_id)
    world.put_config(SPOKE_B)
    (a,) = world.launch(SPOKE_A, REGION)
    (b,) = world.launch(SPOKE_B, REGION)
    capsys.readouterr()

    # WHEN both are handled in one batch
    event = world.deliver([eventbridge_body(SPOKE_A, REGION, a), eventbridge_body(SPOKE_B, REGION, b)])
    response = world.invoke(event)

    # THEN A joins and B is retried for its tools host
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    assert failed == {r["messageId"] for r in event["Records"] if b in r["body"]}
    assert set(join_entries(world, SPOKE_A)) == {a} and join_entries(world, SPOKE_B) == {}
    metrics = emitted_metrics(capsys.readouterr().out)
    assert metrics["JoinRequested"] == 1 and metrics[ToolsHostUnavailableError.code] == 1


def test_a_resent_join_whose_computer_exists_goes_to_the_tools_host_with_its_new_password(
    world: World, directory: str
) -> None:
    # GIVEN an instance joined through Directory Service whose join command then failed on the instance
    (instance,) = world.launch(SPOKE_A, REGION)
    assert world.run([eventbridge_body(SPOKE_A, REGION, instance)]) == {"batchItemFailures": []}
    first_otp = join_entries(world)[instance][1]
    failure = command_status(
        SPOKE_A, REGION, world.ledger()[instance]["joinCommandId"], contract.JOIN_DOCUMENT, instance
    )
    world.calls.clear()

    # WHEN the failure event is handled (a new one-time password; the object exists in the directory)
    assert world.run([json.dumps(failure)]) == {"batchItemFailures": []}

    # THEN Directory Service refused to create it again and nothing overwrote it from the hub
    assert [c.operation for c in world.calls if c.service == "ds"] == ["CreateComputer"]
    # AND the tools host, which reads the stamp, got the computer with the new password and our stamp
    (prestage,) = hub_commands(world)
    assert prestage["DocumentName"] == contract.PRESTAGE_DOCUMENT
    ((name, otp, stamp),) = [
        astuple(e) for e in wire.decode_prestage(prestage["Params"][contract.TOOLS_PARAM_COMPUTERS])
    ]
    assert (name, stamp) == (computer_name(instance), ownership_stamp(SPOKE_A, REGION, instance))
    # AND the join sent again carries that same new password
    resent = [c for c in world.commands(SPOKE_A, REGION) if c["CommandId"] != failure["detail"]["command-id"]]
    (join,) = resent
    (join_entry,) = wire.decode_join(join["Params"][contract.JOIN_PARAM_COMPUTERS])
    join_otp = join_entry.otp
    assert join_otp == otp != first_otp
    assert world.ledger()[instance]["prestageCommandId"] == prestage["CommandId"]


def test_an_existing_computer_without_a_tools_host_is_retried_and_never_joined(
    world: World, directory: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an object of the instance's computer name already in the directory (not known to be ours) and
    # no tools host to read its stamp
    (instance,) = world.launch(SPOKE_A, REGION)
    world.directory_computers[(directory, computer_name(instance))] = {"ComputerName": "someone else's"}
    world.offline.add(world.tools_host_id)
    capsys.readouterr()

    # WHEN its running event is handled
    response = world.run([eventbridge_body(SPOKE_A, REGION, instance)])

    # THEN the record is retried as ToolsHostUnavailable, no join is sent and the object is left as it was
    assert len(response["batchItemFailures"]) == 1
    assert join_entries(world) == {}
    assert world.directory_computers[(directory, computer_name(instance))] == {
        "ComputerName": "someone else's"
    }
    assert emitted_metrics(capsys.readouterr().out)[ToolsHostUnavailableError.code] == 1
    # AND the claim is given back for the retry
    assert world.ledger()[instance].get("leaseExpiresAt", 0) == 0


@pytest.mark.parametrize(
    ("code", "status", "outcome"),
    [
        ("DirectoryUnavailableException", 400, TransientAwsError.code),
        ("AccessDeniedException", 400, AccessDeniedError.code),
        ("ClientException", 400, AwsRequestError.code),
        ("EntityDoesNotExistException", 400, AwsRequestError.code),
    ],
)
def test_directory_service_errors_are_retried_under_our_error_codes(
    world: World, directory: str, capsys: pytest.CaptureFixture[str], code: str, status: int, outcome: str
) -> None:
    # GIVEN CreateComputer failing with `code`
    world.inject("CreateComputer", code, status)
    (instance,) = world.launch(SPOKE_A, REGION)
    capsys.readouterr()

    # WHEN the running event is handled
    response = world.run([eventbridge_body(SPOKE_A, REGION, instance)])

    # THEN the record comes back after its backoff, counted under our code, with no command sent anywhere
    assert len(response["batchItemFailures"]) == 1
    assert emitted_metrics(capsys.readouterr().out)[outcome] == 1
    assert join_entries(world) == {} and hub_commands(world) == []
    assert world.ledger()[instance].get("leaseExpiresAt", 0) == 0


# --- the adapter on a bare client ----------------------------------------------------------------------
class _OneClient:
    """A ``Sessions`` stand-in handing out one stubbed client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def hub_client(self, service: str, region: str = "") -> Any:
        assert service == "ds"
        return self.client


COMPUTER = DirectoryComputer(
    "d-1234567890", "EC2ABCDEFGHIJKL", "Otp0123456789abcdefABCDEFghijklm", "", "ec2-domain-join:x"
)


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("EntityAlreadyExistsException", 400, ComputerExistsError),
        ("DirectoryUnavailableException", 400, TransientAwsError),
        ("ThrottlingException", 400, TransientAwsError),
        ("ServiceException", 500, TransientAwsError),
        ("AccessDeniedException", 400, AccessDeniedError),
        ("AuthenticationFailedException", 400, AccessDeniedError),
        ("ClientException", 400, AwsRequestError),
        ("InvalidParameterException", 400, AwsRequestError),
    ],
)
def test_adapter_raises_our_errors_from_the_client_error(
    code: str, status: int, error: type[DomainJoinError]
) -> None:
    # GIVEN a ds client whose CreateComputer fails with `code`
    client = boto3.client("ds", region_name=HOME_REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_client_error("create_computer", service_error_code=code, http_status_code=status)
        # WHEN the adapter creates a computer
        with pytest.raises(DomainJoinError) as caught:
            DirectoryService(_OneClient(client)).create_computer(COMPUTER)  # type: ignore[arg-type]
    # THEN it raises our class, from botocore's error, and never echoes the password
    assert type(caught.value) is error
    assert caught.value.__cause__ is not None and code in str(caught.value.__cause__)
    assert COMPUTER.password not in str(caught.value)


def test_adapter_leaves_the_ou_out_when_the_account_has_none() -> None:
    # GIVEN a computer without an OU
    client = boto3.client("ds", region_name=HOME_REGION, aws_access_key_id="x", aws_secret_access_key="x")
    expected = {
        "DirectoryId": COMPUTER.directory_id,
        "ComputerName": COMPUTER.computer_name,
        "Password": COMPUTER.password,
        "ComputerAttributes": [{"Name": "description", "Value": COMPUTER.description}],
    }
    with Stubber(client) as stub:
        stub.add_response("create_computer", {"Computer": {"ComputerName": "EC2ABCDEFGHIJKL"}}, expected)
        # WHEN it is created, THEN the request carries no OrganizationalUnitDistinguishedName (the Stubber
        # checks the exact parameters): Directory Service uses the directory's default computers OU
        DirectoryService(_OneClient(client)).create_computer(COMPUTER)  # type: ignore[arg-type]
        stub.assert_no_pending_responses()


# --- pure decisions -------------------------------------------------------------------------------------
ITEM = {
    "accountId": SPOKE_A,
    "dnsName": "corp.example.com",
    "adJoinUserName": "svc-join",
    "adJoinUserPwParam": "/domain-join/join-password",
}


def config(**attributes: Any) -> AccountConfig:
    return AccountConfig.from_item(SPOKE_A, {**ITEM, **attributes})


def test_the_path_follows_the_directory_id() -> None:
    assert decide_prestage_path(config(directoryId="d-0123456789")) == DIRECTORY_SERVICE
    assert decide_prestage_path(config()) == TOOLS_HOST


@pytest.mark.parametrize("bad", ["d-123", "D-0123456789", "d-01234567890", "d-012345678g", "x"])
def test_an_invalid_directory_id_is_a_config_error(bad: str) -> None:
    with pytest.raises(ConfigInvalidError, match="directoryId"):
        config(directoryId=bad)


def test_the_directory_computer_of_a_plan_is_its_name_otp_ou_and_stamp() -> None:
    # GIVEN a join plan of an account on Directory Service
    account = replace(config(directoryId="d-0123456789"), ou_path=OU)
    change = InstanceStateChange(SPOKE_A, REGION, "i-0123456789abcdef0", "running", "", "evt-1")
    fact = InstanceFacts("i-0123456789abcdef0", "running", "linux")
    spoke = Spoke(SPOKE_A, REGION, account.role_arn)
    plan = plan_join(change, account, spoke, fact, None, 1000, 60, "Otp0123456789abcdefABCDEFghijklm")
    # WHEN its directory computer is built THEN it carries the plan's own values
    computer = directory_computer(plan)
    assert computer == DirectoryComputer(
        "d-0123456789",
        plan.entry.computer_name,
        plan.otp,
        OU,
        ownership_stamp(SPOKE_A, REGION, change.instance_id),
    )
    assert plan.otp not in repr(computer)


def test_only_an_existing_object_falls_back_to_the_tools_host() -> None:
    assert decide_directory_failure(ComputerExistsError("exists")) == FALL_BACK_TO_TOOLS_HOST
    for error in (TransientAwsError("x"), AccessDeniedError("x"), AwsRequestError("x")):
        assert decide_directory_failure(error) == FAIL
