"""Watch one instance join Active Directory and leave it again, step by step (`python -m e2e.demo`, as root).

Brings up the lab world (e2e/world.py: the synthesized stacks in a moto server, a Samba AD domain controller
and an AD tools host in network namespaces, the handler polling its queue), then:

1. launches a Linux instance in a spoke account, tagged with the login group, and waits until its keytab works
   and a member of the group can log in (a non-member cannot);
2. terminates it and waits until its computer object is gone.

Every step is printed with its time as it happens.  The last lines give the two figures the benchmark reports:
`join_seconds` (the running event's delivery to the handler -> working keytab and login) and `remove_seconds`
(the terminated event's delivery -> object removed).  Exit codes: 0 done, 1 a step failed, 2 cannot run here.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass

from e2e.world import (
    HOME_REGION,
    SPOKE_ACCOUNT,
    Instance,
    World,
    keytab_works,
    pam_login,
    start_sssd,
)
from handlers.domain_join import contract

REQUIRED = (
    "samba",
    "samba-tool",
    "adcli",
    "sssd",
    "pamtester",
    "kinit",
    "ldbsearch",
    "ip",
    "nsenter",
    "unshare",
)
STEP_TIMEOUT = 300.0


@dataclass(frozen=True)
class Joined:
    instance: Instance
    computer_name: str
    seconds: float  # running event delivered to the handler -> keytab and login work


def join_one(world: World) -> Joined:
    """Scenario 1: launch, then wait for a working keytab and a login of the group's member."""
    lab = world.lab
    assert lab is not None
    instance = world.launch(SPOKE_ACCOUNT, HOME_REGION, tags={contract.TAG_LOGIN_GROUP: lab.login_group})
    name = world.wait_for(
        "the ledger to name the computer",
        lambda: world.ledger(instance.instance_id).get("computerName"),
        STEP_TIMEOUT,
        every=0.2,
    )
    world.wait_for(
        "a working keytab", lambda: keytab_works(instance.machine, name).returncode == 0, STEP_TIMEOUT, 0.2
    )
    world.timeline.note("instance", f"{instance.instance_id}: kinit -k {name}$ works")
    start_sssd(lab, instance.machine)
    login = pam_login(instance.machine, lab.member, lab.member_password)
    if login.returncode != 0:
        raise AssertionError(f"{lab.member} cannot log in: {login.stderr}")
    done = time.time()
    world.timeline.note("instance", f"{instance.instance_id}: {lab.member} (in {lab.login_group}) logged in")
    outsider = pam_login(instance.machine, lab.outsider, lab.outsider_password)
    if outsider.returncode == 0:
        raise AssertionError(f"{lab.outsider} (not in {lab.login_group}) could log in")
    world.timeline.note("instance", f"{instance.instance_id}: {lab.outsider} (not in the group) refused")
    delivered = world.delivered_at(instance.instance_id, "running")
    assert delivered is not None
    return Joined(instance, str(name), done - delivered)


def remove_one(world: World, joined: Joined) -> float:
    """Scenario 2: terminate, wait until the computer object is gone; seconds from delivery to removal."""
    lab = world.lab
    assert lab is not None
    world.terminate(joined.instance)
    world.wait_for(
        "the object's removal", lambda: lab.computer(joined.computer_name) == {}, STEP_TIMEOUT, 0.2
    )
    gone = time.time()
    world.timeline.note("directory", f"{joined.computer_name} removed")
    world.wait_for(
        "REMOVE_SENT",
        lambda: world.ledger(joined.instance.instance_id).get("status") == "REMOVE_SENT",
        STEP_TIMEOUT,
        0.2,
    )
    world.timeline.note("ledger", f"{joined.instance.instance_id}: REMOVE_SENT")
    delivered = world.wait_for(
        "the terminated event's invocation",
        lambda: world.delivered_at(joined.instance.instance_id, "terminated"),
    )
    return gone - float(delivered)


def cannot_run_here() -> str | None:
    problems = []
    if os.geteuid() != 0:
        problems.append("needs root (network and mount namespaces)")
    missing = [c for c in REQUIRED if shutil.which(c) is None]
    if missing:
        problems.append(
            "missing commands: " + ", ".join(missing) + " (Debian: samba, adcli, sssd, pamtester, ...)"
        )
    return "; ".join(problems) or None


def main() -> int:
    problem = cannot_run_here()
    if problem:
        print(f"demo: {problem}", file=sys.stderr)
        return 2
    world = World(echo=True)
    try:
        world.start()
        world.timeline.note("demo", "--- scenario 1: launch a Linux instance in a spoke account ---")
        joined = join_one(world)
        world.timeline.note("demo", "--- scenario 2: terminate it ---")
        remove_seconds = remove_one(world, joined)
    except Exception as error:
        print(f"demo: failed: {error}", file=sys.stderr)
        return 1
    finally:
        world.close()
    print(f"join_seconds {joined.seconds:.1f}")
    print(f"remove_seconds {remove_seconds:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
