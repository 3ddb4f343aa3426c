"""One synthesized landing zone per test session, shared by every module test.

Importing the AWS provider bindings costs ~15 s and ~1.5 GB, so the app is built
once (two landing zones: one organization-scoped, one with an explicit account
list and the non-default options) and every test reads the parsed JSON.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from modules_testlib import (
    LandingZones,
    SynthesizedApp,
    account_list_landing_zone,
    load_stacks,
    organization_landing_zone,
)

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@pytest.fixture(scope="session")
def write_landing_zone(tmp_path_factory: pytest.TempPathFactory) -> Callable[[dict[str, Any], str], Path]:
    """Factory: write a landing-zone dict as YAML and return its path."""
    directory = tmp_path_factory.mktemp("landing-zones")

    def write(data: dict[str, Any], name: str = "landing-zone.yaml") -> Path:
        path = directory / name
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return write


@pytest.fixture(scope="session")
def landing_zones(
    tmp_path_factory: pytest.TempPathFactory, write_landing_zone: Callable[[dict[str, Any], str], Path]
) -> LandingZones:
    from modules.landing_zone import load_landing_zone
    from modules.stacks import build_app

    root = tmp_path_factory.mktemp("synth")
    org_config = write_landing_zone(organization_landing_zone(), "org.yaml")
    accounts_config = write_landing_zone(account_list_landing_zone(), "accounts.yaml")
    apps = []
    for name, config in (("org", org_config), ("accounts", accounts_config)):
        outdir = root / name
        build_app(load_landing_zone(config), outdir, root / f"{name}-artifact" / "domain_join.zip").synth()
        apps.append(SynthesizedApp(outdir, load_stacks(outdir)))
    return LandingZones(apps[0], apps[1], org_config, accounts_config)


@pytest.fixture(scope="session")
def synth(landing_zones: LandingZones) -> SynthesizedApp:
    return landing_zones.org
