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


# --- one search and one batch per run -----------------------------------------------------------------------

STAMPS = {
    name: f"ec2-domain-join:123456789012/eu-west-1/i-0123456789abcde{n}" for n, name in enumerate("ABC")
}


def names_and_statuses(results: list[dict[str, object]]) -> list[tuple[object, object]]:
    return [(r["computerName"], r["status"]) for r in results]


def test_prestage_sends_every_computer_over_one_search_and_one_connection(directory: Directory) -> None:
    # GIVEN three new computers
    listed = " ".join(f"WEB{n}={OTP}={STAMPS[n]}" for n in "ABC")
    # WHEN prestage runs
    code, results, stderr = directory.run(PRESTAGE_SCRIPT, listed)
    # THEN one ldapsearch asked for all three, one ldapmodify (-c, rejects on a pipe) created them in order
    assert code == 0, stderr
    assert names_and_statuses(results) == [("WEBA", "created"), ("WEBB", "created"), ("WEBC", "created")]
    calls = directory.calls
    assert [call.split()[0] for call in calls] == ["ldapsearch", "ldapmodify"]
    assert all(f"(sAMAccountName=WEB{n}$)" in calls[0] for n in "ABC")
    assert "-c -S /dev/fd/3" in calls[1]
    records = ldif_records((directory.root / "modify.ldif").read_text())
    assert [(r["sAMAccountName"], r["unicodePwd"]) for r in records] == [
        (f"WEB{n}$", f'"{OTP}"') for n in "ABC"
    ]


def test_a_rejected_record_fails_only_its_own_computer(directory: Directory) -> None:
    # GIVEN a directory that refuses the creation of WEBB only
    directory.reject("WEBB", "Insufficient access (50), additional info: 00002098: SecErr")
    listed = " ".join(f"WEB{n}={OTP}={STAMPS[n]}" for n in "ABC")
    # WHEN prestage runs
    code, results, _ = directory.run(PRESTAGE_SCRIPT, listed)
    # THEN WEBB failed with the directory's words, the others were created, and no OTP is in the output
    assert code == 7
    assert names_and_statuses(results) == [("WEBA", "created"), ("WEBB", "failed"), ("WEBC", "created")]
    assert "00002098: SecErr" in str(results[1]["message"])
    assert OTP not in str(results)
    assert os.listdir(directory.tmp) == [], "the rejects (and the work directory) are gone"


def test_a_batch_that_fails_as_a_whole_fails_every_change(directory: Directory) -> None:
    # GIVEN an object of ours (a reset) and a new one, and an ldapmodify that cannot reach the directory
    directory.answer(
        f"dn: CN=WEBA,OU=Servers,DC=corp,DC=example,DC=com\ndescription: {STAMPS['A']}\n", "WEBA"
    )
    (directory.root / "modify.down").write_text("ldap_sasl_interactive_bind: Can't contact LDAP server (-1)")
    listed = f"WEBA={OTP}={STAMPS['A']} WEBB={OTP}={STAMPS['B']}"
    # WHEN prestage runs THEN nothing is taken as done: both fail with the tool's error text
    code, results, _ = directory.run(PRESTAGE_SCRIPT, listed)
    assert code == 7
    assert names_and_statuses(results) == [("WEBA", "failed"), ("WEBB", "failed")]
    assert all("Can't contact LDAP server" in str(r["message"]) for r in results)
    assert results[0]["message"].startswith("resetting the password of")


def test_a_computer_listed_twice_is_handled_again_after_its_first_entry(directory: Directory) -> None:
    # GIVEN a list naming WEBA twice
    listed = f"WEBA={OTP}={STAMPS['A']} WEBB={OTP}={STAMPS['B']} WEBA={OTP}={STAMPS['A']}"
    # WHEN prestage runs THEN the second entry sees what the first did (a reset of the created object), as
    # one run per entry would, and the results keep the list's order
    code, results, stderr = directory.run(PRESTAGE_SCRIPT, listed)
    assert code == 0, stderr
    assert names_and_statuses(results) == [("WEBA", "created"), ("WEBB", "created"), ("WEBA", "reset")]
    assert [call.split()[0] for call in directory.calls] == ["ldapsearch", "ldapmodify"] * 2


def ours(name: str, extra: str = "") -> str:
    return f"dn: CN={name},OU=Servers,DC=corp,DC=example,DC=com\ndescription: {STAMPS[name[-1]]}\n{extra}"


def test_remove_deletes_with_the_tree_delete_control_and_checks_the_result(directory: Directory) -> None:
    # GIVEN two objects of ours and one that is not
    directory.answer(ours("WEBA"), "WEBA")
    directory.answer(ours("WEBB"), "WEBB")
    directory.answer("dn: CN=WEBC,OU=Servers,DC=corp,DC=example,DC=com\ndescription: file server\n", "WEBC")
    # WHEN remove runs
    code, results, stderr = directory.run(REMOVE_SCRIPT, " ".join(f"WEB{n}={STAMPS[n]}" for n in "ABC"))
    # THEN ours were deleted with their children (the tree-delete control on each record), the other refused,
    # and one search before and one after framed the one batch
    assert code == 6, stderr
    assert names_and_statuses(results) == [("WEBA", "deleted"), ("WEBB", "deleted"), ("WEBC", "refused")]
    records = ldif_records((directory.root / "modify.ldif").read_text())
    assert [(r["dn"], r["control"], r["changetype"]) for r in records] == [
        (f"CN=WEB{n},OU=Servers,DC=corp,DC=example,DC=com", "1.2.840.113556.1.4.805 true", "delete")
        for n in "AB"
    ]
    assert [call.split()[0] for call in directory.calls] == ["ldapsearch", "ldapmodify", "ldapsearch"]
    assert sorted(os.listdir(directory.root / "answers")) == ["WEBC"]


def test_a_delete_the_directory_accepted_but_did_not_do_is_a_failure(directory: Directory) -> None:
    directory.answer(ours("WEBA"), "WEBA")
    (directory.root / "stays").touch()
    code, results, _ = directory.run(REMOVE_SCRIPT, f"WEBA={STAMPS['A']}")
    assert (code, results[0]["status"]) == (7, "failed")
    assert str(results[0]["message"]).endswith("failed: it is still there")


def test_remove_reports_a_rejected_delete_with_the_directory_error(directory: Directory) -> None:
    directory.answer(ours("WEBA"), "WEBA")
    directory.reject("WEBA", "Insufficient access (50), additional info: no DELETE_TREE right")
    code, results, _ = directory.run(REMOVE_SCRIPT, f"WEBA={STAMPS['A']}")
    assert (code, results[0]["status"]) == (7, "failed")
    assert "no DELETE_TREE right" in str(results[0]["message"])
    assert (directory.root / "answers" / "WEBA").exists()


def test_disable_sets_accountdisable_in_one_stamp_checked_modify_and_keeps_the_object(
    directory: Directory,
) -> None:
    # GIVEN an enabled object of ours (a workstation trust account, 4096) and one already disabled
    directory.answer(ours("WEBA", "userAccountControl: 4096\n"), "WEBA")
    directory.answer(ours("WEBB", "userAccountControl: 4098\n"), "WEBB")
    # WHEN remove runs with the disable action
    code, results, stderr = directory.run(
        REMOVE_SCRIPT, f"WEBA={STAMPS['A']} WEBB={STAMPS['B']}", "--action", "disable"
    )
    # THEN WEBA got 4096|2 in a modify that deletes and re-adds its stamp (refused if the stamp changed), WEBB
    # is left as it is, and both objects are kept
    assert code == 0, stderr
    assert names_and_statuses(results) == [("WEBA", "disabled"), ("WEBB", "disabled")]
    assert "already disabled" in str(results[1]["message"])
    text = (directory.root / "modify.ldif").read_text()
    [record] = text.strip().split("\n\n")
    assert record.split("\n")[1:] == [
        "changetype: modify",
        *("delete: description", f"description: {STAMPS['A']}", "-"),
        *("add: description", f"description: {STAMPS['A']}", "-"),
        *("delete: userAccountControl", "userAccountControl: 4096", "-"),
        *("add: userAccountControl", "userAccountControl: 4098", "-"),
    ]
    assert sorted(os.listdir(directory.root / "answers")) == ["WEBA", "WEBB"]


def test_disable_fails_when_the_account_control_cannot_be_read(directory: Directory) -> None:
    directory.answer(ours("WEBA"), "WEBA")  # no userAccountControl in the answer
    code, results, _ = directory.run(REMOVE_SCRIPT, f"WEBA={STAMPS['A']}", "--action", "disable")
    assert (code, results[0]["status"]) == (7, "failed")
    assert not (directory.root / "modify.ldif").exists()


@pytest.mark.parametrize("action", ["", "Delete", "quarantine", "delete\n"])
def test_remove_refuses_an_unknown_action_before_logging_in(directory: Directory, action: str) -> None:
    code, results, _ = directory.run(REMOVE_SCRIPT, f"WEBA={STAMPS['A']}", "--action", action)
    assert (code, results[0]["status"]) == (2, "invalid-arguments")
    assert not (directory.root / "kinit.args").exists()


def test_a_rejected_record_with_a_base64_dn_is_matched_to_its_computer(directory: Directory) -> None:
    # GIVEN an OU with a non-ASCII name (the records' DNs travel in base64) and a refused WEBA
    directory.reject("WEBA", "Constraint violation (19)")
    listed = f"WEBA={OTP}={STAMPS['A']} WEBB={OTP}={STAMPS['B']}"
    code, results, _ = directory.run(PRESTAGE_SCRIPT, listed, "--ou", "OU=Büro,DC=corp,DC=example,DC=com")
    # THEN the rejection found its way back to WEBA only
    assert code == 7
    assert names_and_statuses(results) == [("WEBA", "failed"), ("WEBB", "created")]
    assert results[0]["message"] == (
        "creating CN=WEBA,OU=Büro,DC=corp,DC=example,DC=com failed: Constraint violation (19)"
    )
