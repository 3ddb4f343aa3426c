"""`ec2-domain-join`, the operator's command line: exit codes, one line per problem, progress per stack."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from ec2_domain_join import cli

REPOSITORY = Path(__file__).resolve().parents[2]
EXAMPLE = REPOSITORY / "examples" / "landing-zone.yaml"


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "lz.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_validate_accepts_the_example_and_counts_its_stacks(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["validate", str(EXAMPLE)]) == cli.EXIT_OK
    captured = capsys.readouterr()
    assert captured.out.strip() == f"ok: {EXAMPLE}: 3 enrolled account(s), 3 Region(s), 6 stack(s)"
    assert "has no backend" in captured.err


def test_validate_names_every_problem_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = yaml.safe_load(EXAMPLE.read_text()) | {"name": "a.b", "home_region": "xx-fake-9"}
    path = write(tmp_path, data)
    assert cli.main(["validate", str(path)]) == cli.EXIT_FAILED
    errors = capsys.readouterr().err.splitlines()
    assert any(f"error: {path}: name: " in line for line in errors)
    assert any(f"error: {path}: home_region: " in line for line in errors)
    assert errors[-1].startswith("error: ") and "problem(s) in" in errors[-1]


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        ([], cli.EXIT_USAGE),
        (["bogus"], cli.EXIT_USAGE),
        (["validate"], cli.EXIT_USAGE),
        (["--help"], cli.EXIT_OK),
    ],
)
def test_usage_errors_exit_2_without_a_traceback(
    argv: list[str], code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert "Usage: ec2-domain-join" in captured.out + captured.err


def test_synth_reports_each_stack_and_writes_where_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a stand-in for modules.stacks (the real one loads cdktf for ~20 s) that reports each stack
    calls: list[tuple[Path, list[str]]] = []

    def build_app(lz: Any, outdir: Path, on_stack: Any = None) -> Any:
        names = [name for name, _, _ in lz.stack_plan()]
        for name in names:
            on_stack(name)
            stack = outdir / "stacks" / name
            stack.mkdir(parents=True)
            (stack / "cdk.tf.json").write_text('{"resource": {"aws_sqs_queue": {"a": {}, "b": {}}}}')
        calls.append((outdir, names))
        return types.SimpleNamespace(synth=lambda: None)

    fake = types.ModuleType("modules.stacks")
    fake.build_app = build_app  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "modules.stacks", fake)
    # WHEN synth runs with --output
    assert cli.main(["synth", str(EXAMPLE), "--output", str(tmp_path / "out")]) == cli.EXIT_OK
    # THEN every stack of the plan was built into that folder and listed with its resource count
    [(outdir, names)] = calls
    assert outdir == tmp_path / "out" and names[0] == "hub" and len(names) == 6
    out = capsys.readouterr().out
    for name in names:
        assert any(line.split()[:1] == [name] and line.split()[-1] == "2" for line in out.splitlines()), name
    assert "synthesized 6 stack(s)" in out


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "ec2-domain-join"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0 and "validate" in result.stdout and "synth" in result.stdout


def test_the_aws_commands_load_no_cdk_and_validate_loads_no_boto3() -> None:
    # The hub's names come from modules/naming.py, which must stay pure (no cdktf at import), and the
    # AWS commands load boto3 only when they run.
    code = (
        "import sys, ec2_domain_join.cli\n"
        "assert 'boto3' not in sys.modules\n"
        "import ec2_domain_join.status, ec2_domain_join.retry\n"
        "import ec2_domain_join.accounts, ec2_domain_join.reconcile\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('cdktf', 'cdktn', 'jsii', 'constructs')]\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPOSITORY, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
