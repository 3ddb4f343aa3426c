"""The plain modules need no cdktf: the generator uses only the core classes of modules/cdk.py, so cdktn
(`.venv-cdktn`: no cdktf there, nor cdktf-tf-module-stack) emits the very files cdktf emits.

cdktn generates in a subprocess while this process generates with cdktf (`emit`, whose synthesis is cached
per process: the `plain_modules` fixture of tests/modules reuses it, so the suite pays for it once).  No
difference is expected: the modules pin their own provider constraint and carry no library version."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from modules.plain_modules import UNITS, emit

from .test_cdktn import CDKTN_PYTHON, NODE, REPOSITORY

pytestmark = pytest.mark.synth


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_cdktn_generates_the_same_plain_modules(tmp_path: Path) -> None:
    if not CDKTN_PYTHON.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CDKTN_PYTHON} is missing: `make test` creates it")
        pytest.skip(f"{CDKTN_PYTHON} is missing: run `make synth-cdktn`")
    # GIVEN the plain modules generated from the same sources with cdktn (a subprocess) and with cdktf
    env = {**os.environ, "EC2_DOMAIN_JOIN_CDK": "cdktn", "PYTHONDONTWRITEBYTECODE": "1"}
    if NODE.exists():
        env["JSII_NODE"] = str(NODE)
    fork = subprocess.Popen(
        [str(CDKTN_PYTHON), "-m", "modules.plain_modules", str(tmp_path / "cdktn")],
        cwd=REPOSITORY,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        emit(tmp_path / "cdktf")
    finally:
        _, stderr = fork.communicate(timeout=300)
    assert fork.returncode == 0, stderr[-2000:]
    cdktf, cdktn = files(tmp_path / "cdktf"), files(tmp_path / "cdktn")
    # THEN every unit is there on both sides, and each file is the same byte for byte
    assert {name.split("/")[0] for name in cdktn} == set(UNITS)
    assert sorted(cdktn) == sorted(cdktf)
    assert [name for name in cdktn if cdktn[name] != cdktf[name]] == []
