"""Synthesize the ec2-domain-join stacks of one landing zone.

    python main.py [LANDING_ZONE.yaml]     (or EC2_DOMAIN_JOIN_CONFIG=...; default examples/landing-zone.yaml)

Writes one stack per unit and account to cdktf.out/ (CDKTF_OUTDIR overrides):
`hub`, `forwarder-<region>`, `spoke-<account id>`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from modules.landing_zone import LandingZoneError, load_landing_zone

REPOSITORY_ROOT = Path(__file__).resolve().parent
DEFAULT_CONFIG = REPOSITORY_ROOT / "examples" / "landing-zone.yaml"
CONFIG_ENV = "EC2_DOMAIN_JOIN_CONFIG"


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        print(__doc__, file=sys.stderr)
        return 2
    config = Path(argv[0] if argv else os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)
    try:
        landing_zone = load_landing_zone(config)
    except LandingZoneError as error:
        for problem in error.problems:
            print(f"error: {problem}", file=sys.stderr)
        print(f"{len(error.problems)} problem(s) in {config}; nothing synthesized", file=sys.stderr)
        return 1

    from modules.stacks import build_app  # after validation: importing the provider bindings is slow

    outdir = Path(os.environ.get("CDKTF_OUTDIR", "cdktf.out"))
    build_app(landing_zone, outdir).synth()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
