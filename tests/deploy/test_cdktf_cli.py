"""The pinned cdktf CLI (`make tools`) synthesizes the user's file, and stack state outlives its folder.

These run the real CLI (Node.js 22 from tools/), the way README's deploy section does: `cdktf synth`
runs `cdktf.json`'s app, which reads EC2_DOMAIN_JOIN_CONFIG.  `cdktf diff|deploy` run the same app
before they call Terraform, so the same file reaches them.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import REPOSITORY, TOOLS_BIN, example, require_tool

WriteLz = Callable[[dict[str, Any], str], Path]
pytestmark = pytest.mark.synth


def cdktf_synth(config: Path | None, outdir: Path) -> subprocess.CompletedProcess[str]:
    require_tool(TOOLS_BIN / "cdktf", "the pinned cdktf CLI")
    env = {
        **os.environ,
        "PATH": f"{TOOLS_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "JSII_NODE": str(TOOLS_BIN / "node"),
        "CHECKPOINT_DISABLE": "1",
        "CI": "true",  # no spinner
    }
    env.pop("EC2_DOMAIN_JOIN_CONFIG", None)
    env.pop("CDKTF_OUTDIR", None)
    if config is not None:
        env["EC2_DOMAIN_JOIN_CONFIG"] = str(config)
    return subprocess.run(
        [str(TOOLS_BIN / "cdktf"), "synth", "--output", str(outdir)],
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def stacks(outdir: Path) -> set[str]:
    return {p.name for p in (outdir / "stacks").iterdir()} if (outdir / "stacks").exists() else set()


def test_cdktf_synth_reads_the_users_file_and_keeps_state_outside_its_output(
    write_lz: WriteLz, tmp_path: Path
) -> None:
    # GIVEN the user's landing zone (not the example): its own spoke account 444444444444
    data = example()
    data["spokes"][0]["account_id"] = "444444444444"
    config = write_lz(data, "users-landing-zone.yaml")
    outdir = tmp_path / "out"
    # WHEN `cdktf synth` runs with EC2_DOMAIN_JOIN_CONFIG
    first = cdktf_synth(config, outdir)
    assert first.returncode == 0, first.stdout + first.stderr
    # THEN the stacks are the user's file's, into the --output folder
    assert "spoke-444444444444" in stacks(outdir) and "spoke-222222222222" not in stacks(outdir)
    # AND each stack's local state path resolves to terraform-state/ beside the file
    states = {}
    for stack in stacks(outdir):
        backend = json.loads((outdir / "stacks" / stack / "cdk.tf.json").read_text())["terraform"]["backend"]
        states[stack] = (outdir / "stacks" / stack / backend["local"]["path"]).resolve()
        assert states[stack] == (tmp_path / "terraform-state" / f"{stack}.tfstate").resolve()
    # GIVEN state written for every stack (as `terraform apply` would)
    for state in states.values():
        state.parent.mkdir(parents=True, exist_ok=True)
        state.write_text('{"version": 4}')
    # WHEN the account is removed from the file and cdktf synthesizes again
    data["spokes"] = data["spokes"][1:]
    second = cdktf_synth(write_lz(data, "users-landing-zone.yaml"), outdir)
    assert second.returncode == 0, second.stdout + second.stderr
    # THEN cdktf dropped the stack's folder, but its state (and the resources it tracks) is not lost
    assert "spoke-444444444444" not in stacks(outdir)
    assert states["spoke-444444444444"].read_text() == '{"version": 4}'


def test_cdktf_synth_without_a_file_fails_instead_of_synthesizing_the_example(tmp_path: Path) -> None:
    result = cdktf_synth(None, tmp_path / "out")
    assert result.returncode != 0
    assert "no landing-zone file" in result.stdout + result.stderr
    assert stacks(tmp_path / "out") == set()
