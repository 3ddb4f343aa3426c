"""Tools-host throughput against the real Samba AD DC of the lab (as root; issue 9, "Tools-host throughput").

Starts the realad lab (tests/scripts/adlab.py: a Samba AD DC and a tools host in network namespaces), then
runs the real tools-host scripts from the checkout, each once, the way one command of the document runs them:

    prestage.sh with 50 new computers    (DomainJoin-Prestage, one command)
    remove.sh   with the same 50         (DomainJoin-Remove, one command)

and prints the wall time of each run (Kerberos login and DC discovery included) and the computers per second.
Every computer must come back `created`, then `deleted`, and the directory must agree (checked after the
timed runs, with the DC's own database); else the run counts as failed.  The last lines read

    prestage_computers_per_second <number>
    remove_computers_per_second <number>

Target: at least 10 per second each (a burst of 1,000 launches should not wait minutes for one tools host).
Options: --computers N (1-50, default 50), --rounds N (default 1; the best round is printed), --baseline REV
(also run the tools-host scripts of git revision REV in every round, right before the checkout's, in the same
lab: a before/after comparison under the same load; its figures are printed as baseline_...).
Exit codes: 0 measured and within target, 1 measured under target or a run failed, 2 cannot run here.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.scripts.adlab import (
    BASE_DN,
    COMPUTERS_ENV,
    DOMAIN,
    OU_DN,
    REALAD_COMMANDS,
    REPO,
    SCHEMA_DIR,
    Lab,
    parse_results,
    random_instance_id,
    random_otp,
    stamp_for,
)

TARGET_PER_SECOND = 10.0
MAX_COMPUTERS = 50
TOOLS_DIR = REPO / "scripts" / "toolshost"
BASELINE_DIR = REPO / "build" / "bench-toolshost"  # inside the checkout: the lab's machines see it


def cannot_run_here() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network and mount namespaces)"
    missing = [command for command in REALAD_COMMANDS if shutil.which(command) is None]
    if missing:
        return "missing commands: " + ", ".join(missing)
    if not SCHEMA_DIR.is_dir():
        return f"missing {SCHEMA_DIR} (Debian package samba-ad-provision)"
    return None


def timed(
    run: Callable[[], subprocess.CompletedProcess[str]],
) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.monotonic()
    result = run()
    return time.monotonic() - started, result


def baseline_scripts(revision: str) -> Path:
    """The tools-host scripts of a git revision, under build/ (which the lab's machines see)."""
    folder = BASELINE_DIR / revision
    folder.mkdir(parents=True, exist_ok=True)
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-tree", "--name-only", f"{revision}:scripts/toolshost"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in listed:
        text = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{revision}:scripts/toolshost/{name}"],
            capture_output=True,
            check=True,
        ).stdout
        (folder / name).write_bytes(text)
    return folder


def run_script(
    lab: Lab, folder: Path, script: str, computers: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    return lab.tools.run(
        [
            "bash",
            str(folder / script),
            "--domain",
            DOMAIN,
            "--join-user",
            lab.join_user,
            "--password-stdin",
            *extra,
        ],
        env={COMPUTERS_ENV: computers},
        input=lab.join_password + "\n",
    )


def names_in_directory(lab: Lab, prefix: str) -> set[str]:
    """The sAMAccountNames (without $) of the computers named prefix..., from the DC's own database."""
    result = lab.dc.run(
        ["ldbsearch", "-H", str(lab.sam_ldb), "-b", BASE_DN, f"(sAMAccountName={prefix}*)", "sAMAccountName"]
    )
    if result.returncode != 0:
        raise RuntimeError(f"ldbsearch failed: {result.stderr}")
    return {
        line.split(": ", 1)[1].rstrip("$")
        for line in result.stdout.splitlines()
        if line.startswith("sAMAccountName: ")
    }


def one_round(lab: Lab, folder: Path, count: int, prefix: str) -> tuple[float, float]:
    """Prestage then remove `count` new computers with the scripts in folder; the seconds of each run."""
    entries = []
    for index in range(count):
        instance_id = random_instance_id()
        entries.append((f"{prefix}{index:03d}", random_otp(), stamp_for(instance_id)))
    listed = " ".join(f"{n}={o}={s}" for n, o, s in entries)
    prestage_seconds, prestage = timed(lambda: run_script(lab, folder, "prestage.sh", listed, "--ou", OU_DN))
    statuses = [(r["computerName"], r["status"]) for r in parse_results(prestage.stdout)]
    if prestage.returncode != 0 or statuses != [(n, "created") for n, _, _ in entries]:
        raise RuntimeError(f"prestage failed: {prestage.stdout[-2000:]}{prestage.stderr[-2000:]}")
    if names_in_directory(lab, prefix) != {n for n, _, _ in entries}:
        raise RuntimeError("the directory does not hold every prestaged computer")
    listed = " ".join(f"{n}={s}" for n, _, s in entries)
    remove_seconds, remove = timed(lambda: run_script(lab, folder, "remove.sh", listed))
    statuses = [(r["computerName"], r["status"]) for r in parse_results(remove.stdout)]
    if remove.returncode != 0 or statuses != [(n, "deleted") for n, _, _ in entries]:
        raise RuntimeError(f"remove failed: {remove.stdout[-2000:]}{remove.stderr[-2000:]}")
    if names_in_directory(lab, prefix):
        raise RuntimeError("computers are left in the directory after the remove")
    return prestage_seconds, remove_seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--computers", type=int, default=MAX_COMPUTERS, choices=range(1, MAX_COMPUTERS + 1))
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--baseline", metavar="REV", help="also measure the tools-host scripts of this git revision"
    )
    options = parser.parse_args()
    problem = cannot_run_here()
    if problem:
        print(f"bench_toolshost: {problem}", file=sys.stderr)
        return 2
    runs = {"": TOOLS_DIR}
    if options.baseline:
        runs = {"baseline_": baseline_scripts(options.baseline), "": TOOLS_DIR}
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="ec2-domain-join-bench-", dir="/var/tmp"))
    workdir.chmod(0o755)
    lab = Lab.start(workdir, suffix=f"{os.getpid() % 100000}")
    best = {label: [float("inf"), float("inf")] for label in runs}
    try:
        print(f"lab up in {time.monotonic() - started:.1f}s; {options.computers} computers per run")
        for number in range(1, options.rounds + 1):
            for label, folder in runs.items():
                prefix = f"B{number}{'B' if label else 'C'}-"
                prestage_seconds, remove_seconds = one_round(lab, folder, options.computers, prefix)
                name = label.rstrip("_") or "checkout"
                print(
                    f"round {number} {name}: prestage {prestage_seconds:.2f}s, remove {remove_seconds:.2f}s"
                )
                best[label] = [min(best[label][0], prestage_seconds), min(best[label][1], remove_seconds)]
    except (RuntimeError, subprocess.CalledProcessError) as error:
        print(f"bench_toolshost: failed: {error}", file=sys.stderr)
        return 1
    finally:
        lab.close()
    print(f"load average: {' '.join(f'{value:.1f}' for value in os.getloadavg())}")
    print(f"target: at least {TARGET_PER_SECOND:.0f} computers per second each")
    for label in runs:
        print(f"{label}prestage_computers_per_second {options.computers / best[label][0]:.1f}")
        print(f"{label}remove_computers_per_second {options.computers / best[label][1]:.1f}")
    rates = [options.computers / seconds for seconds in best[""]]
    return 0 if min(rates) >= TARGET_PER_SECOND else 1


if __name__ == "__main__":
    sys.exit(main())
