"""The tier's plans are offline: GIVEN every AWS endpoint pointed at the local stub, WHEN every selected work
dir has been checked, THEN the only AWS call any of them made is STS GetCallerIdentity (which
`aws_caller_identity` data sources make at plan time, answered by the stub)."""

from __future__ import annotations

import pytest

from .tfcli import StsStub
from .tier import Tier


@pytest.mark.terraform
def test_the_only_aws_call_of_any_check_is_get_caller_identity(tier: Tier, sts_stub: StsStub) -> None:
    outcomes = tier.wait_all()

    assert outcomes, "no work dir was checked in this session"
    assert sts_stub.actions() <= {"GetCallerIdentity"}, sts_stub.requests
