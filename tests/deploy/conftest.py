"""Shared fixtures of the deploy-path tests: the repository, a landing-zone writer, the project's tools."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPOSITORY = Path(__file__).resolve().parents[2]
EXAMPLE = REPOSITORY / "examples" / "landing-zone.yaml"
TOOLS_BIN = REPOSITORY / "tools" / "node_modules" / ".bin"


def example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return data


@pytest.fixture
def write_lz(tmp_path: Path) -> Callable[[dict[str, Any], str], Path]:
    def write(data: dict[str, Any], name: str = "lz.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return write


def require_tool(path: Path, why: str) -> None:
    """Skip when a project tool is missing; under CI (CI=true) a missing tool is a failure."""
    if path.exists() or shutil.which(path.name, path=str(path.parent)):
        return
    message = f"{path} is missing ({why}): run `make tools`"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)
