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
import time
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
            lambda h: h.fake("adcli", "cat >/dev/null; echo 'Insufficient permissions' >&2; exit 1"),
            8, "join-rejected", "rejected", untouched=("sssd/sssd.conf",)),
    # a resent join may start before its prestage reset the account: waited for, then rejected at the deadline
    Failure("password-not-accepted",
            lambda h: h.fake("adcli", "cat >/dev/null; echo 'Preauthentication failed' >&2; exit 1"),
            8, "join-rejected", "did not accept the one-time password within 2s",
            args=("--wait-seconds", "2", "--retry-interval", "1"), untouched=("sssd/sssd.conf",)),
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


# --- preflight: what a join needs from the network, before it is tried ------------------------------------


def test_the_preflight_passes_when_the_domain_answers_and_reports_no_check(host: Host) -> None:
    # GIVEN a domain whose records resolve, whose DC listens on every port and whose clock is 4 minutes ahead
    host.dc = {"clock_offset": 240}
    # WHEN the join runs
    code, result, stderr = run_join(host)
    # THEN the preflight passed (and said so on stderr), the join went on, and no check is named
    assert (code, result["status"], result["check"]) == (0, "joined", ""), stderr
    assert "preflight passed: dc1.corp.example.com (10.99.0.1)" in stderr
    assert "adcli join" in "\n".join(host.calls)


def test_the_preflight_query_is_one_datagram_whatever_bytes_it_holds(host: Host) -> None:
    # GIVEN a domain with a 10-character label: its length byte is a newline, where bash's printf flushes
    host.domain = "directory1.example.com"
    # WHEN the join runs THEN the DNS server got whole queries (no split datagram) and the preflight passed
    code, result, stderr = run_join(host)
    assert (code, result["status"]) == (0, "joined"), stderr + (host.root / "dc.log").read_text()


def test_the_preflight_reads_a_large_answer_and_takes_the_best_priority(host: Host) -> None:
    # GIVEN 60 more DCs in each SRV answer (over 512 bytes), listed before the best-priority one
    host.dc = {"extra_dcs": 60}
    # WHEN the join runs THEN the whole answer was read (EDNS) and the best-priority DC probed
    code, result, stderr = run_join(host)
    assert (code, result["status"]) == (0, "joined"), stderr
    assert "preflight passed: dc1.corp.example.com (10.99.0.1)" in stderr


def test_the_preflight_asks_again_without_edns_when_the_server_refuses_it(host: Host) -> None:
    # GIVEN a DNS server that answers FORMERR to a query with an EDNS record
    host.dc = {"formerr_edns": True}
    # WHEN the join runs THEN the preflight asked the classic way and passed
    code, result, stderr = run_join(host)
    assert (code, result["status"]) == (0, "joined"), stderr
    assert "preflight passed" in stderr


@dataclass(frozen=True)
class Unreachable:
    """A network fault of the fake domain, and what the preflight must then report."""

    id: str
    dc: dict[str, object]
    code: int
    check: str
    message: str


NO_SRV = "no SRV record {} (asked 10.99.0.1): is the Route 53 Resolver rule for corp.example.com associated"
PORT = (
    "domain controller 10.99.0.1 (dc1.corp.example.com) does not answer on TCP {}: check the security groups"
)
LDAP_SRV, KERBEROS_SRV = "_ldap._tcp.dc._msdcs.corp.example.com", "_kerberos._tcp.corp.example.com"
UNREACHABLE = [
    Unreachable("no-ldap-srv", {"srv": ["kerberos"]}, 15, "dns", NO_SRV.format(LDAP_SRV)),
    Unreachable("no-kerberos-srv", {"srv": ["ldap"]}, 15, "dns", NO_SRV.format(KERBEROS_SRV)),
    Unreachable("no-dns-server", {"dns": False}, 15, "dns", "the DNS server 10.99.0.1 did not answer"),
    Unreachable("dc-without-address", {"a_record": False}, 15, "dns",
                f"domain controller dc1.corp.example.com (from SRV {LDAP_SRV}) has no IPv4 address"),
    Unreachable("port-88", {"closed": [88]}, 16, "port-88",
                PORT.format("88 (Kerberos)") + " and network ACLs (docs/network.md)"),
    Unreachable("port-389", {"closed": [389]}, 17, "port-389", PORT.format("389 (LDAP)")),
    Unreachable("port-445", {"closed": [445]}, 18, "port-445", PORT.format("445 (SMB)")),
    Unreachable("port-464", {"closed": [464]}, 19, "port-464", PORT.format("464 (Kerberos password change)")),
    Unreachable("clock-ahead", {"clock_offset": 400}, 20, "clock", "s off the clock of domain controller"),
    Unreachable("clock-behind", {"clock_offset": -3600}, 20, "clock", "(Kerberos allows 300s)"),
]  # fmt: skip


@pytest.mark.parametrize("fault", UNREACHABLE, ids=[f.id for f in UNREACHABLE])
def test_a_failing_preflight_check_exits_with_its_code_and_names_itself(
    host: Host, fault: Unreachable
) -> None:
    # GIVEN a domain with one network fault
    host.dc = fault.dc
    # WHEN the join runs
    code, result, stderr = run_join(host)
    # THEN the preflight stops it before any join with the check's code, its name and the likely cause
    assert (code, result["status"], result["exitCode"], result["check"]) == (
        fault.code,
        "preflight-failed",
        fault.code,
        fault.check,
    ), stderr
    assert fault.message in str(result["message"])
    assert fault.message in stderr
    assert [call for call in host.calls if call.startswith("adcli join")] == []
    assert not (host.written / "sssd/sssd.conf").exists()


def test_a_failing_preflight_is_tried_again_until_the_dc_answers(host: Host) -> None:
    # GIVEN a DC whose Kerberos port opens 2 s after the run starts (a DC or a security group on its way)
    host.dc = {"late": {"88": 2}}
    # WHEN the join runs with time to wait
    code, result, stderr = run_join(host, "--wait-seconds", "60", "--retry-interval", "1")
    # THEN the preflight said why it waits, tried again, passed, and the join went on
    assert (code, result["status"], result["check"]) == (0, "joined", ""), stderr
    assert "preflight: domain controller 10.99.0.1 (dc1.corp.example.com) does not answer on TCP 88" in stderr
    assert "retrying in 1s" in stderr
    assert "preflight passed" in stderr


def test_a_preflight_that_keeps_failing_ends_the_run_at_the_deadline(host: Host) -> None:
    # GIVEN a DC whose Kerberos port stays closed WHEN the join may wait 2 s
    host.dc = {"closed": [88]}
    started = time.monotonic()
    code, result, stderr = run_join(host, "--wait-seconds", "2", "--retry-interval", "1")
    # THEN it tried more than once, and ended with the Kerberos port's failure once the time was up
    assert (code, result["check"]) == (16, "port-88"), stderr
    assert stderr.count("retrying in 1s") >= 1
    # (bash's SECONDS counts whole seconds from the shell's start: the 2 s deadline falls 1-2 s after it)
    assert time.monotonic() - started >= 1


def test_the_preflight_asks_systemd_resolved_when_it_runs(host: Host) -> None:
    # GIVEN systemd-resolved active (its stub at 127.0.0.53) and no SRV record for the domain
    host.dc = {"srv": []}
    # WHEN the join runs
    code, result, _ = run_join(host, systemd=True)
    # THEN the preflight asked the stub, whose per-domain routing is what the instance uses
    assert (code, result["check"]) == (15, "dns")
    assert "(asked 127.0.0.53)" in str(result["message"])


def test_the_preflight_is_skipped_when_already_joined(host: Host) -> None:
    # GIVEN a host already joined under its name (keytab and testjoin) while the DC's Kerberos port is closed
    host.dc = {"closed": [88]}
    keytab = (
        f"Keytab name: FILE:/etc/krb5.keytab\\nKVNO Principal\\n---- ---\\n   2 {NAME}$@CORP.EXAMPLE.COM\\n"
    )
    host.fake("klist", f"printf '{keytab}'")
    host.fake("adcli", "exit 0")
    host.keytab = True
    # WHEN the join runs again
    code, result, stderr = run_join(host)
    # THEN nothing is probed: an instance that works is not failed by a transient network fault
    assert (code, result["status"]) == (0, "already-joined"), stderr
    assert "preflight" not in stderr


# --- private subnets: installing forbidden ------------------------------------------------------------------


def host_file(*candidates: str) -> str:
    """The first of the paths that exists on this machine (where its distribution keeps the file)."""
    for candidate in candidates:
        if os.path.exists(candidate):
            return candidate
    pytest.skip(f"none of {candidates} on this machine")


def hide_command(host: Host, name: str) -> None:
    real = shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if real is None:
        pytest.skip(f"{name} is not installed here")
    (host.bin / name).unlink(missing_ok=True)
    host.hidden.append(os.path.realpath(real))


LIBRARY_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64")
MISSING = [
    ("adcli", lambda h: hide_command(h, "adcli"), "adcli"),
    ("sssd", lambda h: hide_command(h, "sssd"), "sssd"),
    ("kinit", lambda h: hide_command(h, "kinit"), "krb5-user"),
    ("sssd-ad", lambda h: h.hidden.append(host_file(*(f"{d}/sssd" for d in LIBRARY_DIRS))), "sssd-ad"),
    ("pam_sss", lambda h: h.hidden.append(host_file(*(f"{d}/security" for d in LIBRARY_DIRS))), "libpam-sss"),
]  # fmt: skip


@pytest.mark.parametrize(("hide", "package"), [m[1:] for m in MISSING], ids=[m[0] for m in MISSING])
def test_with_installing_forbidden_a_missing_package_is_named_and_nothing_installed(
    host: Host, hide: Callable[[Host], None], package: str
) -> None:
    # GIVEN an apt host (fake apt-get) missing one piece of the AD client, and installing forbidden
    host.fake("apt-get", "exit 0")
    hide(host)
    # WHEN the join runs with --install-packages false (the document's InstallPackages=false)
    code, result, stderr = run_join(host, "--install-packages", "false")
    # THEN it exits 14 naming the package to bake into the image, installs nothing and writes nothing
    assert (code, result["status"]) == (14, "packages-missing"), stderr
    message = str(result["message"])
    assert message.startswith("installing is off and these packages are missing: ")
    assert package in message.split(": ", 1)[1].split(" (")[0].split()
    assert "bake them into the AMI" in message
    assert [call for call in host.calls if call.startswith("apt-get")] == []
    assert not (host.written / "krb5.conf").exists()


def test_with_installing_forbidden_and_everything_present_the_join_goes_on(host: Host) -> None:
    # GIVEN an apt host with the whole AD client present
    host.fake("apt-get", "exit 0")
    # WHEN the join runs with installing forbidden
    code, result, stderr = run_join(host, "--install-packages", "false")
    # THEN it joins without calling the package manager
    assert (code, result["status"]) == (0, "joined"), stderr
    assert [call for call in host.calls if call.startswith("apt-get")] == []


def test_with_installing_allowed_a_missing_package_is_installed(host: Host) -> None:
    # GIVEN an apt host (fake apt-get) without adcli WHEN the join runs with installing allowed (the default)
    host.fake("apt-get", "exit 0")
    hide_command(host, "adcli")
    host.fake("adcli", 'case "$1" in join) cat >/dev/null; exit 0;; *) exit 1;; esac')
    host.hidden.append(str(host.bin / "adcli"))
    _, _, stderr = run_join(host, "--install-packages", "true")
    # THEN the package manager is asked for the AD client (this fake installs nothing; the join goes on)
    installs = [call for call in host.calls if call.startswith("apt-get install")]
    assert len(installs) == 1, stderr
    assert {"adcli", "sssd", "sssd-ad", "krb5-user", "libpam-sss", "libnss-sss"} <= set(installs[0].split())


def test_install_packages_takes_only_true_or_false(host: Host) -> None:
    # GIVEN a value that is not a boolean WHEN the join runs THEN it is a usage error
    code, result, _ = run_join(host, "--install-packages", "no")
    assert (code, result["status"]) == (2, "invalid-arguments")
