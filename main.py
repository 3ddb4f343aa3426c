"""Synthesize the ec2-domain-join stacks of one landing zone.

usage: python main.py LANDING_ZONE.yaml
       EC2_DOMAIN_JOIN_CONFIG=LANDING_ZONE.yaml python main.py      (what `cdktf synth|diff|deploy` run)

Writes one stack per unit and account, `hub`, `forwarder-<region>` and `spoke-<account id>`, to the
folder in CDKTF_OUTDIR (the cdktf CLI sets it from `--output`; default cdktf.out).  Stacks without a
`backend` in the file keep their Terraform state in `local_state_dir` (default: terraform-state/ beside
the file), never inside the output folder, which cdktf and `make clean` delete.

Exit codes: 0 synthesized; 1 the landing-zone file is invalid (one line per problem, nothing written);
2 usage (no file given, or an unknown option).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from modules.landing_zone import LandingZoneError, load_landing_zone

REPOSITORY_ROOT = Path(__file__).resolve().parent
PROJECT_NODE = REPOSITORY_ROOT / "tools" / "node_modules" / ".bin" / "node"  # Node.js 22 from `make tools`
CONFIG_ENV = "EC2_DOMAIN_JOIN_CONFIG"
OUTDIR_ENV = "CDKTF_OUTDIR"
DEFAULT_OUTDIR = "cdktf.out"


def _usage(stream: object = sys.stderr) -> None:
    print(__doc__.strip(), file=stream)  # type: ignore[call-overload]


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help"):
        _usage(sys.stdout)
        return 0
    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        print(f"error: unexpected arguments: {' '.join(argv)}", file=sys.stderr)
        _usage()
        return 2
    chosen = argv[0] if argv else os.environ.get(CONFIG_ENV, "")
    if not chosen.strip():
        print(
            f"error: no landing-zone file: pass it as the argument, or set {CONFIG_ENV} "
            "(for cdktf synth|diff|deploy)",
            file=sys.stderr,
        )
        return 2
    config = Path(chosen)
    outdir = Path(os.environ.get(OUTDIR_ENV) or DEFAULT_OUTDIR)
    try:
        landing_zone = load_landing_zone(config)
    except LandingZoneError as error:
        for problem in error.problems:
            print(f"error: {problem}", file=sys.stderr)
        print(f"{len(error.problems)} problem(s) in {config}; nothing synthesized", file=sys.stderr)
        return 1
    state_dir = landing_zone.local_state_dir.resolve()
    if landing_zone.backend is None:
        if state_dir == outdir.resolve() or outdir.resolve() in state_dir.parents:
            print(
                f"error: {config}: local_state_dir: {state_dir} lies inside the output folder {outdir}, "
                "which cdktf deletes; nothing synthesized",
                file=sys.stderr,
            )
            return 1
        print(
            f"warning: {config} has no backend: Terraform state stays on this machine in {state_dir} "
            "(trials only; teams: add `backend: {s3_bucket: ...}`, see docs/modules.md)",
            file=sys.stderr,
        )

    if "JSII_NODE" not in os.environ and PROJECT_NODE.exists():
        os.environ["JSII_NODE"] = str(PROJECT_NODE)  # jsii no longer supports the system's Node.js 20
    from modules.stacks import build_app  # after validation: importing the provider bindings is slow

    print(f"synthesizing {config} into {outdir}", file=sys.stderr)
    try:
        app = build_app(landing_zone, outdir)
    except ValueError as error:  # a construct's own check (PropsError names the field)
        print(f"error: {config}: {error}; nothing synthesized", file=sys.stderr)
        return 1
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
