"""The Lambda artifact: one deterministic, versioned bundle of everything that runs.

It holds the handler package (`domain_join/*.py`, what Lambda imports), the join and tools-host scripts
(`scripts.tar.xz`: `scripts/...`, what the SSM documents embed) and `MANIFEST.json`, the SHA-256 of every
file (the scripts by their own paths).  The documents are built from the same files, and a test checks
every script a synthesized document embeds against the manifest, so one artifact version names exactly
the code that runs on instances too.

Small enough for the 100 KiB budget: the handler's modules ship without comments and docstrings, each
replaced by as many empty lines, so every line number of a traceback is that of the source file; the
scripts, which Lambda never reads, are one solid xz stream instead of one deflate stream per file.

Same sources, same bytes: entries sorted, fixed timestamps and modes, no caches.
So `source_code_hash` and `terraform plan` only change when the code does.
Powertools comes from its public layer and boto3 from the runtime, so the zip ships neither.

    python -m modules.artifact OUT.zip   # e.g. to upload it for the S3 inputs
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sys
import tarfile
import tokenize
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
HANDLER_PACKAGE_DIR = REPOSITORY_ROOT / "handlers" / "domain_join"
SCRIPTS_DIR = REPOSITORY_ROOT / "scripts"
PACKAGE_NAME_IN_ZIP = "domain_join"  # handler string: domain_join.app.lambda_handler
SCRIPTS_IN_ZIP = "scripts"
SCRIPTS_ARCHIVE = "scripts.tar.xz"
MANIFEST_NAME = "MANIFEST.json"
FIXED_TIMESTAMP = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can store
FILE_MODE = 0o100644


@dataclass(frozen=True)
class LocalArtifact:
    """A zip on disk, uploaded by Terraform itself."""

    path: Path
    source_code_hash: str  # base64 SHA-256, as Terraform's filebase64sha256()


@dataclass(frozen=True)
class S3Artifact:
    """An artifact already uploaded (the seed's S3 bucket, key and object version)."""

    bucket: str
    key: str
    object_version: str | None = None


def handler_sources(package_dir: Path = HANDLER_PACKAGE_DIR) -> list[Path]:
    if not (package_dir / "__init__.py").is_file():
        raise FileNotFoundError(f"handler package not found: {package_dir}/__init__.py")
    return sorted(path for path in package_dir.rglob("*.py") if "__pycache__" not in path.parts)


def script_sources(scripts_dir: Path = SCRIPTS_DIR) -> list[Path]:
    """Every file under scripts/ (the scripts, their libraries and lint settings), sorted."""
    if not scripts_dir.is_dir():
        raise FileNotFoundError(f"scripts folder not found: {scripts_dir}")
    return sorted(
        path for path in scripts_dir.rglob("*") if path.is_file() and "__pycache__" not in path.parts
    )


def bundle_files(
    package_dir: Path = HANDLER_PACKAGE_DIR, scripts_dir: Path = SCRIPTS_DIR
) -> dict[str, bytes]:
    """Name in the zip -> content, for the handler package and the scripts (no manifest)."""
    files = {
        f"{PACKAGE_NAME_IN_ZIP}/{source.relative_to(package_dir).as_posix()}": source.read_bytes()
        for source in handler_sources(package_dir)
    }
    files |= {
        f"{SCRIPTS_IN_ZIP}/{source.relative_to(scripts_dir).as_posix()}": source.read_bytes()
        for source in script_sources(scripts_dir)
    }
    return files


def strip_python(source: bytes) -> bytes:
    """The module without its comments and docstrings, on the same lines.

    A docstring (a string statement at the start of a line, outside brackets) becomes `""` followed by
    the newlines it spanned; a comment becomes nothing.  Line numbers, and so tracebacks, stay those
    of the source file; nothing the interpreter runs changes (`__doc__` becomes empty).
    """
    text = source.decode("utf-8")
    tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    cuts: list[tuple[tuple[int, int], tuple[int, int], str]] = []
    depth, previous = 0, tokenize.NEWLINE
    statement_start = {tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
    for index, token in enumerate(tokens):
        if token.type == tokenize.OP and token.string in "([{":
            depth += 1
        elif token.type == tokenize.OP and token.string in ")]}":
            depth -= 1
        if token.type == tokenize.COMMENT:
            cuts.append((token.start, token.end, ""))
            continue
        if token.type == tokenize.STRING and depth == 0 and previous in statement_start:
            following = next(t for t in tokens[index + 1 :] if t.type != tokenize.COMMENT)
            if following.type == tokenize.NEWLINE:
                cuts.append((token.start, token.end, '""' + "\n" * (token.end[0] - token.start[0])))
        if token.type != tokenize.NL:
            previous = token.type
    offsets = [0]
    for line in text.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line))
    for (row, col), (end_row, end_col), replacement in reversed(cuts):
        start, end = offsets[row - 1] + col, offsets[end_row - 1] + end_col
        text = text[:start] + replacement + text[end:]
    return text.encode("utf-8")


def scripts_archive(files: dict[str, bytes]) -> bytes:
    """The scripts as one deterministic tar.xz (sorted, no owners, mtime 0, mode 0644)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz", format=tarfile.USTAR_FORMAT, preset=9) as archive:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(files[name]), 0, 0o644
            archive.addfile(info, io.BytesIO(files[name]))
    return buffer.getvalue()


def manifest(files: dict[str, bytes]) -> dict[str, dict[str, str]]:
    """`{"sha256": {name: hex digest}}` of every file of the bundle, sorted by name."""
    return {"sha256": {name: hashlib.sha256(files[name]).hexdigest() for name in sorted(files)}}


def build_zip_bytes(package_dir: Path = HANDLER_PACKAGE_DIR, scripts_dir: Path = SCRIPTS_DIR) -> bytes:
    bundle = bundle_files(package_dir, scripts_dir)
    files = {name: strip_python(data) for name, data in bundle.items() if name.endswith(".py")}
    scripts = {name: data for name, data in bundle.items() if name.startswith(f"{SCRIPTS_IN_ZIP}/")}
    listed = files | scripts
    files[SCRIPTS_ARCHIVE] = scripts_archive(scripts)
    files[MANIFEST_NAME] = (json.dumps(manifest(listed), indent=1, sort_keys=True) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIMESTAMP)
            info.external_attr = FILE_MODE << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, whatever the build machine
            archive.writestr(info, files[name], compresslevel=9)
    return buffer.getvalue()


def source_code_hash(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def build_local_artifact(out_path: Path, package_dir: Path = HANDLER_PACKAGE_DIR) -> LocalArtifact:
    """Write the zip (only if its bytes changed) and return it with its hash."""
    data = build_zip_bytes(package_dir)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if not out_path.is_file() or out_path.read_bytes() != data:
        out_path.write_bytes(data)
    return LocalArtifact(path=out_path, source_code_hash=source_code_hash(data))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m modules.artifact OUT.zip")
    artifact = build_local_artifact(Path(sys.argv[1]))
    print(f"{artifact.path} {artifact.source_code_hash}")
