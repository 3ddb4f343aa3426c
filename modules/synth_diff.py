"""Compare two synthesized outputs (e.g. cdktf's and cdktn's) stack by stack.

    python -m modules.synth_diff CDKTF_OUT CDKTN_OUT

Prints every difference as `<stack> <json path>: <left> | <right>`, marked `explained` when it is one of
the known differences between cdktf and its fork cdktn, and exits 1 when any difference is unexplained
(or a stack exists on one side only).  Explained:

- `//.metadata.version`: the CLI/library version that wrote the file;
- `terraform.required_providers.aws.source` / `.version`: cdktf's last AWS bindings are for provider
  6.25 (`source = "aws"`); cdktn-provider-aws pins its own provider version (`hashicorp/aws`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

EXPLAINED = (
    ("//", "metadata", "version"),
    ("terraform", "required_providers", "aws", "source"),
    ("terraform", "required_providers", "aws", "version"),
)


def _walk(left: Any, right: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any, Any]]:
    if isinstance(left, dict) and isinstance(right, dict):
        for key in sorted(set(left) | set(right)):
            yield from _walk(left.get(key, "<absent>"), right.get(key, "<absent>"), (*path, str(key)))
    elif isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        for index, (a, b) in enumerate(zip(left, right, strict=True)):
            yield from _walk(a, b, (*path, str(index)))
    elif left != right:
        yield path, left, right


def differences(left_dir: Path, right_dir: Path) -> list[tuple[str, str, str, bool]]:
    """(stack, path, description, explained) for every difference between the two outputs."""
    result: list[tuple[str, str, str, bool]] = []
    left = {p.parent.name: p for p in (left_dir / "stacks").glob("*/cdk.tf.json")}
    right = {p.parent.name: p for p in (right_dir / "stacks").glob("*/cdk.tf.json")}
    for stack in sorted(set(left) ^ set(right)):
        result.append((stack, "", "stack on one side only", False))
    for stack in sorted(set(left) & set(right)):
        for path, a, b in _walk(
            json.loads(left[stack].read_text()), json.loads(right[stack].read_text()), ()
        ):
            shown = f"{str(a)[:80]} | {str(b)[:80]}"
            result.append((stack, ".".join(path), shown, path in EXPLAINED))
    return result


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    found = differences(Path(argv[0]), Path(argv[1]))
    for stack, path, shown, explained in found:
        print(f"{stack} {path}: {shown}{'  (explained)' if explained else ''}")
    unexplained = [d for d in found if not d[3]]
    print(f"{len(found)} difference(s), {len(unexplained)} unexplained")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
