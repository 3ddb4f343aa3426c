"""main.py, the synth entry point: usage, which file it reads, errors before cdktf loads, state warnings."""

from __future__ import annotations

import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import main

from .conftest import REPOSITORY, example

WriteLz = Callable[[dict[str, Any], str], Path]


def run_main(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run main.main in a fresh interpreter and report whether cdktf was imported."""
    code = (
        "import sys, main\n"
        "rc = main.main(sys.argv[1:])\n"
        "loaded = any(m.split('.')[0] in ('cdktf', 'cdktn', 'jsii') for m in sys.modules)\n"
        "print(f'CDKTF_IMPORTED={loaded}')\n"
        "sys.exit(rc)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        check=False,
    )


def fake_stacks(monkeypatch: pytest.MonkeyPatch, built: list[Path]) -> None:
    """Stand in for modules.stacks (whose import loads cdktf, ~20 s): records the output folder asked for."""

    class FakeApp:
        def synth(self) -> None:
            return None

    def build_app(lz: object, outdir: Path) -> FakeApp:
        built.append(outdir)
        return FakeApp()

    module = types.ModuleType("modules.stacks")
    module.build_app = build_app  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "modules.stacks", module)


def test_help_prints_usage_and_exits_zero() -> None:
    result = run_main("--help")
    assert result.returncode == 0
    assert (
        "usage: python main.py LANDING_ZONE.yaml" in result.stdout
        and "EC2_DOMAIN_JOIN_CONFIG" in result.stdout
    )


def test_without_a_file_nothing_falls_back_to_the_example() -> None:
    # GIVEN neither an argument nor EC2_DOMAIN_JOIN_CONFIG (what `cdktf synth` used to run silently)
    result = run_main()
    # THEN it refuses with usage, instead of synthesizing examples/landing-zone.yaml
    assert result.returncode == 2
    assert "no landing-zone file" in result.stderr and "EC2_DOMAIN_JOIN_CONFIG" in result.stderr
    assert "CDKTF_IMPORTED=False" in result.stdout


def test_an_unknown_option_is_a_usage_error() -> None:
    result = run_main("--output", "x")
    assert result.returncode == 2 and "unexpected arguments" in result.stderr


@pytest.mark.parametrize(
    "change",
    [
        {"tags": {"bad!key": "x"}},
        {"spoke_role": {"name": "ec2-domain-join-execution", "external_id": "x"}},
        {"name": "my.join"},
    ],
)
def test_bad_input_fails_in_one_line_per_problem_before_cdktf_is_imported(
    write_lz: WriteLz, change: dict[str, Any]
) -> None:
    # GIVEN values that used to fail only after ~30 s of synth (or not at all)
    path = write_lz(example() | change, "bad.yaml")
    # WHEN main runs on the file
    result = run_main(str(path))
    # THEN it exits 1 with "error: FILE: FIELD: ..." lines and a count, no traceback, and never loaded cdktf
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors and all(line.startswith(f"error: {path}: ") for line in errors)
    assert "Traceback" not in result.stderr
    assert "CDKTF_IMPORTED=False" in result.stdout


@pytest.mark.parametrize(
    ("content", "words"),
    [(b"\xff\xfeh\x00", "UTF-16"), (b"home_region: \xe9\n", "not UTF-8"), (b"a: [\n", "line 2")],
)
def test_unreadable_files_fail_in_one_line(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_bytes(content)
    result = run_main(str(path))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert words in result.stderr.splitlines()[0]


def test_a_directory_fails_in_one_line(tmp_path: Path) -> None:
    result = run_main(str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == f"error: {tmp_path}: is a directory, not a landing-zone file"


def test_local_state_inside_the_output_folder_is_refused(write_lz: WriteLz, tmp_path: Path) -> None:
    # GIVEN local state configured inside the folder cdktf deletes
    path = write_lz(example() | {"local_state_dir": "out/state"}, "lz.yaml")
    result = run_main(str(path), env={"CDKTF_OUTDIR": str(tmp_path / "out")})
    assert result.returncode == 1
    assert "local_state_dir" in result.stderr and "inside the output folder" in result.stderr
    assert "CDKTF_IMPORTED=False" in result.stdout


def test_no_backend_warns_once_and_names_the_state_folder(
    write_lz: WriteLz, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a valid file without a backend, and a stand-in for the (slow) synthesis
    path = write_lz(example(), "lz.yaml")
    built: list[Path] = []

    fake_stacks(monkeypatch, built)
    monkeypatch.setenv("CDKTF_OUTDIR", str(tmp_path / "out"))
    # WHEN main runs
    assert main.main([str(path)]) == 0
    # THEN exactly one warning names the local state folder, and the output folder came from CDKTF_OUTDIR
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and str(tmp_path / "terraform-state") in warnings[0]
    assert built[0] == tmp_path / "out"


def test_an_s3_backend_gives_no_warning(
    write_lz: WriteLz, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_lz(example() | {"backend": {"s3_bucket": "team-state"}}, "lz.yaml")

    fake_stacks(monkeypatch, [])
    assert main.main([str(path)]) == 0
    assert "warning:" not in capsys.readouterr().err
