"""Props classes: secure defaults, and validation errors that name the bad field."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from handlers.domain_join import backoff, settings
from modules.artifact import S3Artifact
from modules.forwarder import RegionForwarderProps
from modules.hub import HubProps
from modules.key import EncryptionKeyProps
from modules.queue import DeadLetterQueue, QueueProps
from modules.spoke import SpokeProps
from modules.table import EncryptedTableProps
from modules.validation import PropsError

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]


def hub_props(**changes: Any) -> HubProps:
    base = HubProps(
        account_id="111111111111",
        region="eu-west-1",
        artifact=S3Artifact("bucket", "key"),
        organization_id="o-abcdefghij",
    )
    return replace(base, **changes)


def spoke_props(**changes: Any) -> SpokeProps:
    base = SpokeProps(
        account_id="222222222222",
        regions=["eu-west-1"],
        security_account_id="111111111111",
        hub_lambda_role_arn="arn:aws:iam::111111111111:role/domain-join-handler",
    )
    return replace(base, **changes)


def test_hub_defaults_are_the_secure_documented_ones() -> None:
    props = hub_props()
    assert props.join_delay_seconds == 300
    assert props.visibility_timeout_seconds == 6 * props.function_timeout_seconds
    assert props.batch_size == 10 and props.log_retention_days >= 365
    assert props.create_config_table and props.config_table_billing_mode == "PAY_PER_REQUEST"
    assert props.spoke_role_external_id is None
    assert props.max_command_attempts == 3


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("account_id", "1111"),
        ("region", "Europe"),
        ("organization_id", "org-1"),
        ("join_delay_seconds", 901),
        ("function_timeout_seconds", 5),
        ("batch_size", 11),
        ("reserved_concurrency", 1),
        ("log_retention_days", 42),
        ("config_table_billing_mode", "FREE"),
        ("forwarder_regions", ["eu-west-1"]),  # the home Region
        ("forwarder_regions", ["us-east-1", "us-east-1"]),
        ("spoke_role_name", "bad role"),
        ("tools_host_tag_key", ""),
        ("max_command_attempts", 0),
        ("max_command_attempts", 11),
    ],
)
def test_hub_validation_names_the_field(field: str, value: Any) -> None:
    with pytest.raises(PropsError) as caught:
        hub_props(**{field: value})
    assert caught.value.field.split("[")[0] == field
    assert str(caught.value).startswith(f"{field}")


@pytest.mark.parametrize("deadline", [60, 900, 3600, 7200, 10_000, 43_200, 86_400])
def test_max_receive_count_outlasts_the_handlers_readiness_deadline(deadline: int) -> None:
    props = hub_props(readiness_deadline_seconds=deadline)
    # two receives are left over for invocations that fail (throttling, timeouts)
    assert props.max_receive_count >= backoff.receives_within(deadline) + 2
    assert props.max_receive_count >= 10


def test_hub_needs_an_organization_or_an_account_list() -> None:
    with pytest.raises(PropsError, match="organization_id"):
        hub_props(organization_id=None)
    assert hub_props(organization_id=None, principal_account_ids=["222222222222"]).principal_account_ids


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("regions", []),
        ("regions", ["eu-west-1", "moon-1"]),
        ("security_account_id", "x"),
        ("hub_lambda_role_arn", "arn:aws:iam::111111111111:user/someone"),
        ("execution_role_name", "a" * 65),
        ("spoke_role_external_id", "x"),
        ("maximum_retry_attempts", 186),
    ],
)
def test_spoke_validation_names_the_field(field: str, value: Any) -> None:
    with pytest.raises(PropsError) as caught:
        spoke_props(**{field: value})
    assert caught.value.field.split("[")[0] == field


def test_forwarder_rejects_the_home_region() -> None:
    with pytest.raises(PropsError) as caught:
        RegionForwarderProps(
            account_id="111111111111",
            region="eu-west-1",
            home_region="eu-west-1",
            organization_id="o-abcdefghij",
        )
    assert caught.value.field == "region"


def test_cdktf_json_runs_main_py_as_python_without_provider_downloads() -> None:
    config = json.loads((REPOSITORY_ROOT / "cdktf.json").read_text())
    assert config["language"] == "python"
    assert config["app"].endswith("python main.py")
    assert config["terraformProviders"] == [] and config["terraformModules"] == []


def test_security_account_spoke_must_not_forward_its_events() -> None:
    """Its default buses already feed the hub and forwarders: a forwarding rule would clash and loop."""
    with pytest.raises(PropsError) as caught:
        spoke_props(account_id="111111111111")
    assert caught.value.field == "forward_events"
    assert spoke_props(account_id="111111111111", forward_events=False).forward_events is False


# --- building blocks -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("props", "field"),
    [
        (
            lambda: QueueProps(name="q", arn="arn:aws:sqs:eu-west-1:111111111111:q", delay_seconds=901),
            "delay_seconds",
        ),
        (
            lambda: QueueProps(
                name="q",
                arn="arn:aws:sqs:eu-west-1:111111111111:q",
                dead_letter_queue=DeadLetterQueue(
                    arn="arn:aws:sqs:eu-west-1:111111111111:d", max_receive_count=0
                ),
            ),
            "dead_letter_queue.max_receive_count",
        ),
        (
            lambda: EncryptionKeyProps(
                account_root_arn="arn:aws:iam::111111111111:root", alias="x", description="d"
            ),
            "alias",
        ),
        (
            lambda: EncryptedTableProps(name="t", partition_key="k", kms_key_arn="k", billing_mode="FREE"),
            "billing_mode",
        ),
        (
            lambda: EncryptedTableProps(name="t", partition_key="k", kms_key_arn="k", created=False),
            "created",
        ),
    ],
)
def test_building_block_validation_names_the_field(props: Any, field: str) -> None:
    with pytest.raises(PropsError) as caught:
        props()
    assert caught.value.field == field


def test_hub_settings_come_from_the_settings_table() -> None:
    # GIVEN the settings shared with the handler, THEN the hub's defaults are the table's, its checks the
    # table's ranges
    props = hub_props()
    for setting in (
        settings.READINESS_DEADLINE_SECONDS,
        settings.POWERTOOLS_LAYER_VERSION,
        settings.JOIN_DELAY_SECONDS,
    ):
        assert getattr(props, setting.name) == setting.default
        assert setting.high is not None
        with pytest.raises(PropsError) as caught:
            hub_props(**{setting.name: setting.high + 1})
        assert caught.value.field == setting.name
        assert hub_props(**{setting.name: setting.high})
