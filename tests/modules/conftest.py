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
    organization_landing_zone,
    synthesize_landing_zone,
)
from pin_addresses import EXAMPLE_LANDING_ZONE

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
    root = tmp_path_factory.mktemp("synth")
    org_config = write_landing_zone(organization_landing_zone(), "org.yaml")
    accounts_config = write_landing_zone(account_list_landing_zone(), "accounts.yaml")
    return LandingZones(
        synthesize_landing_zone(org_config, root / "org"),
        synthesize_landing_zone(accounts_config, root / "accounts"),
        org_config,
        accounts_config,
    )


@pytest.fixture(scope="session")
def synth(landing_zones: LandingZones) -> SynthesizedApp:
    return landing_zones.org


@pytest.fixture(scope="session")
def example(tmp_path_factory: pytest.TempPathFactory, landing_zones: LandingZones) -> SynthesizedApp:
    """examples/landing-zone.yaml, synthesized (after `landing_zones`, which pays for the imports)."""
    return synthesize_landing_zone(EXAMPLE_LANDING_ZONE, tmp_path_factory.mktemp("example") / "out")


@pytest.fixture(scope="session")
def plain_modules(tmp_path_factory: pytest.TempPathFactory, landing_zones: LandingZones) -> Path:
    """The plain modules emitted afresh (the session fixture has already paid for importing the bindings)."""
    from modules.plain_modules import emit

    dest = tmp_path_factory.mktemp("plain-modules")
    emit(dest)
    return dest
