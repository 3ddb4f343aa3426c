"""`ec2-domain-join`: the operator's command line.

    ec2-domain-join validate FILE          check a landing-zone file; one line per problem
    ec2-domain-join synth FILE [-o DIR]    validate, then synthesize every stack (progress per stack)

Exit codes (every command):
    0  done
    1  the input is invalid, or the operation failed (the reason is printed, never a traceback)
    2  usage: an unknown command or option, a missing argument

Errors go to standard error as `error: ...` lines; results to standard output.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from modules.landing_zone import LandingZone, LandingZoneError, load_landing_zone

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

PROJECT_NODE = Path(__file__).resolve().parent.parent / "tools" / "node_modules" / ".bin" / "node"
OUTDIR_ENV = "CDKTF_OUTDIR"

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Failed(Exception):
    """An expected failure: its lines are printed as `error:` lines and the command exits 1."""

    def __init__(self, lines: Sequence[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = list(lines)


def _load(path: Path) -> LandingZone:
    try:
        return load_landing_zone(path)
    except LandingZoneError as error:
        raise Failed([*error.problems, f"{len(error.problems)} problem(s) in {path}"]) from None


def _warn_without_backend(file: Path, lz: LandingZone) -> None:
    if lz.backend is None:
        err.print(
            f"warning: {file} has no backend: Terraform state stays in {lz.local_state_dir}", markup=False
        )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Operate ec2-domain-join: check and synthesize landing zones."""


@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
def validate(file: Path) -> None:
    """Check the landing-zone FILE without synthesizing anything."""
    lz = _load(file)
    plan = lz.stack_plan()
    out.print(
        f"ok: {file}: {len(lz.spokes)} enrolled account(s), {len(lz.all_regions)} Region(s), "
        f"{len(plan)} stack(s)",
        markup=False,
    )
    _warn_without_backend(file, lz)


@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    default=None,
    help=f"Where the stacks are written (default: ${OUTDIR_ENV} or cdktf.out).",
)
def synth(file: Path, output: Path | None) -> None:
    """Validate the landing-zone FILE, then synthesize one stack per unit and account."""
    outdir = output or Path(os.environ.get(OUTDIR_ENV) or "cdktf.out")
    lz = _load(file)
    plan = lz.stack_plan()
    _warn_without_backend(file, lz)
    if "JSII_NODE" not in os.environ and PROJECT_NODE.exists():
        os.environ["JSII_NODE"] = str(PROJECT_NODE)  # jsii no longer supports the system's Node.js 20
    started = time.monotonic()
    with err.status("loading cdktf and the AWS provider bindings") as status:
        from modules.stacks import build_app

        built: list[str] = []

        def on_stack(name: str) -> None:
            built.append(name)
            status.update(f"built {len(built)}/{len(plan)} stacks: {name}")

        try:
            application = build_app(lz, outdir, on_stack=on_stack)
        except ValueError as error:  # e.g. local state inside the output folder
            raise Failed([f"{file}: {error}"]) from None
        status.update(f"writing {len(plan)} stacks to {outdir}")
        application.synth()
    table = Table("stack", "account", "Regions", "resources", box=None, pad_edge=False)
    for name, account, regions in plan:
        table.add_row(name, account, regions, str(_resource_count(outdir / "stacks" / name / "cdk.tf.json")))
    out.print(table)
    out.print(
        f"synthesized {len(plan)} stack(s) into {outdir} in {time.monotonic() - started:.1f} s", markup=False
    )


def _resource_count(stack_file: Path) -> int:
    try:
        resources = json.loads(stack_file.read_text()).get("resource", {})
    except (OSError, ValueError):
        return 0
    return sum(len(by_name) for by_name in resources.values())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code (see the module docstring)."""
    try:
        cli.main(
            args=list(argv) if argv is not None else None, prog_name="ec2-domain-join", standalone_mode=False
        )
    except Failed as failure:
        for line in failure.lines:
            err.print(f"error: {line}", markup=False)
        return EXIT_FAILED
    except click.exceptions.NoArgsIsHelpError as shown:
        click.echo(shown.ctx.get_help() if shown.ctx else "", err=True)
        return EXIT_USAGE
    except click.UsageError as error:
        error.show()
        return EXIT_USAGE
    except click.ClickException as error:
        error.show()
        return EXIT_FAILED
    except (click.Abort, KeyboardInterrupt):
        err.print("error: interrupted")
        return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
