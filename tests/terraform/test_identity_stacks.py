"""The identity stack, read by the real Terraform CLI (provider 5.100 from the mirror), and the Entra stack's
SCIM variables.

GIVEN examples/landing-zone-identity.yaml's identity stack (adapted like every other stack, see `v5`), WHEN it
goes through init, validate and an offline plan, THEN the plan creates every declared resource.  Its data
sources read AWS at plan time (`aws_ssoadmin_instances`, `aws_identitystore_group` by display name), so this
job's provider sends sso-admin and identitystore, and only those, to a moto server on 127.0.0.1 (its own
process), seeded with the groups that SCIM would have provisioned; STS and every other service stay on the
tier's stub.

The azuread provider is not in the local mirror: the Entra stack cannot be initialized here, and its resources
are asserted on the synthesized JSON (tests/modules/test_identity.py).  Its SCIM endpoint variable's
validation needs no provider, so it is planned here on its own, with a good and a bad endpoint.
"""

from __future__ import annotations

import atexit
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from modules import naming
from modules.landing_zone import load_landing_zone

from .test_stacks import assert_plans_every_declared_resource
from .tfcli import Terraform
from .tier import EXAMPLES, Context, Job, Prepared, Tier, prepare_stack

EXAMPLE = EXAMPLES / "landing-zone-identity.yaml"
MOTO_ACCOUNT = "123456789012"  # moto's default: the account of the tier's dummy access key


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def moto_server(context: Context) -> str:
    """A moto server in its own process (its state is nobody else's), stopped when the session ends."""

    def start() -> str:
        port = _free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        atexit.register(process.terminate)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return f"http://127.0.0.1:{port}"
            except OSError:
                time.sleep(0.2)
        process.terminate()
        raise RuntimeError("the moto server did not start within 30 s")

    endpoint: str = context.value("moto-identity", start)
    return endpoint


def _seed_groups(endpoint: str, region: str, groups: tuple[str, ...]) -> None:
    """The groups SCIM would have put in the store of moto's instance."""
    import boto3

    options: dict[str, Any] = {
        "region_name": region,
        "endpoint_url": endpoint,
        "aws_access_key_id": "AKIAOFFLINEPLANTIER0",
        "aws_secret_access_key": "offline",
    }
    [instance] = boto3.client("sso-admin", **options).list_instances()["Instances"]
    store = boto3.client("identitystore", **options)
    for group in groups:
        store.create_group(IdentityStoreId=instance["IdentityStoreId"], DisplayName=group)


def synthesize_identity(outdir: Path) -> Path:
    """The example's identity stacks only (the other units have their own jobs); returns the stacks folder."""
    from modules.cdk import App
    from modules.stacks import _identity_stacks

    lz = load_landing_zone(EXAMPLE)
    assert lz.identity is not None
    app = App(outdir=str(outdir))
    _identity_stacks(app, lz, lz.identity, outdir, lambda name: None)
    app.synth()
    return outdir / "stacks"


def _prepare_identity(context: Context) -> Prepared:
    lz = load_landing_zone(EXAMPLE)
    assert lz.identity is not None
    stacks = synthesize_identity(context.root / "synth-identity")
    prepared = prepare_stack(context, stacks / naming.IDENTITY_STACK, "identity")
    endpoint = moto_server(context)
    _seed_groups(endpoint, lz.identity.region, lz.identity.groups)
    stack_file = prepared.workdir / "cdk.tf.json"
    config = json.loads(stack_file.read_text())
    for provider in config["provider"]["aws"]:
        provider["endpoints"][0] |= {"ssoadmin": endpoint, "identitystore": endpoint}
    stack_file.write_text(json.dumps(config, indent=2))
    return prepared


IDENTITY_JOB = Job("identity[identity]", _prepare_identity, cost=2)


@pytest.mark.terraform
@pytest.mark.parametrize("job", [IDENTITY_JOB], ids=str)
def test_identity_stack_validates_and_plans_every_declared_resource(job: Job, tier: Tier) -> None:
    prepared, outcome = tier.result(job)
    creates = assert_plans_every_declared_resource(job, prepared, outcome)
    assignments = [a for a in creates if a.startswith("aws_ssoadmin_account_assignment.")]
    assert len(assignments) == 3  # AD admins in the directory account, Q developers in two accounts
    # the group ids came from the identity store's answer, read at plan time by display name
    planned = {
        change["address"]: change["change"]["after"]
        for change in outcome.plan["resource_changes"]
        if change["address"] in assignments
    }
    assert all(body["principal_id"] for body in planned.values())
    assert {body["principal_type"] for body in planned.values()} == {"GROUP"}


def _variables_only(directory: Path) -> Path:
    """The Entra stack's variables (and an output that reads one), without a provider."""
    stacks = synthesize_identity(directory / "synth")
    entra = json.loads((stacks / naming.ENTRA_STACK / "cdk.tf.json").read_text())
    workdir = directory / "variables"
    workdir.mkdir()
    config = {
        "variable": entra["variable"],
        "output": {"endpoint_accepted": {"value": "${nonsensitive(length(var.scim_endpoint) > 0)}"}},
    }
    (workdir / "main.tf.json").write_text(json.dumps(config, indent=2))
    return workdir


@pytest.mark.terraform
def test_scim_endpoint_variable_accepts_identity_centers_endpoint_only(
    terraform_cli: Terraform, tmp_path: Path
) -> None:
    workdir = _variables_only(tmp_path)
    assert terraform_cli.run(workdir, "init", "-input=false", "-no-color").returncode == 0
    token = ("-var", "scim_access_token=not-a-real-token")
    good = terraform_cli.run(
        workdir, "plan", "-input=false", "-no-color", *token,
        "-var", "scim_endpoint=https://scim.eu-west-1.amazonaws.com/a1b2c3d4-e5f6/scim/v2/",
    )  # fmt: skip
    assert good.returncode == 0, good.output
    assert "not-a-real-token" not in good.output
    bad = terraform_cli.run(
        workdir,
        "plan",
        "-input=false",
        "-no-color",
        *token,
        "-var",
        "scim_endpoint=https://evil.example.com/scim",
    )
    assert bad.returncode != 0
    assert "scim_endpoint must be IAM Identity Center's SCIM endpoint" in bad.output
    assert "not-a-real-token" not in bad.output  # the token (sensitive) is never echoed
