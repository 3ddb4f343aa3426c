"""The project outlives cdktf: its fork CDK Terrain (cdktn) synthesizes the same stacks.

`.venv-cdktn` (created by `make test` / `make synth-cdktn`) holds cdktn and cdktn-provider-aws and no
cdktf, so `modules/cdk.py` selects cdktn there.  Both synthesize the example landing zone from this very
tree; `modules.synth_diff` must find only the explained differences (library version, provider source
and version constraint).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from modules.synth_diff import differences

REPOSITORY = Path(__file__).resolve().parents[2]
CDKTN_PYTHON = REPOSITORY / ".venv-cdktn" / "bin" / "python"
EXAMPLE = REPOSITORY / "examples" / "landing-zone.yaml"
NODE = REPOSITORY / "tools" / "node_modules" / ".bin" / "node"

pytestmark = pytest.mark.synth


def synthesize(python: Path | str, outdir: Path) -> None:
    env = {**os.environ, "CDKTF_OUTDIR": str(outdir)}
    env.pop("EC2_DOMAIN_JOIN_CDK", None)
    if NODE.exists():
        env["JSII_NODE"] = str(NODE)
    result = subprocess.run(
        [str(python), "main.py", str(EXAMPLE)],
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_cdktn_selects_itself_where_cdktf_is_absent() -> None:
    if not CDKTN_PYTHON.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CDKTN_PYTHON} is missing: `make test` creates it")
        pytest.skip(f"{CDKTN_PYTHON} is missing: run `make synth-cdktn`")
    code = "import modules.cdk as c; from modules.cdk import App; print(c.selected(), App.__module__)"
    result = subprocess.run(
        [str(CDKTN_PYTHON), "-c", code],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[0] == "cdktn" and result.stdout.split()[1].startswith("cdktn")


def test_the_fork_synthesizes_the_same_stacks(tmp_path: Path) -> None:
    if not CDKTN_PYTHON.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CDKTN_PYTHON} is missing: `make test` creates it")
        pytest.skip(f"{CDKTN_PYTHON} is missing: run `make synth-cdktn`")
    # GIVEN the example synthesized by cdktf and by cdktn from the same sources
    synthesize(sys.executable, tmp_path / "cdktf")
    synthesize(CDKTN_PYTHON, tmp_path / "cdktn")
    # THEN every stack is there on both sides and differs only where the libraries must
    found = differences(tmp_path / "cdktf", tmp_path / "cdktn")
    assert [d for d in found if not d[3]] == []
    assert {path for _, path, _, _ in found} <= {
        "//.metadata.version",
        "terraform.required_providers.aws.source",
        "terraform.required_providers.aws.version",
    }
    assert len(list((tmp_path / "cdktn" / "stacks").iterdir())) == 6
