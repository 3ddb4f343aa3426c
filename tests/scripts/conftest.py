"""Fixtures for the script tests: one real AD lab per session (provisioning is most of the suite's time)."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .adlab import DC_IP, DOMAIN, REALM, Lab, require_realad


@pytest.fixture(scope="session")
def ad_lab() -> Iterator[Lab]:
    require_realad()
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="ec2-domain-join-realad-", dir="/var/tmp"))
    workdir.chmod(0o755)
    lab = Lab(workdir=workdir, suffix=f"{os.getpid() % 100000}")
    try:
        (workdir / "probe-krb5.conf").write_text(
            f"[libdefaults]\n default_realm = {REALM}\n dns_lookup_kdc = true\n rdns = false\n"
        )
        dc_netns = lab.add_netns("dc")
        tools_netns = lab.add_netns("tools")
        lab.make_lan(dc_netns)
        lab.plug(tools_netns, 2, dc_netns)
        lab.start_machine("dc", dc_netns, DC_IP)
        lab.start_machine("tools", tools_netns, DC_IP)
        lab.provision()
        print(f"\nrealad: domain {DOMAIN} serving after {time.monotonic() - started:.1f}s")
        yield lab
    finally:
        lab.close()
        print(f"\nrealad: lab up for {time.monotonic() - started:.1f}s in total")
