"""The Lambda artifact: deterministic, small, the handler package and the scripts with their manifest."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

from modules_testlib import LandingZones

from modules.artifact import (
    HANDLER_PACKAGE_DIR,
    MANIFEST_NAME,
    SCRIPTS_DIR,
    build_local_artifact,
    build_zip_bytes,
)


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


def test_zip_holds_the_sorted_handler_package_the_scripts_and_a_manifest(tmp_path: Path) -> None:
    data = build_zip_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        manifest = json.loads(archive.read(MANIFEST_NAME))["sha256"]
        contents = {info.filename: archive.read(info) for info in infos}
    names = [info.filename for info in infos]
    assert names == sorted(names)
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {info.external_attr >> 16 for info in infos} == {0o100644}
    handler = sorted(
        p.relative_to(HANDLER_PACKAGE_DIR).as_posix()
        for p in HANDLER_PACKAGE_DIR.rglob("*.py")
        if "__pycache__" not in p.parts
    )
    scripts = sorted(p.relative_to(SCRIPTS_DIR).as_posix() for p in SCRIPTS_DIR.rglob("*") if p.is_file())
    assert [n.removeprefix("domain_join/") for n in names if n.startswith("domain_join/")] == handler
    assert [n.removeprefix("scripts/") for n in names if n.startswith("scripts/")] == scripts
    # THEN the manifest lists every other file with its SHA-256
    assert set(manifest) == set(names) - {MANIFEST_NAME}
    assert all(hashlib.sha256(contents[name]).hexdigest() == digest for name, digest in manifest.items())


def embedded_scripts(content: dict[str, Any]) -> list[tuple[str, str]]:
    """(file name, text) of every file a document's steps write before running the script."""
    found = []
    for step in content["mainSteps"]:
        lines = step["inputs"]["runCommand"]
        for index, line in enumerate(lines):
            heredoc = re.fullmatch(r"cat > \"\$script_dir/([^\"]+)\" <<'(\w+)'", line)
            if heredoc:
                end = lines.index(heredoc.group(2), index + 1)
                found.append((heredoc.group(1), "\n".join(lines[index + 1 : end])))
            if line == "  $fileText = @'":
                end = lines.index("'@", index + 1)
                name = re.fullmatch(r"  \$file = Join-Path \$scriptDir '([^']+)'", lines[end + 1])
                assert name, lines[end + 1]
                found.append((name.group(1), "\n".join(lines[index + 1 : end])))
    return found


def test_every_script_a_document_embeds_is_in_the_artifact_manifest(landing_zones: LandingZones) -> None:
    # GIVEN the manifest of the artifact the hub deploys
    with zipfile.ZipFile(io.BytesIO(build_zip_bytes())) as archive:
        manifest = json.loads(archive.read(MANIFEST_NAME))["sha256"]
    by_name: dict[str, set[str]] = {}
    for name, digest in manifest.items():
        if name.startswith("scripts/"):
            by_name.setdefault(name.rsplit("/", 1)[1], set()).add(digest)
    # WHEN every document of every stack is read
    checked = 0
    for stack in landing_zones.org.stacks:
        for document in landing_zones.org.resources(stack, "aws_ssm_document").values():
            content = json.loads(document["content"].replace("$${", "${"))
            for file_name, text in embedded_scripts(content):
                # THEN each embedded file (written without its final newline) is a file of the artifact
                digest = hashlib.sha256((text + "\n").encode()).hexdigest()
                assert digest in by_name.get(file_name, set()), (stack, document["name"], file_name)
                checked += 1
    assert checked >= 6


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
