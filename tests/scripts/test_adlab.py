"""The lab itself: its machines run the checkout's real files wherever the checkout lives.

CI runs the suite from a fresh clone at an unknown path, possibly under /tmp, which every machine masks with
its own tmpfs; the machines must still see the checkout and the interpreter at the host's paths.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import pytest

from .adlab import JOIN_SCRIPT, Lab, paths_hidden_by_machines

USR = Path("/usr")


@pytest.mark.parametrize(
    ("checkout", "venv", "hidden"),
    [
        (Path("/tmp/ci-clone"), Path("/tmp/ci-clone/.venv"), [Path("/tmp/ci-clone")]),
        (Path("/work/main"), Path("/work/main/.venv"), []),
        (Path("/work/main"), Path("/run/venvs/dj"), [Path("/run/venvs/dj")]),
        (Path("/tmp/a/clone"), Path("/tmp/venv"), [Path("/tmp/a/clone"), Path("/tmp/venv")]),
        (Path("/var/lib/samba-ci/clone"), Path("/tmpfoo/venv"), []),
    ],
    ids=["clone-under-tmp", "clone-in-work", "venv-under-run", "both-under-tmp", "look-alike-prefixes"],
)
def test_only_paths_under_a_masked_directory_are_kept(checkout: Path, venv: Path, hidden: list[Path]) -> None:
    # GIVEN where the checkout, its venv and the base interpreter live
    # WHEN the lab decides what its machines must see again
    kept = paths_hidden_by_machines([checkout, venv, USR])

    # THEN exactly the masked ones are kept, a path inside another kept path not separately
    assert kept == hidden


@pytest.mark.realad
def test_a_machine_sees_the_checkout_and_interpreter_but_keeps_its_own_tmp(ad_lab: Lab) -> None:
    # GIVEN a file in the host's /tmp, and the lab's tools host
    with tempfile.NamedTemporaryFile(dir="/tmp", prefix="dj-host-only-") as host_only:
        # WHEN this interpreter runs inside the machine and reads the checkout's join script
        probe = ad_lab.tools.run(
            [
                sys.executable,
                "-c",
                "import hashlib, json, os, sys; print(json.dumps({'prefix': sys.prefix, "
                "'script': hashlib.sha256(open(sys.argv[1], 'rb').read()).hexdigest(), "
                "'host_file_seen': os.path.exists(sys.argv[2])}))",
                str(JOIN_SCRIPT),
                host_only.name,
            ]
        )

    # THEN it is the same interpreter and the same script file, while /tmp is still the machine's own
    assert probe.returncode == 0, probe.stderr
    assert json.loads(probe.stdout) == {
        "prefix": sys.prefix,
        "script": hashlib.sha256(JOIN_SCRIPT.read_bytes()).hexdigest(),
        "host_file_seen": False,
    }
