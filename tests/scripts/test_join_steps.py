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
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from .adlab import BASE_ENV, COMPUTERS_ENV, JOIN_SCRIPT, parse_results

IID = "i-0123456789abcdef0"
NAME = "EC2ABCDEFGHIJKL"
OTP = "Abcdefghijklmnop12345678"
DOMAIN = "corp.example.com"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="needs root and unshare for a private mount namespace with an overlay over /etc",
)


@dataclass
class Host:
    """A fake host: PATH shims, the overlay's upper directory (what the run wrote) and its log of calls."""

    root: Path

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def written(self) -> Path:
        return self.root / "upper"

    @property
    def calls(self) -> list[str]:
        log = self.root / "calls.log"
        return log.read_text().splitlines() if log.exists() else []

    def fake(self, name: str, body: str) -> None:
        """A command that logs its call, then runs body (sh)."""
        path = self.bin / name
        path.write_text(f'#!/bin/sh\necho "{name} $*" >>"{self.root}/calls.log"\n{body}\n')
        path.chmod(0o755)

    def failing(self, name: str, when: str) -> None:
        """The real command, except that it fails when an argument matches the sh pattern `when`."""
        real = shutil.which(name, path=BASE_ENV["PATH"])
        assert real, name
        self.fake(
            name,
            f'for a in "$@"; do case "$a" in {when}) echo "{name}: injected" >&2; exit 1;; esac; done\n'
            f'exec {real} "$@"',
        )


@pytest.fixture
def host(tmp_path: Path) -> Host:
    fake = Host(tmp_path)
    fake.bin.mkdir()
    (tmp_path / "upper").mkdir()
    (tmp_path / "work").mkdir()
    fake.fake("adcli", 'case "$1" in join) cat >/dev/null; exit 0;; *) exit 1;; esac')
    fake.fake("authselect", 'case "$1" in current) exit 2;; *) exit 0;; esac')
    fake.fake("visudo", "exit 0")
    fake.fake("sss_cache", "exit 0")
    fake.fake("systemctl", "exit 0")
    return fake


def run_join(host: Host, *extra: str, systemd: bool = False) -> tuple[int, dict[str, object], str]:
    setup = (
        f"mount -t overlay overlay -o lowerdir=/etc,upperdir={host.root}/upper,workdir={host.root}/work /etc"
        " && mount -t tmpfs tmpfs /run && rm -f /etc/krb5.keytab"
        + (" && mkdir -p /run/systemd/system" if systemd else "")
        + ' && exec bash "$0" "$@"'
    )
    args = ["--domain", DOMAIN, "--instance-id", IID, "--skip-packages", "--wait-seconds", "0", *extra]
    completed = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", setup, str(JOIN_SCRIPT), *args],
        env={**BASE_ENV, "PATH": f"{host.bin}:{BASE_ENV['PATH']}", COMPUTERS_ENV: f"{IID}={NAME}={OTP}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    results = parse_results(completed.stdout)
    assert len(results) == 1, completed.stdout + completed.stderr
    return completed.returncode, results[0], completed.stderr


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
