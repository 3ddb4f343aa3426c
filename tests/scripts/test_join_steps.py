"""domain-join.sh past its checks: every fallible step that fails ends the run with its documented exit code.

Each run is a real run as root inside a private mount namespace whose /etc is an overlay (the writes land in
a temporary directory; the host's files are never changed) and whose /run is empty (no systemd, unless a
test plants /run/systemd/system).  The domain is faked by commands put first on PATH: `adcli` (the join
succeeds), `authselect`, `visudo`, `systemctl`, `sss_cache`, and for the failure cases a `mkdir`, `mktemp`,
`mv` or `authselect` that fails when one of its arguments matches a pattern and runs the real one otherwise.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from .fakes import Host, new_host
from .fakes import run_join as run_host_join

IID = "i-0123456789abcdef0"
NAME = "EC2ABCDEFGHIJKL"
OTP = "Abcdefghijklmnop12345678"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="needs root and unshare for a private mount namespace with an overlay over /etc",
)


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return new_host(tmp_path)


def run_join(host: Host, *extra: str, systemd: bool = False) -> tuple[int, dict[str, object], str]:
    return run_host_join(host, f"{IID}={NAME}={OTP}", IID, *extra, systemd=systemd)


def test_a_run_with_every_step_working_joins_and_writes_the_configuration(host: Host) -> None:
    # GIVEN a host where every step works WHEN the join runs with groups in their long forms
    code, result, stderr = run_join(
        host, "--login-group", "CORP\\Linux Admins", "--sudo-group", "linux-sudo@corp.example.com"
    )
    # THEN it joined, and sssd and sudoers name the groups as sssd reports them (short names)
    assert (code, result["status"]) == (0, "joined"), stderr
    assert "simple_allow_groups = Linux Admins, linux-sudo" in (host.written / "sssd/sssd.conf").read_text()
    assert (host.written / "sudoers.d/ec2-domain-join").read_text().splitlines()[1] == (
        "%linux-sudo ALL=(ALL:ALL) ALL"
    )
    assert "default_realm = CORP.EXAMPLE.COM" in (host.written / "krb5.conf").read_text()
    assert OTP not in stderr + str(result)


@dataclass(frozen=True)
class Failure:
    """A step made to fail, and what the run must then report."""

    id: str
    inject: Callable[[Host], None]
    code: int
    status: str
    message: str
    args: tuple[str, ...] = ()
    systemd: bool = False
    untouched: tuple[str, ...] = ()  # files (relative to /etc) that must not have been written


FAILURES = [
    Failure("krb5-mkdir", lambda h: h.failing("mkdir", "/etc"), 10, "config-failed", "krb5.conf",
            untouched=("krb5.conf",)),
    Failure("krb5-mktemp", lambda h: h.failing("mktemp", "/etc/krb5.conf.*"), 10, "config-failed",
            "krb5.conf", untouched=("krb5.conf",)),
    Failure("krb5-mv", lambda h: h.failing("mv", "/etc/krb5.conf"), 10, "config-failed", "krb5.conf",
            untouched=("krb5.conf",)),
    Failure("sssd-mkdir", lambda h: h.failing("mkdir", "/etc/sssd"), 10, "config-failed", "sssd.conf",
            untouched=("sssd/sssd.conf",)),
    Failure("sssd-mktemp", lambda h: h.failing("mktemp", "/etc/sssd/*"), 10, "config-failed", "sssd.conf",
            untouched=("sssd/sssd.conf",)),
    Failure("sssd-mv", lambda h: h.failing("mv", "/etc/sssd/sssd.conf"), 10, "config-failed", "sssd.conf",
            untouched=("sssd/sssd.conf",)),
    Failure("authselect",
            lambda h: h.fake("authselect", 'case "$1" in current) exit 2;; select) exit 1;; esac; exit 0'),
            10, "config-failed", "NSS/PAM"),
    Failure("sudoers-mktemp", lambda h: h.failing("mktemp", "/etc/sudoers.d/*"), 10, "config-failed",
            "sudoers.d", args=("--sudo-group", "admins"), untouched=("sudoers.d/ec2-domain-join",)),
    Failure("sudoers-mv", lambda h: h.failing("mv", "/etc/sudoers.d/ec2-domain-join"), 10, "config-failed",
            "sudoers.d", args=("--sudo-group", "admins"), untouched=("sudoers.d/ec2-domain-join",)),
    Failure("visudo", lambda h: h.fake("visudo", "exit 1"), 11, "sudo-failed", "failed validation",
            args=("--sudo-group", "admins"), untouched=("sudoers.d/ec2-domain-join",)),
    Failure("resolv.conf-mv", lambda h: h.failing("mv", "/etc/resolv.conf"), 7, "dns-failed", "DNS",
            args=("--dns-ips", "10.0.0.2")),
    Failure("resolved-restart",
            lambda h: h.fake("systemctl", 'case "$*" in *"restart systemd-resolved"*) exit 1;; esac; exit 0'),
            7, "dns-failed", "DNS", args=("--dns-ips", "10.0.0.2"), systemd=True),
    Failure("sssd-restart",
            lambda h: h.fake("systemctl", 'case "$*" in *"restart sssd"*) exit 1;; esac; exit 0'),
            10, "config-failed", "restarting sssd", systemd=True),
    Failure("join-rejected",
            lambda h: h.fake("adcli", "cat >/dev/null; echo 'Password incorrect' >&2; exit 1"),
            8, "join-rejected", "rejected", untouched=("sssd/sssd.conf",)),
]  # fmt: skip


@pytest.mark.parametrize("failure", FAILURES, ids=[f.id for f in FAILURES])
def test_a_failing_step_ends_the_run_with_its_exit_code(host: Host, failure: Failure) -> None:
    # GIVEN a host where one step fails
    failure.inject(host)
    # WHEN the join runs
    code, result, stderr = run_join(host, *failure.args, systemd=failure.systemd)
    # THEN it stops there with that step's exit code and status, and leaves that step's file unwritten
    assert (code, result["status"], result["exitCode"]) == (failure.code, failure.status, failure.code), (
        stderr
    )
    assert failure.message in str(result["message"])
    assert [path for path in failure.untouched if (host.written / path).exists()] == []
    assert [name for name in os.listdir(host.written) if ".XXXXXX" in name or "krb5.conf." in name] == []
