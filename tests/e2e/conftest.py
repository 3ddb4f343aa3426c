"""One world per module: the moto server, the deployed stacks, the Samba AD lab, the handler's poller.

Module scope, not session: moto's backends are process-wide, so the world must be gone before other suites
start `mock_aws` in the same process.

Needs what the real-AD suite needs (root, Debian's Samba AD DC and tools) plus moto's server extra (Flask).
Without them the suite skips with the reason; under CI=true it fails instead.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Iterator

import pytest

from e2e.world import World
from tests.scripts.adlab import require_realad


def require_moto_server() -> None:
    if importlib.util.find_spec("flask") is None or importlib.util.find_spec("flask_cors") is None:
        message = "e2e: moto's server needs Flask and flask-cors (moto[server])"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    require_realad()
    require_moto_server()
    started = time.monotonic()
    running = World().start()
    print(f"\ne2e: world up after {time.monotonic() - started:.1f}s")
    try:
        yield running
    finally:
        running.close()
        print(f"\ne2e: world up for {time.monotonic() - started:.1f}s in total")
