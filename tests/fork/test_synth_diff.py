"""modules.synth_diff: known cdktf/cdktn differences are explained, anything else is not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modules.synth_diff import differences, main


def write(root: Path, stack: str, data: dict[str, Any]) -> None:
    (root / "stacks" / stack).mkdir(parents=True, exist_ok=True)
    (root / "stacks" / stack / "cdk.tf.json").write_text(json.dumps(data))


def stack(version: str, source: str, constraint: str, queue: str = "q") -> dict[str, Any]:
    return {
        "//": {"metadata": {"version": version}},
        "terraform": {"required_providers": {"aws": {"source": source, "version": constraint}}},
        "resource": {"aws_sqs_queue": {"this": {"name": queue}}},
    }


def test_only_the_known_differences_are_explained(tmp_path: Path) -> None:
    write(tmp_path / "a", "hub", stack("0.21.0", "aws", "6.25.0"))
    write(tmp_path / "b", "hub", stack("0.24.0", "hashicorp/aws", "6.69.1"))
    found = differences(tmp_path / "a", tmp_path / "b")
    assert {path for _, path, _, _ in found} == {
        "//.metadata.version",
        "terraform.required_providers.aws.source",
        "terraform.required_providers.aws.version",
    }
    assert all(explained for *_, explained in found)
    assert main([str(tmp_path / "a"), str(tmp_path / "b")]) == 0


def test_a_resource_difference_or_a_missing_stack_is_unexplained(tmp_path: Path) -> None:
    write(tmp_path / "a", "hub", stack("0.21.0", "aws", "6.25.0", queue="q"))
    write(tmp_path / "b", "hub", stack("0.21.0", "aws", "6.25.0", queue="other"))
    write(tmp_path / "a", "spoke-1", stack("0.21.0", "aws", "6.25.0"))
    found = differences(tmp_path / "a", tmp_path / "b")
    assert ("hub", "resource.aws_sqs_queue.this.name", "q | other", False) in found
    assert ("spoke-1", "", "stack on one side only", False) in found
    assert main([str(tmp_path / "a"), str(tmp_path / "b")]) == 1
