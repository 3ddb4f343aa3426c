"""The one table of settings (settings.py): pure, no AWS."""

from __future__ import annotations

import dataclasses

import pytest

from handlers.domain_join import contract
from handlers.domain_join import settings as S
from handlers.domain_join.settings import Settings


def test_every_default_is_allowed_by_its_own_setting() -> None:
    for setting in S.SETTINGS.values():
        if setting.default is not None:
            assert S.check(setting, setting.default) is None, setting.name


def test_the_table_is_keyed_by_name_and_its_environment_names_come_from_the_contract() -> None:
    contract_names = {v for k, v in vars(contract).items() if k.startswith("ENV_")}
    for name, setting in S.SETTINGS.items():
        assert setting.name == name
        assert setting.env is None or setting.env in contract_names, name


def test_every_handler_setting_of_the_table_is_a_field_of_the_handler_settings() -> None:
    fields = {f.name for f in dataclasses.fields(Settings)}
    assert {s.name for s in S.SETTINGS.values() if s.env is not None} <= fields


@pytest.mark.parametrize(
    ("setting", "value", "problem"),
    [
        (S.READINESS_DEADLINE_SECONDS, 59, "not between 60 and 86400"),
        (S.READINESS_DEADLINE_SECONDS, 86401, "not between 60 and 86400"),
        (S.READINESS_DEADLINE_SECONDS, True, "not a whole number"),
        (S.READINESS_DEADLINE_SECONDS, "3600", "not a whole number"),
        (S.MAX_COMMAND_ATTEMPTS, 11, "not between 1 and 10"),
        (S.JOIN_DELAY_SECONDS, 901, "not between 0 and 900"),
        (S.TOOLS_HOST_TAG_KEY, "", "must not be empty"),
        (S.TOOLS_HOST_TAG_KEY, "k" * 129, "longer than 128"),
        (S.TOOLS_HOST_TAG_VALUE, 1, "not a string"),
    ],
)
def test_check_names_the_setting_and_the_problem(setting: S.Setting, value: object, problem: str) -> None:
    message = S.check(setting, value)
    assert message is not None
    assert message.startswith(f"{setting.name}: ") and problem in message


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        (S.READINESS_DEADLINE_SECONDS, 60),
        (S.READINESS_DEADLINE_SECONDS, 86400),
        (S.MAX_COMMAND_ATTEMPTS, 1),
        (S.MAX_COMMAND_ATTEMPTS, 10),
        (S.JOIN_DELAY_SECONDS, 0),
        (S.SPOKE_ROLE_EXTERNAL_ID, ""),
    ],
)
def test_check_accepts_the_ends_of_each_range(setting: S.Setting, value: object) -> None:
    assert S.check(setting, value) is None


def test_parse_gives_the_default_for_blank_and_the_typed_value_otherwise() -> None:
    assert S.parse(S.MAX_COMMAND_ATTEMPTS, None) == S.MAX_COMMAND_ATTEMPTS.default
    assert S.parse(S.MAX_COMMAND_ATTEMPTS, "  ") == S.MAX_COMMAND_ATTEMPTS.default
    assert S.parse(S.MAX_COMMAND_ATTEMPTS, " 7 ") == 7
    assert S.parse(S.TOOLS_HOST_TAG_KEY, " Role ") == "Role"
    with pytest.raises(S.SettingError, match=contract.ENV_MAX_COMMAND_ATTEMPTS):
        S.parse(S.MAX_COMMAND_ATTEMPTS, "3.5")


def test_the_lease_is_twice_the_function_timeout_and_within_its_range() -> None:
    # GIVEN every function timeout the table allows
    for timeout in (S.FUNCTION_TIMEOUT_SECONDS.low, S.FUNCTION_TIMEOUT_SECONDS.default, 900):
        lease = S.ledger_lease_seconds(int(timeout or 0))
        # THEN the lease outlives the invocation, and the table allows it
        assert lease == S.LEDGER_LEASE_FACTOR * int(timeout or 0) > int(timeout or 0)
        assert S.check(S.LEDGER_LEASE_SECONDS, lease) is None
