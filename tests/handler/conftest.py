"""Fixtures for the handler tests; the moto world itself lives in harness.py."""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Iterator
from pathlib import Path

# moto builds every EC2 backend (one per account and Region) from its AMI catalogue: ~0.3 s each with
# the default one.  Two images (a Linux one and a Windows one) are all the handler tests launch.  Read
# when moto's EC2 models are imported, so this must come before any moto import.
os.environ.setdefault("MOTO_AMIS_PATH", str(Path(__file__).with_name("amis.json")))

import pytest
from moto import mock_aws
from moto.sts import models as moto_sts_models

from modules import documents

from .harness import HOME_REGION, CurrentStdout, FakeContext, World, app_module


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": HOME_REGION,
        "AWS_REGION": HOME_REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    # One boto3 session for the whole run: a fresh one per test (moto's default) loads every service
    # model again, which cost more than the tests themselves.
    with mock_aws(config={"core": {"reset_boto3_session": False}}):
        yield


@pytest.fixture
def world(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[World]:
    """GIVEN a hub (tables, queues, tools host, join password) and the handler wired to it."""
    # Powertools bound its log stream at import; point it at this test's captured stdout.
    monkeypatch.setattr(app_module.logger.registered_handler, "stream", CurrentStdout())
    w = World()
    # moto's STS stamps session expiry from its own clock; let it follow the test clock.
    monkeypatch.setattr(
        moto_sts_models,
        "utcnow",
        lambda: datetime.datetime.fromtimestamp(w.clock(), datetime.UTC).replace(tzinfo=None),
    )
    env = w.provision()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(
        app_module,
        "_app",
        app_module.build_app(FakeContext(), client_factory=w.handler_client_factory, clock=w.clock),
    )
    yield w
    # Every command the handler sent must pass the real documents' parameter checks.
    assert_commands_fit_documents(w)


def assert_commands_fit_documents(world: World) -> None:
    specs = {spec.name: spec for spec in (documents.JOIN, *documents.TOOLS_HOST_DOCUMENTS)}
    for call in world.calls_of("SendCommand"):
        spec = specs[call.params["DocumentName"]]
        sent = {name: values[0] for name, values in call.params["Parameters"].items()}
        # Every parameter, explicitly: none is left to a document default (DomainJoin-Remove's Action too).
        assert set(sent) == {p.name for p in spec.parameters}, spec.name
        for parameter in spec.parameters:
            assert re.match(parameter.pattern, sent[parameter.name]), (spec.name, parameter.name)
        assert 1 <= len(call.params["InstanceIds"]) <= 50
