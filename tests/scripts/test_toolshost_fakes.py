"""prestage.sh / remove.sh against a faked directory: what the real Samba lab cannot easily stage.

The Kerberos and LDAP tools are commands put first on PATH that log their calls and stdin and answer from
files: base64 answers (``dn::``, ``description::``), a directory that rejects a change with an error text, a
search that hangs while the run is killed.  The real-AD suite (test_realad*.py) covers the real directory.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .adlab import PRESTAGE_SCRIPT, REMOVE_SCRIPT
from .fakes import TOOLS_ARGS, Directory, ldif_records

OTP = "Abcdefghijklmnop12345678"
STAMP = "ec2-domain-join:123456789012/eu-west-1/i-0123456789abcdef0"
DN = "CN=WEB01,OU=Büro,DC=corp,DC=example,DC=com"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def directory(tmp_path: Path) -> Directory:
    return Directory(tmp_path)


def test_prestage_reads_a_base64_dn_and_description_and_resets_our_object(directory: Directory) -> None:
    # GIVEN our prestaged object in an OU with a non-ASCII name: LDAP answers its DN (and here the
    # description) in base64
    directory.answer(f"dn:: {b64(DN)}\ndescription:: {b64(STAMP)}\n")
    # WHEN prestage runs for it
    code, results, stderr = directory.run(PRESTAGE_SCRIPT, f"WEB01={OTP}={STAMP}")
    # THEN it recognises it as ours and resets its password, addressing it by its real DN
    assert (code, results[0]["status"]) == (0, "reset"), stderr
    assert DN in str(results[0]["message"])
    [record] = ldif_records((directory.root / "modify.ldif").read_text())
    assert record["dn"] == DN
    assert record["replace"] == "unicodePwd"


def test_prestage_creates_an_object_in_a_non_ascii_ou_with_a_base64_dn(directory: Directory) -> None:
    code, results, stderr = directory.run(
        PRESTAGE_SCRIPT, f"WEB01={OTP}={STAMP}", "--ou", "OU=Büro,DC=corp,DC=example,DC=com"
    )
    assert (code, results[0]["status"]) == (0, "created"), stderr
    [record] = ldif_records((directory.root / "modify.ldif").read_text())
    assert (record["dn"], record["description"], record["changetype"]) == (DN, STAMP, "add")


@pytest.mark.parametrize(
    "description",
    [f"{STAMP}\n", f"{STAMP}\t", f"x{STAMP}"],
    ids=["trailing-newline", "trailing-tab", "prefixed"],
)
def test_prestage_refuses_an_object_whose_base64_description_only_resembles_the_stamp(
    directory: Directory, description: str
) -> None:
    directory.answer(f"dn: CN=WEB01,OU=Servers,DC=corp,DC=example,DC=com\ndescription:: {b64(description)}\n")
    code, results, _ = directory.run(PRESTAGE_SCRIPT, f"WEB01={OTP}={STAMP}")
    assert (code, results[0]["status"]) == (6, "refused")
    assert not (directory.root / "modify.ldif").exists()


def test_remove_deletes_our_object_found_by_its_base64_dn(directory: Directory) -> None:
    directory.answer(f"dn:: {b64(DN)}\ndescription: {STAMP}\n")
    code, results, stderr = directory.run(REMOVE_SCRIPT, f"WEB01={STAMP}")
    assert (code, results[0]["status"]) == (0, "deleted"), stderr
    assert results[0]["message"] == f"deleted {DN}"


def test_a_rejected_change_reports_the_directory_error_in_the_result_line(directory: Directory) -> None:
    # GIVEN a directory that refuses the add, with an error text holding a tab and a control character
    error = "ldap_add: Insufficient access (50)\n\tadditional info: 00002098: SecErr: DSID-03150F94\x01"
    (directory.root / "modify.err").write_text(error)
    # WHEN prestage creates an object
    code, results, _ = directory.run(PRESTAGE_SCRIPT, f"WEB01={OTP}={STAMP}")
    # THEN the result line (valid JSON) says failed, exit 7, with the directory's own words
    assert (code, results[0]["status"]) == (7, "failed")
    assert "Insufficient access (50)" in str(results[0]["message"])
    assert "00002098" in str(results[0]["message"])
    assert OTP not in str(results)


def test_prestage_logs_in_with_a_short_lived_ticket(directory: Directory) -> None:
    code, _, stderr = directory.run(PRESTAGE_SCRIPT, f"WEB01={OTP}={STAMP}")
    assert code == 0, stderr
    assert (directory.root / "kinit.args").read_text().split()[:2] == ["-l", "10m"]
    assert os.listdir(directory.tmp) == [], "the private ticket cache and work directory are removed"


@pytest.mark.parametrize(
    "signal_number", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name
)
@pytest.mark.parametrize("script", [PRESTAGE_SCRIPT, REMOVE_SCRIPT], ids=["prestage", "remove"])
def test_a_killed_run_removes_its_ticket_cache(
    directory: Directory, script: Path, signal_number: int
) -> None:
    # GIVEN a run that holds a ticket and hangs in an LDAP search
    (directory.root / "hang").touch()
    entry = f"WEB01={OTP}={STAMP}" if script == PRESTAGE_SCRIPT else f"WEB01={STAMP}"
    process = subprocess.Popen(
        ["bash", str(script), *TOOLS_ARGS],
        env=directory.env(entry),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdin is not None
    process.stdin.write("Join0Password\n")
    process.stdin.close()
    deadline = time.monotonic() + 30
    while not (directory.root / "searching").exists():
        assert time.monotonic() < deadline and process.poll() is None, "the run never reached the search"
        time.sleep(0.05)
    assert len(os.listdir(directory.tmp)) == 1, "the work directory with the ticket cache exists"
    # WHEN the run is killed (its process group, as a cancelled command is)
    os.killpg(process.pid, signal_number)
    process.wait(timeout=30)
    # THEN the cache was destroyed and the work directory removed
    assert process.returncode == 128 + signal_number
    assert os.listdir(directory.tmp) == []
    assert (directory.root / "kdestroy.log").read_text().strip().startswith(f"FILE:{directory.tmp}/")
