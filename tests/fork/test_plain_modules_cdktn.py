"""The plain modules need no cdktf: the generator uses only the core classes of modules/cdk.py, so cdktn
(`.venv-cdktn`: no cdktf there, nor cdktf-tf-module-stack) emits the very files cdktf emits.

The cdktf result is the committed `terraform/modules/` (tests/modules/test_plain_modules.py regenerates it
with cdktf and fails when a byte differs), so only cdktn runs here (~6 s).  No difference is expected: the
modules pin their own provider constraint and carry no library version."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from modules.plain_modules import DEFAULT_DEST, UNITS

from .test_cdktn import CDKTN_PYTHON, NODE, REPOSITORY

pytestmark = pytest.mark.synth


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_cdktn_generates_the_same_plain_modules(tmp_path: Path) -> None:
    if not CDKTN_PYTHON.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CDKTN_PYTHON} is missing: `make test` creates it")
        pytest.skip(f"{CDKTN_PYTHON} is missing: run `make synth-cdktn`")
    # GIVEN the plain modules generated with cdktn (and the committed ones, generated with cdktf)
    env = {**os.environ, "EC2_DOMAIN_JOIN_CDK": "cdktn", "PYTHONDONTWRITEBYTECODE": "1"}
    if NODE.exists():
        env["JSII_NODE"] = str(NODE)
    result = subprocess.run(
        [str(CDKTN_PYTHON), "-m", "modules.plain_modules", str(tmp_path)],
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    cdktn, cdktf = files(tmp_path), files(DEFAULT_DEST)
    # THEN every unit is there, and each file is the committed one byte for byte
    assert {name.split("/")[0] for name in cdktn} == set(UNITS)
    assert sorted(cdktn) == sorted(cdktf), "also stale? run: make plain-modules"
    assert [name for name in cdktn if cdktn[name] != cdktf[name]] == [], "also stale? run: make plain-modules"
