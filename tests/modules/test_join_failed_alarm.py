"""The hub's alarm on given-up joins: the handler's `JoinFailed` metric, exactly as Powertools emits it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from modules_testlib import SECURITY_ACCOUNT, minimal_hub_props, synthesize_hubs

from handlers.domain_join import settings
from handlers.domain_join.decisions import JOIN_FAILED_OUTCOME
from modules import naming
from modules.artifact import S3Artifact
from modules.landing_zone import LandingZoneError, load_landing_zone
from modules.stacks import hub_props
from modules.validation import PropsError

ACCOUNT = SECURITY_ACCOUNT  # the account of minimal_hub_props
TOPIC = f"arn:aws:sns:eu-west-1:{ACCOUNT}:ops-alerts"


props = minimal_hub_props


@pytest.fixture(scope="module")
def hubs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Two hubs synthesized once: the defaults, and a tuned alarm that notifies a topic."""
    tuned = props(join_failed_alarm_threshold=10, join_failed_alarm_period_minutes=15, alarm_topic_arn=TOPIC)
    return synthesize_hubs(
        tmp_path_factory.mktemp("join-failed-alarm"),
        {"defaults": ("eu-west-1", props()), "tuned": ("eu-west-1", tuned)},
    )


def join_failed_alarm(stack: dict[str, Any]) -> dict[str, Any]:
    alarms = [
        a
        for a in stack["resource"]["aws_cloudwatch_metric_alarm"].values()
        if a["alarm_name"] == naming.join_failed_alarm_name()
    ]
    assert len(alarms) == 1
    return alarms[0]


def emitted_by_the_handler(stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The EMF blob of one `JoinFailed` count, from Powertools configured by the synthesized function's own
    environment, as app.py's module-level `Metrics()` is in Lambda."""
    [function] = stack["resource"]["aws_lambda_function"].values()
    for variable, value in function["environment"]["variables"].items():
        if variable.startswith("POWERTOOLS_"):
            monkeypatch.setenv(variable, value)
    metrics = Metrics()
    try:
        metrics.add_metric(name=JOIN_FAILED_OUTCOME, unit=MetricUnit.Count, value=1)
        return dict(metrics.serialize_metric_set())
    finally:
        metrics.clear_metrics()


def test_the_alarm_watches_exactly_the_metric_the_handler_emits(
    hubs: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the hub's alarm and what the handler's Powertools emits for a given-up join
    alarm = join_failed_alarm(hubs["defaults"])
    blob = emitted_by_the_handler(hubs["defaults"], monkeypatch)
    [definition] = blob["_aws"]["CloudWatchMetrics"]
    # THEN namespace, metric name and every dimension (name and value) are the same
    assert alarm["namespace"] == definition["Namespace"]
    assert [m["Name"] for m in definition["Metrics"]] == [alarm["metric_name"]]
    dimension_names = {name for names in definition["Dimensions"] for name in names}
    assert alarm["dimensions"] == {name: blob[name] for name in dimension_names}


def test_default_alarm_counts_given_up_joins_per_hour_and_ignores_missing_data(
    hubs: dict[str, dict[str, Any]],
) -> None:
    alarm = join_failed_alarm(hubs["defaults"])
    assert alarm["statistic"] == "Sum"
    assert alarm["period"] == 60 * settings.JOIN_FAILED_ALARM_PERIOD_MINUTES.default  # type: ignore[operator]
    assert alarm["threshold"] == settings.JOIN_FAILED_ALARM_THRESHOLD.default
    assert alarm["evaluation_periods"] == 1
    assert alarm["comparison_operator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["treat_missing_data"] == "notBreaching"
    assert "alarm_actions" not in alarm  # no topic: the alarm still shows in the console


def test_tuned_alarm_uses_the_props_and_notifies_the_hubs_alarm_topic(
    hubs: dict[str, dict[str, Any]],
) -> None:
    alarm = join_failed_alarm(hubs["tuned"])
    assert (alarm["threshold"], alarm["period"]) == (10, 15 * 60)
    assert alarm["alarm_actions"] == alarm["ok_actions"] == [TOPIC]
    dlq_alarm = [
        a
        for a in hubs["tuned"]["resource"]["aws_cloudwatch_metric_alarm"].values()
        if a["alarm_name"] == naming.dead_letter_alarm_name()
    ]
    assert dlq_alarm and dlq_alarm[0]["alarm_actions"] == [TOPIC]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("join_failed_alarm_threshold", 0),
        ("join_failed_alarm_threshold", settings.JOIN_FAILED_ALARM_THRESHOLD.high + 1),  # type: ignore[operator]
        ("join_failed_alarm_period_minutes", 0),
        ("join_failed_alarm_period_minutes", 1441),
        ("join_failed_alarm_period_minutes", "60"),
    ],
)
def test_out_of_range_alarm_props_name_the_field(field: str, value: Any) -> None:
    with pytest.raises(PropsError) as caught:
        props(**{field: value})
    assert caught.value.field == field


def write(tmp_path: Path, **extra: Any) -> Path:
    data = {
        "organization_id": "o-abcdefghij",
        "security_account_id": ACCOUNT,
        "home_region": "eu-west-1",
        "spokes": [{"account_id": "222222222222", "regions": ["eu-west-1"]}],
        **extra,
    }
    path = tmp_path / "landing-zone.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_landing_zone_tunes_the_alarm(tmp_path: Path) -> None:
    lz = load_landing_zone(
        write(tmp_path, join_failed_alarm_threshold=7, join_failed_alarm_period_minutes=30)
    )
    given = hub_props(lz, S3Artifact("bucket", "key"))
    assert (given.join_failed_alarm_threshold, given.join_failed_alarm_period_minutes) == (7, 30)


def test_the_landing_zone_names_a_bad_alarm_setting(tmp_path: Path) -> None:
    with pytest.raises(LandingZoneError) as caught:
        load_landing_zone(write(tmp_path, join_failed_alarm_period_minutes=5000))
    assert any(": join_failed_alarm_period_minutes: " in p for p in caught.value.problems)
