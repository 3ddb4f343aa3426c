"""The Lambda artifact: a deterministic zip of the handler package.

Same sources, same bytes: entries sorted, fixed timestamps and modes, no caches.
So `source_code_hash` and `terraform plan` only change when the code does.
Powertools comes from its public layer and boto3 from the runtime, so the zip
holds only `domain_join/*.py`.

    python -m modules.artifact OUT.zip   # e.g. to upload it for the S3 inputs
"""

from __future__ import annotations

import base64
import hashlib
import io
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
HANDLER_PACKAGE_DIR = REPOSITORY_ROOT / "handlers" / "domain_join"
PACKAGE_NAME_IN_ZIP = "domain_join"  # handler string: domain_join.app.lambda_handler
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


def build_zip_bytes(package_dir: Path = HANDLER_PACKAGE_DIR) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for source in handler_sources(package_dir):
            name = f"{PACKAGE_NAME_IN_ZIP}/{source.relative_to(package_dir).as_posix()}"
            info = zipfile.ZipInfo(name, date_time=FIXED_TIMESTAMP)
            info.external_attr = FILE_MODE << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, whatever the build machine
            archive.writestr(info, source.read_bytes(), compresslevel=9)
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
