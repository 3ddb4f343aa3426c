"""The Lambda artifact: deterministic, small, the handler package and the scripts with their manifest."""

from __future__ import annotations

import ast
import base64
import hashlib
import io
import json
import re
import shutil
import tarfile
import tokenize
import zipfile
from pathlib import Path
from typing import Any

from modules_testlib import LandingZones

from modules.artifact import (
    HANDLER_PACKAGE_DIR,
    MANIFEST_NAME,
    SCRIPTS_ARCHIVE,
    SCRIPTS_DIR,
    build_local_artifact,
    build_zip_bytes,
    strip_python,
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
    assert set(names) - {n for n in names if n.startswith("domain_join/")} == {SCRIPTS_ARCHIVE, MANIFEST_NAME}
    # THEN the scripts archive holds every script, byte for byte, sorted
    with tarfile.open(fileobj=io.BytesIO(contents[SCRIPTS_ARCHIVE]), mode="r:xz") as tar:
        members = tar.getmembers()
        archived = {m.name: tar.extractfile(m).read() for m in members}  # type: ignore[union-attr]
    assert [m.name for m in members] == [f"scripts/{name}" for name in scripts]
    assert {m.mtime for m in members} == {0} and {m.uname for m in members} == {""}
    assert all(archived[f"scripts/{name}"] == (SCRIPTS_DIR / name).read_bytes() for name in scripts)
    # THEN the manifest lists every shipped file with its SHA-256 (the scripts by their own paths)
    shipped = {n: contents[n] for n in names if n.startswith("domain_join/")} | archived
    assert set(manifest) == set(shipped)
    assert all(hashlib.sha256(shipped[name]).hexdigest() == digest for name, digest in manifest.items())


def test_shipped_modules_keep_every_line_number_and_lose_comments_and_docstrings() -> None:
    # GIVEN each handler module and its shipped form
    for source in sorted(HANDLER_PACKAGE_DIR.rglob("*.py")):
        original = source.read_bytes()
        shipped = strip_python(original)
        # THEN it has the same lines, and every definition and statement starts on its source line
        assert shipped.count(b"\n") == original.count(b"\n"), source
        before, after = ast.parse(original), ast.parse(shipped)
        lines = [
            (type(node).__name__, node.lineno)
            for node in ast.walk(before)
            if isinstance(node, ast.stmt) and not _is_docstring(node)
        ]
        assert lines == [
            (type(node).__name__, node.lineno)
            for node in ast.walk(after)
            if isinstance(node, ast.stmt) and not _is_docstring(node)
        ], source
        # THEN no comment and no docstring text is left
        tokens = list(tokenize.tokenize(io.BytesIO(shipped).readline))
        assert not [t for t in tokens if t.type == tokenize.COMMENT], source
        assert all(ast.get_docstring(n) in (None, "") for n in ast.walk(after) if _has_docstring_slot(n)), (
            source
        )


def _has_docstring_slot(node: ast.AST) -> bool:
    return isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)


def _is_docstring(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def test_strings_that_are_values_are_kept() -> None:
    # GIVEN strings that are not docstrings: in brackets, concatenated, a method's receiver, after code
    source = (
        b'PARTS = (\n    "a"  # one\n    "b"\n)\n", ".join(PARTS)\nx = "#not a comment"\n'
        b'def f():\n    """Doc."""\n    return "kept"\n'
    )
    # WHEN the module is stripped
    shipped = strip_python(source)
    namespace: dict[str, Any] = {}
    exec(compile(shipped, "m.py", "exec"), namespace)  # noqa: S102 - the test's own literal module
    # THEN values are as before, only the comment and the docstring are gone
    assert namespace["PARTS"] == "ab" and namespace["x"] == "#not a comment" and namespace["f"]() == "kept"
    assert namespace["f"].__doc__ == "" and b"one" not in shipped and b"Doc." not in shipped


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
