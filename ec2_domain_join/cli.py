"""`ec2-domain-join`: the operator's command line (docs/cli.md).

    ec2-domain-join validate FILE          check a landing-zone file; one line per problem
    ec2-domain-join synth FILE [-o DIR]    validate, then synthesize every stack (progress per stack)
    ec2-domain-join status INSTANCE_ID     the ledger record of an instance and its last commands
    ec2-domain-join retry INSTANCE_ID      re-queue a JOIN_FAILED or REMOVE_FAILED record
    ec2-domain-join accounts               the config items, validated as the handler validates them
    ec2-domain-join reconcile --dry-run    the reconciliation plan of the enrolled accounts, as a table
    ec2-domain-join identity check         IAM Identity Center and the IdP hold what `identity` needs

One `@cli.command` per command here; each command's body lives in its own module (status.py, retry.py,
accounts.py, reconcile.py), imported when the command runs, so `validate` never loads boto3.

Exit codes (every command; `output.py`):
    0  done
    1  a problem was found, or the operation was refused or failed (the reason is printed)
    2  usage: an unknown command or option, a missing argument, no hub Region
    3  AWS access: no credentials, access denied (the action is named), throttled or unavailable
    4  not found: an unknown instance, table or queue

Errors go to standard error as `error: ...` lines, never a traceback; results to standard output.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import click
from rich.table import Table

from handlers.domain_join import contract
from handlers.domain_join.errors import DomainJoinError
from modules.landing_zone import LandingZone, LandingZoneError, load_landing_zone

from .errors import describe
from .output import (
    EXIT_AWS,
    EXIT_CODES_HELP,
    EXIT_FAILED,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_USAGE,
    Failed,
    err,
    out,
)
from .target import HubTarget, hub_options

__all__ = ["EXIT_AWS", "EXIT_FAILED", "EXIT_NOT_FOUND", "EXIT_OK", "EXIT_USAGE", "Failed", "cli", "main"]

PROJECT_NODE = Path(__file__).resolve().parent.parent / "tools" / "node_modules" / ".bin" / "node"
OUTDIR_ENV = "CDKTF_OUTDIR"


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


DEBUG_ENV = "EC2_DOMAIN_JOIN_DEBUG"  # set: an unexpected error shows its traceback


class OperatorGroup(click.Group):
    """Every command's expected failures (``Failed``, the adapter's AWS errors) become `error:` lines and
    the exit code of ``output.py``, under ``main`` and under click's own runner alike; an unexpected one
    is one line too (exit 1), with its traceback only when EC2_DOMAIN_JOIN_DEBUG is set."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except Failed as failure:
            for line in failure.lines:
                err.print(f"error: {line}", markup=False)
            raise click.exceptions.Exit(failure.code) from None
        except DomainJoinError as error:
            line, code = describe(error)
            err.print(f"error: {line}", markup=False)
            raise click.exceptions.Exit(code) from None
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as error:
            if os.environ.get(DEBUG_ENV):
                raise
            message = " ".join(str(error).split())[:300]
            name = error.__class__.__name__
            line = f"error: unexpected {name}: {message} (set {DEBUG_ENV}=1 for the traceback)"
            err.print(line, markup=False)
            raise click.exceptions.Exit(EXIT_FAILED) from None


@click.group(
    cls=OperatorGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP
)
def cli() -> None:
    """Operate ec2-domain-join: check and synthesize landing zones; look at and repair the fleet.

    The AWS commands use the standard AWS credential chain (AWS_PROFILE, environment, SSO, instance
    role) and find the hub's tables and queue from --hub-region and --name (see docs/cli.md).
    """


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


@cli.command(epilog=EXIT_CODES_HELP)
@click.argument("instance_id")
@click.option("--account", help="Expect the record in this account (else: exit 4).")
@click.option("--region", help="Expect the record in this Region (else: exit 4).")
@click.option(
    "--spoke-role",
    default="",
    help="A role (name in the instance's account, or ARN) to read the join command with, when the "
    "credentials are of another account.",
)
@hub_options
def status(instance_id: str, account: str | None, region: str | None, spoke_role: str, **hub: str) -> None:
    """The ledger record of INSTANCE_ID (state, computer name, times, attempts) and its last commands."""
    from . import status as command
    from .aws import OperatorAws

    command.run(OperatorAws(_hub(hub)), _instance(instance_id), account, region, spoke_role)


@cli.command(epilog=EXIT_CODES_HELP)
@click.argument("instance_id")
@click.option("--force", is_flag=True, help="Send even if a retry was queued within the last hour.")
@hub_options
def retry(instance_id: str, force: bool, **hub: str) -> None:
    """Re-queue a JOIN_FAILED (running event) or REMOVE_FAILED (terminated event) record of INSTANCE_ID."""
    from . import retry as command
    from .aws import OperatorAws

    command.run(OperatorAws(_hub(hub)), _instance(instance_id), force)


@cli.command(epilog=EXIT_CODES_HELP)
@hub_options
def accounts(**hub: str) -> None:
    """The config items, each validated as the handler validates it: one line per account."""
    from . import accounts as command
    from .aws import OperatorAws

    command.run(OperatorAws(_hub(hub)))


@cli.command(epilog=EXIT_CODES_HELP)
@click.option("--dry-run", is_flag=True, help="Decide and print the plan; change nothing.")
@click.option("--yes", is_flag=True, help="Carry the plan out (the deployed worker's configuration).")
@click.option("--account", "accounts", multiple=True, metavar="ACCOUNT", help="Only this account (repeat).")
@click.option("--region", "regions", multiple=True, metavar="REGION", help="Only this Region (repeatable).")
@click.option(
    "--spoke-role",
    default="",
    help="Describe each fleet through this role (a name in every enrolled account, or an ARN) instead of "
    "the execution role, which trusts only the hub.",
)
@click.option(
    "--hub-regions",
    envvar=contract.ENV_HUB_REGIONS,
    default="",
    metavar="R1,R2",
    help=f"Regions of accounts whose config item names none (default: the hub Region). Env: "
    f"{contract.ENV_HUB_REGIONS}.",
)
@click.option(
    "--inventory-bucket",
    envvar=contract.ENV_INVENTORY_BUCKET,
    default=None,
    help="The inventory bucket (default: NAME-inventory-ACCOUNT-REGION). Env: "
    f"{contract.ENV_INVENTORY_BUCKET}.",
)
@click.option("--skip-directory", is_flag=True, help="No directory pass (the inventory is not read).")
@hub_options
def reconcile(
    dry_run: bool,
    yes: bool,
    accounts: tuple[str, ...],
    regions: tuple[str, ...],
    spoke_role: str,
    hub_regions: str,
    inventory_bucket: str | None,
    skip_directory: bool,
    **hub: str,
) -> None:
    """Reconcile fleet, ledger and directory: print the plan (--dry-run) or carry it out (--yes)."""
    from . import reconcile as command
    from .aws import OperatorAws

    command.run(
        OperatorAws(_hub(hub)),
        accounts=accounts,
        regions=regions,
        dry_run=dry_run,
        yes=yes,
        spoke_role=spoke_role,
        hub_regions=[r.strip() for r in hub_regions.split(",") if r.strip()],
        inventory_bucket=inventory_bucket,
        directory=not skip_directory,
    )


@cli.group()
def identity() -> None:
    """Workforce identity (docs/identity.md): IAM Identity Center and the external IdP."""


@identity.command("check", epilog=EXIT_CODES_HELP)
@click.option(
    "--file",
    "file",
    type=click.Path(path_type=Path),
    default=lambda: os.environ.get("EC2_DOMAIN_JOIN_CONFIG"),
    help="The landing-zone file (default: $EC2_DOMAIN_JOIN_CONFIG).",
)
@click.option("--region", help="The IAM Identity Center Region (default: the file's identity.region).")
def identity_check(file: Path | None, region: str | None) -> None:
    """Verify through the APIs what the file's `identity` section needs; one line per missing thing."""
    from . import identity as command

    if file is None:
        raise Failed(["give --file LANDING_ZONE (or set EC2_DOMAIN_JOIN_CONFIG)"], EXIT_USAGE)
    lz = _load(Path(file))
    if lz.identity is None:
        raise Failed([f"{file}: has no identity section: nothing to check"], EXIT_USAGE)
    if not command.run(lz.identity, region, lambda line: out.print(line, markup=False)):
        raise click.exceptions.Exit(EXIT_FAILED)


def _hub(values: dict[str, str]) -> HubTarget:
    return HubTarget.from_options(values)


def _instance(instance_id: str) -> str:
    from handlers.domain_join import patterns

    if not patterns.INSTANCE_ID.match(instance_id):
        raise Failed([f"{instance_id[:40]!r} is not an instance id (i-0123456789abcdef0)"], EXIT_USAGE)
    return instance_id


def _resource_count(stack_file: Path) -> int:
    try:
        resources = json.loads(stack_file.read_text()).get("resource", {})
    except (OSError, ValueError):
        return 0
    return sum(len(by_name) for by_name in resources.values())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code (see the module docstring)."""
    try:
        returned = cli.main(
            args=list(argv) if argv is not None else None, prog_name="ec2-domain-join", standalone_mode=False
        )
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
    return returned if isinstance(returned, int) else EXIT_OK  # an `Exit` (help, a failure) returns its code


if __name__ == "__main__":
    sys.exit(main())
