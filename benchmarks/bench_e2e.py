"""Seconds from an EC2 event's delivery to the handler to its effect in the real directory (as root).

In the lab world of e2e/world.py (join delay 0, so no hold): one Linux instance is launched in a spoke and
terminated again.  Prints the two figures, target under 30 s each on this machine:

    join_seconds <n>     running event delivered to the handler -> working keytab and a group member's login
    remove_seconds <n>   terminated event delivered to the handler -> computer object removed

Exit codes: 0 measured and within target, 1 measured over target or a step failed, 2 cannot run here.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from e2e.demo import cannot_run_here, join_one, remove_one
from e2e.world import World

TARGET_SECONDS = 30.0


def main() -> int:
    problem = cannot_run_here()
    if problem:
        print(f"bench_e2e: {problem}", file=sys.stderr)
        return 2
    started = time.monotonic()
    world = World()
    try:
        world.start()
        print(f"world up in {time.monotonic() - started:.1f}s")
        joined = join_one(world)
        remove_seconds = remove_one(world, joined)
    except Exception as error:
        print(f"bench_e2e: failed: {error}", file=sys.stderr)
        return 1
    finally:
        world.close()
    print(f"target: each under {TARGET_SECONDS:.0f}s")
    print(f"join_seconds {joined.seconds:.1f}")
    print(f"remove_seconds {remove_seconds:.1f}")
    return 0 if max(joined.seconds, remove_seconds) < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
