"""Pure parts: body parsing, naming, config validation, error translation, queue URLs."""

from __future__ import annotations

import json
import re

import pytest
from botocore.exceptions import ClientError

from handlers.domain_join.adapter import translate_error
from handlers.domain_join.errors import (
    AccessDeniedError,
    AwsRequestError,
    ConfigInvalidError,
    MalformedMessageError,
    TransientAwsError,
)
from handlers.domain_join.events import parse_body
from handlers.domain_join.model import AccountConfig
from handlers.domain_join.naming import (
    computer_name,
    one_time_password,
    ownership_stamp,
    parse_ownership_stamp,
)

from .harness import HOME_REGION, SPOKE_A, eventbridge_body, raw_body, sns_body, state_change

MALFORMED = {
    "not JSON": ("{not json", "body is not JSON"),
    "JSON list": ("[1, 2]", "body is not a JSON object"),
    "other source": (
        json.dumps({**state_change(SPOKE_A, HOME_REGION, "i-0123456789abcdef0"), "source": "aws.s3"}),
        "not an EC2 state-change event",
    ),
    "no instance id": (
        json.dumps(
            {**state_change(SPOKE_A, HOME_REGION, "i-0123456789abcdef0"), "detail": {"state": "running"}}
        ),
        "event lacks instance-id",
    ),
    "no account": (
        json.dumps(
            {
                k: v
                for k, v in state_change(SPOKE_A, HOME_REGION, "i-0123456789abcdef0").items()
                if k != "account"
            }
        ),
        "event lacks account",
    ),
    "bad region": (json.dumps(state_change(SPOKE_A, "Mars", "i-0123456789abcdef0")), "invalid region"),
    "SNS with non-JSON message": (
        json.dumps({"Type": "Notification", "Message": "hello"}),
        "SNS Message is not JSON",
    ),
    "unsupported state": (
        json.dumps(state_change(SPOKE_A, HOME_REGION, "i-0123456789abcdef0", "stopping")),
        "unsupported state 'stopping'",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_body_is_refused_naming_the_problem(case: str) -> None:
    body, reason = MALFORMED[case]
    with pytest.raises(MalformedMessageError) as raised:
        parse_body(body)
    assert reason in raised.value.reason


@pytest.mark.parametrize("form", [eventbridge_body, sns_body, raw_body])
def test_all_three_body_forms_parse_to_the_same_change(form: object) -> None:
    change = parse_body(form("111111111111", "eu-west-1", "i-0abc1234def567890", "terminated"))  # type: ignore[operator]
    assert (change.account, change.region, change.instance_id, change.state) == (
        "111111111111",
        "eu-west-1",
        "i-0abc1234def567890",
        "terminated",
    )


def test_sns_envelope_with_a_non_string_message_is_malformed() -> None:
    with pytest.raises(MalformedMessageError, match="Message is not a string"):
        parse_body(json.dumps({"Type": "Notification", "Message": {"a": 1}}))


@pytest.mark.parametrize("body", [None, "", "   "])
def test_empty_body_is_malformed(body: str | None) -> None:
    with pytest.raises(MalformedMessageError):
        parse_body(body)


def test_computer_name_is_deterministic_short_and_netbios_safe() -> None:
    ids = [f"i-{n:017x}" for n in range(2000)]
    names = [computer_name(i) for i in ids]
    assert names == [computer_name(i) for i in ids]
    assert len(set(names)) == len(ids)
    assert all(re.fullmatch(r"[A-Z][A-Z0-9-]{0,14}", n) for n in names)
    assert computer_name("i-0123456789abcdef0", "WEB-").startswith("WEB-")
    assert len(computer_name("i-0123456789abcdef0", "ABCDEFG")) == 15


@pytest.mark.parametrize("prefix", ["", "1AB", "TOOLONGX", "ab", "A_B"])
def test_invalid_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        computer_name("i-0123456789abcdef0", prefix)


def test_one_time_passwords_are_alphanumeric_with_every_class_and_unique() -> None:
    otps = [one_time_password() for _ in range(200)]
    assert len(set(otps)) == 200
    for otp in otps:
        assert re.fullmatch(r"[A-Za-z0-9]{24,}", otp)
        assert re.search(r"[a-z]", otp) and re.search(r"[A-Z]", otp) and re.search(r"[0-9]", otp)


def test_stamp_names_account_region_and_instance() -> None:
    assert ownership_stamp("111111111111", "eu-west-1", "i-1") == "ec2-domain-join:111111111111/eu-west-1/i-1"


def test_a_stamp_is_read_back_and_anything_else_is_not() -> None:
    # GIVEN a stamp we write
    stamp = ownership_stamp("111111111111", "eu-west-1", "i-0123456789abcdef0")
    # THEN it parses back to its parts; a look-alike (other prefix, extra text, short account) does not
    assert parse_ownership_stamp(stamp) == ("111111111111", "eu-west-1", "i-0123456789abcdef0")
    for other in (
        stamp.replace("ec2-domain-join", "ec2-domainjoin"),
        stamp + " ",
        stamp.replace("1111", "11", 1),
    ):
        assert parse_ownership_stamp(other) is None


def seed_item(**overrides: object) -> dict[str, object]:
    item: dict[str, object] = {
        "accountId": SPOKE_A,
        "adJoinUserName": "svc",
        "adJoinUserPwParam": "/p",
        "dnsName": "corp.example.com",
        "dnsIP1": "10.0.0.2",
    }
    item.update(overrides)
    return item


def test_seed_item_without_role_uses_the_default_execution_role() -> None:
    config = AccountConfig.from_item(SPOKE_A, seed_item())
    assert config.role_arn == f"arn:aws:iam::{SPOKE_A}:role/ec2-domain-join-execution"
    assert config.dns_ips == ("10.0.0.2",)
    assert config.install_rds_role is False


def test_default_role_name_can_be_given() -> None:
    config = AccountConfig.from_item(SPOKE_A, seed_item(), spoke_role_name="org-ad-join")
    assert config.role_arn == f"arn:aws:iam::{SPOKE_A}:role/org-ad-join"
    explicit = AccountConfig.from_item(
        SPOKE_A, seed_item(assumeRoleARN=f"arn:aws:iam::{SPOKE_A}:role/mine"), spoke_role_name="org-ad-join"
    )
    assert explicit.role_arn == f"arn:aws:iam::{SPOKE_A}:role/mine"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"dnsName": None}, "lacks dnsName"),
        ({"adJoinUserPwParam": ""}, "lacks adJoinUserPwParam"),
        ({"dnsName": "not a domain"}, "not a DNS name"),
        ({"dnsIP2": "10.0.0.300"}, "not IPv4"),
        ({"assumeRoleARN": "arn:aws:iam::222222222222:role/x"}, "is in account 222222222222"),
        ({"assumeRoleARN": "role/x"}, "not a role ARN"),
        ({"computerNamePrefix": "9lives"}, "computerNamePrefix"),
        ({"adJoinUserName": "svc; whoami"}, "adJoinUserName"),
        ({"adJoinUserPwParam": "/p $(x)"}, "adJoinUserPwParam"),
        ({"ouPath": "OU=Servers;DC=corp"}, "ouPath"),
        ({"sudoGroupName": "admins`id`"}, "sudoGroupName"),
    ],
)
def test_invalid_config_is_refused_naming_the_account(overrides: dict[str, object], message: str) -> None:
    item = {k: v for k, v in seed_item(**overrides).items() if v is not None}
    with pytest.raises(ConfigInvalidError, match=message) as raised:
        AccountConfig.from_item(SPOKE_A, item)
    assert SPOKE_A in str(raised.value)


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op"
    )


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("Throttling", 400, TransientAwsError),
        ("RequestLimitExceeded", 503, TransientAwsError),
        ("ProvisionedThroughputExceededException", 400, TransientAwsError),
        ("SomethingNew", 502, TransientAwsError),
        ("AccessDenied", 403, AccessDeniedError),
        ("UnauthorizedOperation", 403, AccessDeniedError),
        ("InvalidDocument", 400, AwsRequestError),
    ],
)
def test_client_errors_are_translated(code: str, status: int, expected: type[Exception]) -> None:
    error = translate_error(client_error(code, status), "svc:Op")
    assert type(error) is expected
    assert code in str(error)


def test_handler_validation_uses_the_document_patterns() -> None:
    from handlers.domain_join import model, patterns, wire
    from modules.documents import PATTERNS

    # Optional values: the documents also allow "" (the handler checks only what is given).
    assert PATTERNS["group"] == patterns.document_pattern(model.GROUP_RE, optional=True)
    assert PATTERNS["ou"] == patterns.document_pattern(model._OU_RE, optional=True)
    assert PATTERNS["user"] == patterns.document_pattern(model._USER_RE)
    assert PATTERNS["parameter_name"] == patterns.document_pattern(model._PARAMETER_NAME_RE)
    # The Computers values the engine encodes (wire.py) are what the documents accept.
    assert PATTERNS["join_computers"] == wire.JOIN_PARAMETER_PATTERN  # plain or sealed
    assert PATTERNS["prestage_computers"] == wire.PRESTAGE_PARAMETER_PATTERN
    assert PATTERNS["remove_computers"] == wire.REMOVE_PATTERN


def test_boto3_and_botocore_are_imported_only_by_the_adapter() -> None:
    import ast
    from pathlib import Path

    package = Path(__file__).resolve().parents[2] / "handlers" / "domain_join"
    importers = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            if any(n.split(".")[0] in ("boto3", "botocore") for n in names):
                importers.add(path.relative_to(package).parts[0])
    assert importers == {"adapter"}
