"""Session fixtures of the Terraform tier: the CLI with an offline config, the provider schema, the STS stub
and the `Tier` that checks work dirs.  Without Terraform or a provider mirror the tier skips, saying which is
missing; under CI=true it fails instead, because CI must run it."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from .tfcli import (
    MIRROR_CANDIDATES,
    StsStub,
    Terraform,
    cli_config,
    find_mirror,
    find_terraform,
    offline_environment,
    unavailable,
)
from .tier import Context, Job, Tier
from .v5 import Schema, version_override

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@pytest.fixture(scope="session")
def terraform_cli(tmp_path_factory: pytest.TempPathFactory, sts_stub: StsStub) -> Terraform:
    binary = find_terraform()
    if binary is None:
        unavailable("the terraform CLI is not on PATH")
    mirror = find_mirror()
    if mirror is None:
        places = ", ".join(str(place) for place in MIRROR_CANDIDATES)
        unavailable(f"no terraform-provider-aws* in a provider mirror ({places})")
    assert binary is not None and mirror is not None
    root = tmp_path_factory.mktemp("terraform-cli")
    cache = root / "plugin-cache"
    cache.mkdir()
    config = root / "terraform.tfrc"
    config.write_text(cli_config(mirror.path, cache))
    return Terraform(binary, offline_environment(config, cache, sts_stub.endpoint()))


@pytest.fixture(scope="session")
def provider_schema(terraform_cli: Terraform, tmp_path_factory: pytest.TempPathFactory) -> Schema:
    """The mirror provider's schema, read from a work dir that only requires it."""
    workdir = tmp_path_factory.mktemp("provider-schema")
    (workdir / "main.tf.json").write_text(json.dumps(version_override()))
    init = terraform_cli.run(workdir, "init", "-backend=false", "-input=false", "-no-color")
    assert init.returncode == 0, f"terraform init against the provider mirror failed:\n{init.output}"
    return Schema.from_provider_schema(terraform_cli.provider_schema(workdir))


@pytest.fixture(scope="session")
def sts_stub() -> Iterator[StsStub]:
    with StsStub() as stub:
        yield stub


@pytest.fixture(scope="session")
def tier(
    request: pytest.FixtureRequest,
    terraform_cli: Terraform,
    provider_schema: Schema,
    sts_stub: StsStub,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Tier]:
    """Checks work dirs; on first use queues the job of every selected test, in test order."""
    tier = Tier(terraform_cli, Context(provider_schema, sts_stub, tmp_path_factory.mktemp("terraform-tier")))
    jobs = [
        item.callspec.params["job"]
        for item in request.session.items
        if isinstance(getattr(item, "callspec", None) and item.callspec.params.get("job"), Job)
    ]
    tier.submit(sorted(jobs, key=lambda job: job.cost))  # stable: test order within a cost
    yield tier
    tier.close()
