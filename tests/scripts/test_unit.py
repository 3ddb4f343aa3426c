"""Fast checks of the bash scripts' pure parts: options, entry selection, exit codes on bad input, no secrets.

None of these reach a domain: each input is rejected, or the run stops (--dry-run, no network) first.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from .adlab import (
    BASE_ENV,
    COMPUTERS_ENV,
    JOIN_SCRIPT,
    PRESTAGE_SCRIPT,
    REMOVE_SCRIPT,
    parse_results,
    random_instance_id,
    random_otp,
    stamp_for,
)

IS_ROOT = os.geteuid() == 0


def run(
    script: Path,
    args: Sequence[str],
    computers: str,
    *,
    stdin: str = "",
    prefix: Sequence[str] = (),
    cwd: Path | None = None,
) -> tuple[int, list[dict[str, object]], str]:
    completed = subprocess.run(
        [*prefix, "bash", str(script), *args],
        cwd=cwd,
        env={**BASE_ENV, COMPUTERS_ENV: computers},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return completed.returncode, parse_results(completed.stdout), completed.stdout + completed.stderr


def join_args(instance_id: str, *extra: str) -> list[str]:
    return [
        "--domain", "corp.example.com", "--dns-ips", "10.0.0.10,10.0.1.10", "--login-group", "linux admins",
        "--sudo-group", "", "--instance-id", instance_id, "--skip-packages", *extra,
    ]  # fmt: skip


@pytest.fixture
def fleet() -> dict[str, tuple[str, str]]:
    """Three instances of one Run Command: instance id -> (computer name, one-time password)."""
    return {random_instance_id(): (f"EC2-{n}ABCDEF", random_otp()) for n in range(3)}


def computers_of(fleet: dict[str, tuple[str, str]]) -> str:
    return " ".join(f"{iid}={name}={otp}" for iid, (name, otp) in fleet.items())


# --- domain-join.sh ---------------------------------------------------------------------------------------


def test_join_picks_the_entry_of_its_own_instance(fleet: dict[str, tuple[str, str]]) -> None:
    instance_id = list(fleet)[1]
    code, results, output = run(JOIN_SCRIPT, join_args(instance_id, "--dry-run"), computers_of(fleet))
    assert code == 0, output
    assert results == [
        {
            "status": "dry-run",
            "exitCode": 0,
            "changed": False,
            "instanceId": instance_id,
            "computerName": fleet[instance_id][0],
            "domain": "corp.example.com",
            "check": "",
            "message": "arguments valid; entry found",
        }
    ]
    for _, otp in fleet.values():
        assert otp not in output


def test_join_lowercases_the_domain_and_accepts_empty_optional_values(
    fleet: dict[str, tuple[str, str]],
) -> None:
    instance_id = next(iter(fleet))
    args = ["--domain", "Corp.Example.COM", "--dns-ips", "", "--login-group", "", "--sudo-group", ""]
    code, results, output = run(
        JOIN_SCRIPT, [*args, "--instance-id", instance_id, "--dry-run"], computers_of(fleet)
    )
    assert code == 0, output
    assert results[0]["domain"] == "corp.example.com"


def test_join_without_an_entry_for_this_instance_exits_4(fleet: dict[str, tuple[str, str]]) -> None:
    stranger = random_instance_id()
    code, results, _ = run(JOIN_SCRIPT, join_args(stranger, "--dry-run"), computers_of(fleet))
    assert code == 4
    assert (results[0]["status"], results[0]["instanceId"]) == ("no-entry", stranger)


def test_join_with_an_empty_computer_list_exits_4() -> None:
    code, results, _ = run(JOIN_SCRIPT, join_args(random_instance_id(), "--dry-run"), "")
    assert code == 4
    assert results[0]["status"] == "no-entry"


@pytest.mark.parametrize(
    "entry",
    [
        "{iid}=WEB01=short1A",  # OTP too short
        "{iid}=WEB01=Abcdefghijklmnop1234567$%",  # OTP with characters outside [A-Za-z0-9]
        "{iid}=web01=Abcdefghijklmnop12345678",  # computer name not upper case
        "{iid}=WEB01-WAY-TOO-LONG=Abcdefghijklmnop12345678",  # computer name longer than 15
        "{iid}=1WEB=Abcdefghijklmnop12345678",  # computer name starting with a digit
    ],
)
def test_join_rejects_a_malformed_entry_with_exit_4(entry: str) -> None:
    instance_id = random_instance_id()
    code, results, output = run(
        JOIN_SCRIPT, join_args(instance_id, "--dry-run"), entry.format(iid=instance_id)
    )
    assert code == 4
    assert results[0]["status"] == "invalid-entry"
    otp = entry.rsplit("=", 1)[1]
    assert otp not in output


@pytest.mark.parametrize(
    "args",
    [
        ["--domain", "not_a_domain"],
        ["--domain", "corp.example.com", "--dns-ips", "10.0.0.300"],
        ["--domain", "corp.example.com", "--dns-ips", "10.0.0.1;reboot"],
        ["--domain", "corp.example.com", "--login-group", "admins; rm -rf /"],
        ["--domain", "corp.example.com", "--sudo-group", "ALL=(ALL)"],
        ["--domain", "corp.example.com", "--instance-id", "web01"],
        ["--domain", "corp.example.com", "--wait-seconds", "ten"],
        ["--domain", "corp.example.com", "--retry-interval", "0"],
        ["--domain", "corp.example.com", "--unknown-option"],
        ["--domain"],
        [],
    ],
)
def test_join_rejects_invalid_arguments_with_exit_2(args: list[str]) -> None:
    code, results, _ = run(JOIN_SCRIPT, args, "")
    assert code == 2
    assert [result["status"] for result in results] == ["invalid-arguments"]


@pytest.mark.skipif(
    not IS_ROOT or shutil.which("setpriv") is None, reason="needs root to drop to another user"
)
def test_join_as_a_normal_user_exits_3_before_changing_anything(fleet: dict[str, tuple[str, str]]) -> None:
    instance_id = next(iter(fleet))
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    code, results, _ = run(JOIN_SCRIPT, join_args(instance_id), computers_of(fleet), prefix=nobody)
    assert code == 3
    assert results[0]["status"] == "not-root"


@pytest.mark.skipif(not IS_ROOT, reason="needs root for a network namespace without IMDS")
def test_join_without_imds_and_without_instance_id_exits_5(fleet: dict[str, tuple[str, str]]) -> None:
    args = ["--domain", "corp.example.com", "--dry-run"]
    code, results, _ = run(JOIN_SCRIPT, args, computers_of(fleet), prefix=["unshare", "--net"])
    assert code == 5
    assert results[0]["status"] == "no-instance-id"


# --- prestage.sh / remove.sh ------------------------------------------------------------------------------

TOOLS_ARGS = ["--domain", "corp.example.com", "--join-user", "svc-join"]


@pytest.mark.parametrize("script", [PRESTAGE_SCRIPT, REMOVE_SCRIPT], ids=["prestage", "remove"])
@pytest.mark.parametrize(
    "args",
    [
        TOOLS_ARGS,  # no password source
        [*TOOLS_ARGS, "--password-stdin", "--password-parameter", "/ad/join"],  # two password sources
        [*TOOLS_ARGS, "--password-parameter", "/ad/join password"],  # not a parameter name
        ["--domain", "corp", "--join-user", "svc-join", "--password-stdin"],
        ["--domain", "corp.example.com", "--join-user", "svc join", "--password-stdin"],
        [*TOOLS_ARGS, "--password-stdin", "--server", "dc1;reboot"],
        [*TOOLS_ARGS, "--password-stdin", "--bogus"],
    ],
)
def test_tools_scripts_reject_invalid_arguments_with_exit_2(script: Path, args: list[str]) -> None:
    name = "WEB01"
    computers = f"{name}={random_otp()}={stamp_for(random_instance_id())}"
    if script == REMOVE_SCRIPT:
        computers = f"{name}={stamp_for(random_instance_id())}"
    code, results, _ = run(script, args, computers)
    assert code == 2
    assert {(result["computerName"], result["status"]) for result in results} == {(name, "invalid-arguments")}


@pytest.mark.parametrize("script", [PRESTAGE_SCRIPT, REMOVE_SCRIPT], ids=["prestage", "remove"])
@pytest.mark.parametrize("user", ["svc-join", "CORP\\svc-join", "svc-join@corp.example.com"])
def test_tools_scripts_accept_the_join_user_forms_the_documents_allow(script: Path, user: str) -> None:
    """Accepted names get as far as reading the password (exit 3 on an empty one), not a usage error."""
    instance_id = random_instance_id()
    entry = (
        f"WEB01={random_otp()}={stamp_for(instance_id)}"
        if script == PRESTAGE_SCRIPT
        else f"WEB01={stamp_for(instance_id)}"
    )
    args = ["--domain", "corp.example.com", "--join-user", user, "--password-stdin"]
    code, _, _ = run(script, args, entry, stdin="\n")
    assert code == 3


@pytest.mark.parametrize(
    "group", ["linux-admins", "Linux Admins", "CORP\\linux-admins", "linux-admins@corp.example.com"]
)
def test_join_accepts_the_group_forms_the_document_allows(
    group: str, fleet: dict[str, tuple[str, str]]
) -> None:
    instance_id = next(iter(fleet))
    args = ["--domain", "corp.example.com", "--login-group", group, "--sudo-group", group]
    code, results, output = run(
        JOIN_SCRIPT, [*args, "--instance-id", instance_id, "--dry-run"], computers_of(fleet)
    )
    assert code == 0, output
    assert results[0]["status"] == "dry-run"


def test_prestage_rejects_an_ou_that_is_not_a_dn() -> None:
    entry = f"WEB01={random_otp()}={stamp_for(random_instance_id())}"
    code, _, _ = run(
        PRESTAGE_SCRIPT, [*TOOLS_ARGS, "--ou", "Servers", "--password-stdin"], entry, stdin="x\n"
    )
    assert code == 2


@pytest.mark.parametrize(
    ("script", "entries"),
    [
        (PRESTAGE_SCRIPT, ["WEB01=Abcdefghijklmnop12345678", "web02=Abcdefghijklmnop12345678={stamp}"]),
        (PRESTAGE_SCRIPT, ["WEB03=short={stamp}", "WEB04=Abcdefghijklmnop12345678=someone-elses-stamp"]),
        (REMOVE_SCRIPT, ["WEB01", "WEB02=ec2-domain-join:1111/eu-west-1/i-0123456789abcdef0"]),
    ],
    ids=["prestage-fields", "prestage-values", "remove"],
)
def test_tools_scripts_report_each_malformed_entry_and_exit_8(script: Path, entries: list[str]) -> None:
    computers = " ".join(entry.format(stamp=stamp_for(random_instance_id())) for entry in entries)
    code, results, _ = run(script, [*TOOLS_ARGS, "--password-stdin"], computers, stdin="Secret0Password\n")
    assert code == 8
    assert [result["status"] for result in results] == ["invalid-entry"] * len(entries)


@pytest.mark.parametrize("script", [PRESTAGE_SCRIPT, REMOVE_SCRIPT], ids=["prestage", "remove"])
def test_a_wildcard_entry_is_one_malformed_entry_not_a_list_of_files(script: Path, tmp_path: Path) -> None:
    for name in ("WEB01=a", "WEB02=b", "WEB03=c"):
        (tmp_path / name).touch()
    code, results, _ = run(script, [*TOOLS_ARGS, "--password-stdin"], "WEB0*", stdin="x\n", cwd=tmp_path)
    assert code == 8
    assert [result["status"] for result in results] == ["invalid-entry"]


def test_join_does_not_expand_wildcards_in_the_list(
    fleet: dict[str, tuple[str, str]], tmp_path: Path
) -> None:
    """A wildcard entry is one malformed entry (exit 4), never the names of files that it would match."""
    instance_id = next(iter(fleet))
    (tmp_path / f"{instance_id}=EVIL=Abcdefghijklmnop12345678").touch()
    code, results, output = run(
        JOIN_SCRIPT, join_args(instance_id, "--dry-run"), "i-*=* " + computers_of(fleet), cwd=tmp_path
    )
    assert code == 4
    assert (results[0]["status"], results[0]["computerName"]) == ("invalid-entry", "")
    assert "EVIL" not in output


@pytest.mark.parametrize("script", [PRESTAGE_SCRIPT, REMOVE_SCRIPT], ids=["prestage", "remove"])
def test_tools_scripts_exit_3_when_the_password_is_empty(script: Path) -> None:
    instance_id = random_instance_id()
    entry = f"WEB01={random_otp()}={stamp_for(instance_id)}"
    if script == REMOVE_SCRIPT:
        entry = f"WEB01={stamp_for(instance_id)}"
    code, results, _ = run(script, [*TOOLS_ARGS, "--password-stdin"], entry, stdin="\n")
    assert code == 3
    assert [(result["computerName"], result["status"]) for result in results] == [("WEB01", "no-password")]


@pytest.mark.skipif(not IS_ROOT, reason="needs root for a network namespace without a domain")
@pytest.mark.parametrize("script", [PRESTAGE_SCRIPT, REMOVE_SCRIPT], ids=["prestage", "remove"])
def test_tools_scripts_never_print_the_password_or_otp(script: Path) -> None:
    """Without a network the login fails (exit 4); neither the password nor an OTP may appear anywhere."""
    password, otp, instance_id = "Join0Password0Secret", random_otp(), random_instance_id()
    entry = (
        f"WEB01={otp}={stamp_for(instance_id)}"
        if script == PRESTAGE_SCRIPT
        else f"WEB01={stamp_for(instance_id)}"
    )
    code, results, output = run(
        script, [*TOOLS_ARGS, "--password-stdin"], entry, stdin=password + "\n", prefix=["unshare", "--net"]
    )
    assert code == 4
    assert results[0]["status"] == "login-failed"
    assert password not in output
    assert otp not in output
