"""Fixtures for the script tests: one real AD lab per session (provisioning is most of the suite's time)."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .adlab import DOMAIN, Lab, require_realad


@pytest.fixture(scope="session")
def ad_lab() -> Iterator[Lab]:
    require_realad()
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="ec2-domain-join-realad-", dir="/var/tmp"))
    workdir.chmod(0o755)
    lab = Lab.start(workdir, suffix=f"{os.getpid() % 100000}")
    try:
        print(f"\nrealad: domain {DOMAIN} serving after {time.monotonic() - started:.1f}s")
        yield lab
    finally:
        lab.close()
        print(f"\nrealad: lab up for {time.monotonic() - started:.1f}s in total")
