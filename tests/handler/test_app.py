"""Cold start: the entry point builds its settings and real boto3 clients from the environment."""

from __future__ import annotations

import pytest

from handlers.domain_join import contract
from handlers.domain_join import settings as S
from handlers.domain_join.settings import Settings

from .harness import HOME_REGION, SPOKE_A, FakeContext, World, app_module, eventbridge_body


def test_cold_start_wires_real_boto3_clients_from_the_environment(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a fresh container (no app yet) in the environment the hub module sets
    monkeypatch.setattr(app_module, "_app", None)
    world.put_config(SPOKE_A)
    event = world.deliver([eventbridge_body(SPOKE_A, HOME_REGION, "i-0123456789abcdef0", "terminated")])

    # WHEN the entry point runs twice
    first = app_module.lambda_handler(event, FakeContext())
    built = app_module._app
    second = app_module.lambda_handler(event, FakeContext())

    # THEN it answered from moto through its own clients, and kept one app (and its caches) for the container
    assert first == second == {"batchItemFailures": []}
    assert built is not None and app_module._app is built
    assert built.settings.ledger_table == "domain-join-ledger"
    assert built.settings.config_cache_ttl_seconds == S.CONFIG_CACHE_TTL_SECONDS.default


def test_missing_environment_variable_is_named() -> None:
    env = {"AWS_REGION": HOME_REGION, contract.ENV_CONFIG_TABLE: "t"}
    with pytest.raises(S.SettingError, match=contract.ENV_LEDGER_TABLE):
        Settings.from_env(env)


def test_optional_settings_have_their_defaults() -> None:
    env = {
        "AWS_REGION": HOME_REGION,
        contract.ENV_CONFIG_TABLE: "c",
        contract.ENV_LEDGER_TABLE: "l",
        contract.ENV_DEAD_LETTER_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/d",
    }
    settings = Settings.from_env(env)
    # THEN every tunable has the default of the one settings table
    for setting in S.SETTINGS.values():
        if setting.env is not None:
            assert getattr(settings, setting.name) == setting.default, setting.name
    assert settings.ledger_lease_seconds is None  # derived from the invocation's own timeout


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        (S.READINESS_DEADLINE_SECONDS, "59"),
        (S.READINESS_DEADLINE_SECONDS, "86401"),
        (S.MAX_COMMAND_ATTEMPTS, "0"),
        (S.MAX_COMMAND_ATTEMPTS, "many"),
        (S.CONFIG_CACHE_TTL_SECONDS, "-1"),
    ],
)
def test_a_setting_outside_its_range_is_refused_naming_its_variable(setting: S.Setting, value: str) -> None:
    # GIVEN an environment with one tunable outside what the settings table allows
    env = {
        "AWS_REGION": HOME_REGION,
        contract.ENV_CONFIG_TABLE: "c",
        contract.ENV_LEDGER_TABLE: "l",
        contract.ENV_DEAD_LETTER_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/d",
        str(setting.env): value,
    }
    # WHEN the handler reads it, THEN it refuses, naming the variable
    with pytest.raises(S.SettingError, match=str(setting.env)):
        Settings.from_env(env)


def test_external_id_is_presented_when_configured(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the hub module set SPOKE_ROLE_EXTERNAL_ID
    monkeypatch.setenv(contract.ENV_SPOKE_ROLE_EXTERNAL_ID, "org-domain-join-7f3a")
    monkeypatch.setattr(
        app_module,
        "_app",
        app_module.build_app(FakeContext(), client_factory=world.handler_client_factory, clock=world.clock),
    )
    world.put_config(SPOKE_A)
    (instance,) = world.launch(SPOKE_A)

    # WHEN an instance of a spoke starts
    world.run([eventbridge_body(SPOKE_A, HOME_REGION, instance)])

    # THEN the role is assumed with that external id and the hub's session name
    (assume,) = world.calls_of("AssumeRole")
    assert assume.params["ExternalId"] == "org-domain-join-7f3a"
    assert assume.params["RoleSessionName"] == "ec2-domain-join"


def test_a_bug_in_the_engine_retries_the_batch_instead_of_losing_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an engine that crashes, and a batch with one good and one malformed body
    def crash(*_: object) -> None:
        raise KeyError("bug")

    monkeypatch.setattr(app_module._app._engine, "process", crash)  # type: ignore[union-attr]
    world.put_config(SPOKE_A)
    body = eventbridge_body(SPOKE_A, HOME_REGION, "i-0123456789abcdef0")
    event = world.deliver([body, "not json"])

    # WHEN it is handled
    response = world.invoke(event)

    # THEN the good record is reported failed (retried later); the malformed one still went to the DLQ
    (good,) = [r["messageId"] for r in event["Records"] if r["body"] == body]
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == [good]
    assert len(world.dead_letters()) == 1
