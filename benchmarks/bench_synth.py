"""Synth benchmark: 500 spoke accounts x 17 Regions + hub + 16 forwarders (docs/architecture.md, "Targets").

Generates the landing zone into a temporary directory, runs `main.py` on it in a
subprocess (exactly what `make synth` runs), and measures wall time and the peak
memory of the whole process tree: Python plus the jsii node process it starts.
Memory is sampled from /proc (sum of RSS over the tree) and cross-checked with
getrusage(RUSAGE_CHILDREN), which only sees children once they are reaped.

The last two lines are `synth_seconds <n>` and `peak_rss_mib <n>`.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
ACCOUNTS = 500
REGIONS = [
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "sa-east-1",
    "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1",
    "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-southeast-1", "ap-southeast-2",
]  # fmt: skip
TARGET_SECONDS = 60
TARGET_MIB = 2048


def landing_zone(accounts: int = ACCOUNTS) -> dict[str, object]:
    home, *extra = REGIONS
    return {
        "organization_id": "o-benchmark01",
        "security_account_id": "100000000000",
        "home_region": home,
        "extra_regions": extra,
        "spokes": [{"account_id": f"{200000000000 + n}", "regions": list(REGIONS)} for n in range(accounts)],
    }


def _tree_rss_bytes(root_pid: int) -> int:
    """Sum of RSS of `root_pid` and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields[21]) * page
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        config = Path(tmp) / "landing-zone.yaml"
        config.write_text(yaml.safe_dump(landing_zone(), sort_keys=False))
        outdir = Path(tmp) / "cdktf.out"
        env = os.environ | {
            "CDKTF_OUTDIR": str(outdir),
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        }
        peak = 0
        done = threading.Event()
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, str(REPOSITORY_ROOT / "main.py"), str(config)], env=env)

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, _tree_rss_bytes(process.pid))
                done.wait(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = process.wait()
        elapsed = time.perf_counter() - started
        done.set()
        sampler.join()
        if code != 0:
            print(f"synth failed with exit code {code}", file=sys.stderr)
            return code
        children_maxrss_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        stacks = sorted(p.name for p in (outdir / "stacks").iterdir())
        out_bytes = sum(f.stat().st_size for f in outdir.rglob("*") if f.is_file())
        peak_mib = max(peak / 2**20, children_maxrss_mib)
        print(f"accounts {ACCOUNTS}")
        print(f"regions_per_account {len(REGIONS)}")
        print(f"stacks {len(stacks)} (hub, {sum(s.startswith('forwarder-') for s in stacks)} forwarders, "
              f"{sum(s.startswith('spoke-') for s in stacks)} spokes)")  # fmt: skip
        print(f"output_mib {out_bytes / 2**20:.1f}")
        print(f"cpu_count {os.cpu_count()}")
        print(f"largest_single_process_mib {children_maxrss_mib:.0f}")
        print(f"process_tree_sampled_peak_mib {peak / 2**20:.0f}")
        print(f"targets: < {TARGET_SECONDS} s, < {TARGET_MIB} MiB")
        print(f"synth_seconds {elapsed:.1f}")
        print(f"peak_rss_mib {peak_mib:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
