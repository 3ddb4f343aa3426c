"""The Lambda artifact: deterministic, small, only the handler package."""

from __future__ import annotations

import base64
import hashlib
import io
import shutil
import zipfile
from pathlib import Path

from modules_testlib import LandingZones

from modules.artifact import HANDLER_PACKAGE_DIR, build_local_artifact, build_zip_bytes


def test_two_builds_are_byte_identical(tmp_path: Path) -> None:
    first = build_local_artifact(tmp_path / "a" / "domain_join.zip")
    second = build_local_artifact(tmp_path / "b" / "domain_join.zip")
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.source_code_hash == second.source_code_hash


def test_build_ignores_timestamps_modes_and_caches(tmp_path: Path) -> None:
    # GIVEN a copy of the package with other mtimes/modes and a __pycache__
    copy = tmp_path / "domain_join"
    shutil.copytree(HANDLER_PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    for path in copy.rglob("*.py"):
        path.chmod(0o755)
        path.touch()
    (copy / "__pycache__").mkdir()
    (copy / "__pycache__" / "app.cpython-313.pyc").write_bytes(b"cache")
    # THEN the zip is the same bytes as the original's
    assert build_zip_bytes(copy) == build_zip_bytes(HANDLER_PACKAGE_DIR)


def test_zip_holds_only_the_sorted_handler_package_under_domain_join(tmp_path: Path) -> None:
    data = build_zip_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
    names = [info.filename for info in infos]
    assert names == sorted(names)
    assert "domain_join/app.py" in names and "domain_join/contract.py" in names
    assert all(name.startswith("domain_join/") and name.endswith(".py") for name in names)
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {info.external_attr >> 16 for info in infos} == {0o100644}
    expected = sorted(
        p.relative_to(HANDLER_PACKAGE_DIR).as_posix() for p in HANDLER_PACKAGE_DIR.rglob("*.py")
    )
    assert [n.removeprefix("domain_join/") for n in names] == [e for e in expected if "__pycache__" not in e]


def test_artifact_is_under_100_kb() -> None:
    size = len(build_zip_bytes())
    print(f"artifact_bytes {size}")
    assert size < 100 * 1024


def test_source_code_hash_in_the_stack_is_that_of_the_zip(landing_zones: LandingZones) -> None:
    fn = landing_zones.org.resource("hub", "aws_lambda_function")
    asset = landing_zones.org.outdir / "stacks" / "hub" / fn["filename"]
    digest = base64.b64encode(hashlib.sha256(asset.read_bytes()).digest()).decode()
    assert fn["source_code_hash"] == digest
    assert asset.read_bytes() == build_zip_bytes()


def test_s3_artifact_inputs_replace_the_local_zip(landing_zones: LandingZones) -> None:
    fn = landing_zones.accounts.resource("hub", "aws_lambda_function")
    assert (fn["s3_bucket"], fn["s3_key"], fn["s3_object_version"]) == (
        "artifacts-bucket",
        "domain_join.zip",
        "v42",
    )
    assert "filename" not in fn
