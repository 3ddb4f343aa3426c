"""inventory.sh (DomainJoin-Inventory, Linux) against a faked directory, and its input checks.

The LDAP and Kerberos tools are the fakes of ``fakes.Directory``: ``ldapsearch`` answers an inventory search
from a file per search base and logs its arguments.  The real Samba directory: test_realad_inventory.py.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path

import pytest

from modules.documents import INVENTORY, build_document

from .adlab import BASE_ENV, SCRIPTS, parse_results
from .fakes import DOMAIN, Directory
from .pattern_corpus import ACCEPT, CORPUS, REJECT

INVENTORY_SCRIPT = SCRIPTS / "toolshost" / "inventory.sh"
BASE = "OU=Servers,DC=corp,DC=example,DC=com"
OTHER_BASE = "OU=Büro,DC=corp,DC=example,DC=com"
STAMP = "ec2-domain-join:123456789012/eu-west-1/i-0123456789abcdef0"
STAMP2 = "ec2-domain-join:123456789012/us-gov-west-1/i-0123456789abcdef1"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def entry(dn: str, name: str, *descriptions: str) -> str:
    """One object of an LDIF answer (a non-ASCII DN and a description with a control character in base64)."""
    lines = [f"dn:: {b64(dn)}" if not dn.isascii() else f"dn: {dn}", f"sAMAccountName: {name}"]
    for description in descriptions:
        safe = description.isprintable() and description.isascii()
        lines.append(f"description: {description}" if safe else f"description:: {b64(description)}")
    return "\n".join(lines) + "\n\n"


def inventory(directory: Directory, *extra: str) -> subprocess.CompletedProcess[str]:
    return directory.run_raw(INVENTORY_SCRIPT, None, *extra)


def document(completed: subprocess.CompletedProcess[str]) -> dict[str, object]:
    """The one line of stdout, parsed (a successful run prints nothing else there)."""
    assert completed.returncode == 0, completed.stdout + completed.stderr
    [line] = completed.stdout.splitlines()
    parsed = json.loads(line)
    assert isinstance(parsed, dict)
    return parsed


@pytest.fixture
def directory(tmp_path: Path) -> Directory:
    return Directory(tmp_path)


def test_only_objects_with_exactly_one_stamp_and_a_name_of_ours_are_listed(directory: Directory) -> None:
    # GIVEN a base holding two objects of ours (one in base64) and look-alikes whose description starts like a
    # stamp (what the server-side filter lets through) or whose name is not one of ours
    ours = entry(f"CN=WEB01,{BASE}", "WEB01$", STAMP)
    ours_b64 = entry(f"CN=WEB02,OU=Zürich,{BASE}", "WEB02$", STAMP2)
    look_alikes = [
        entry(f"CN=NL,{BASE}", "NL$", STAMP + "\n"),
        entry(f"CN=COPY,{BASE}", "COPY$", STAMP + " (copy)"),
        entry(f"CN=BAD,{BASE}", "BAD$", "ec2-domain-join:unknown"),
        entry(f"CN=TWO,{BASE}", "TWO$", STAMP, STAMP2),
        entry(f"CN=lower,{BASE}", "lower$", STAMP),
        entry(f"CN=NODOLLAR,{BASE}", "NODOLLAR", STAMP),
    ]
    directory.inventory(BASE, "".join([look_alikes[0], ours, *look_alikes[1:], ours_b64]))
    # WHEN the inventory runs
    completed = inventory(directory, "--bases", BASE)
    # THEN its one line of output lists exactly ours, decoded, and says it is complete
    listed = document(completed)
    assert listed["objects"] == [
        {"name": "WEB01", "dn": f"CN=WEB01,{BASE}", "description": STAMP},
        {"name": "WEB02", "dn": f"CN=WEB02,OU=Zürich,{BASE}", "description": STAMP2},
    ]
    assert (listed["version"], listed["domain"], listed["truncated"]) == (1, DOMAIN, False)
    assert re.fullmatch(
        r"20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]Z", str(listed["takenAt"])
    )
    assert "6 objects under" in completed.stderr


def test_each_base_is_searched_in_its_subtree_with_paging_and_an_object_is_listed_once(
    directory: Directory,
) -> None:
    # GIVEN two bases whose answers share one object (a base under the other)
    shared = entry(f"CN=WEB01,{BASE}", "WEB01$", STAMP)
    directory.inventory(BASE, shared)
    directory.inventory(OTHER_BASE, entry(f"CN=WEB02,{OTHER_BASE}", "WEB02$", STAMP2) + shared)
    # WHEN the inventory runs over both
    listed = document(inventory(directory, "--bases", f"{BASE};{OTHER_BASE}"))
    # THEN each base had one paged subtree search for the stamp prefix, and the shared object is listed once
    assert [o["name"] for o in listed["objects"]] == ["WEB01", "WEB02"]
    searches = [call for call in directory.calls if call.startswith("ldapsearch")]
    assert len(searches) == 2
    for search, base in zip(searches, (BASE, OTHER_BASE), strict=True):
        assert f"-E pr=500/noprompt -b {base} -s sub " in search
        assert "(&(objectClass=computer)(description=ec2-domain-join:*)) sAMAccountName description" in search
    assert not [call for call in directory.calls if not call.startswith("ldapsearch")], "nothing is changed"


def test_the_page_size_can_be_set_and_is_checked(directory: Directory) -> None:
    directory.inventory(BASE, "")
    assert document(inventory(directory, "--bases", BASE, "--page-size", "2"))["objects"] == []
    assert "-E pr=2/noprompt" in directory.calls[0]
    for wrong in ("0", "1001", "x", "", "5\n"):
        completed = inventory(directory, "--bases", BASE, "--page-size", wrong)
        assert completed.returncode == 2, wrong
        assert parse_results(completed.stdout)[0]["status"] == "invalid-arguments"


def test_without_bases_the_domains_computers_container_is_listed(directory: Directory) -> None:
    directory.inventory(
        "CN=Computers,DC=corp,DC=example,DC=com", entry("CN=WEB01,CN=Computers,DC=corp", "WEB01$", STAMP)
    )
    assert [o["name"] for o in document(inventory(directory))["objects"]] == ["WEB01"]


def test_a_search_the_directory_ended_early_is_marked_truncated(directory: Directory) -> None:
    # GIVEN a search that returns what it has, then reports sizeLimitExceeded (exit 4)
    directory.inventory(BASE, entry(f"CN=WEB01,{BASE}", "WEB01$", STAMP))
    directory.inventory_exit(BASE, 4)
    listed = document(inventory(directory, "--bases", BASE))
    assert (len(listed["objects"]), listed["truncated"]) == (1, True)


def test_a_failed_search_gives_no_document_but_a_result_line_and_exit_7(directory: Directory) -> None:
    # GIVEN a second base the directory does not know (the fake answers "No such object", 32)
    directory.inventory(BASE, entry(f"CN=WEB01,{BASE}", "WEB01$", STAMP))
    completed = inventory(directory, "--bases", f"{BASE};OU=Gone,DC=corp,DC=example,DC=com")
    # THEN no inventory is printed (a partial one would look complete), only the failure
    assert completed.returncode == 7
    assert not [line for line in completed.stdout.splitlines() if line.startswith("{")]
    [result] = parse_results(completed.stdout)
    assert result["status"] == "failed" and "No such object (32)" in str(result["message"])


# --- the SearchBases check: the script and the document agree ----------------------------------------------

ONE_OF_EACH = [(value, True) for value in CORPUS["OU"][ACCEPT]] + [
    (value, value == "")
    for value in CORPUS["OU"][REJECT]  # "" means the Computers container
]
LISTS = [
    (f"{BASE};{OTHER_BASE}", True),
    (";".join([BASE] * 16), True),
    (";".join([BASE] * 17), False),
    (f"{BASE};", False),
    (f";{BASE}", False),
    (f"{BASE};;{OTHER_BASE}", False),
    (f"{BASE}; {OTHER_BASE}", False),
    (f"{BASE};id", False),
    (f"{BASE}\n;{OTHER_BASE}", False),
]


def bases_check(value: str) -> int:
    """inventory.sh's exit code for --bases value: 3 (accepted, then the empty password) or 2 (refused)."""
    completed = subprocess.run(
        [
            "bash",
            str(INVENTORY_SCRIPT),
            "--domain",
            DOMAIN,
            "--join-user",
            "svc",
            "--password-stdin",
            "--bases",
            value,
        ],
        env={**BASE_ENV, "LC_ALL": "C.UTF-8"},
        input="\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert parse_results(completed.stdout), completed.stderr
    return completed.returncode


def test_the_script_and_the_document_accept_the_same_search_bases() -> None:
    pattern = re.compile(build_document(INVENTORY)["parameters"]["SearchBases"]["allowedPattern"])
    disagreements = []
    for value, accepted in ONE_OF_EACH + LISTS:
        if bool(pattern.fullmatch(value)) != accepted:
            disagreements.append(("document", value))
        if bases_check(value) != (3 if accepted else 2):
            disagreements.append(("inventory.sh", value))
    assert disagreements == []


def test_the_windows_twin_checks_bases_with_prestages_ou_pattern() -> None:
    """Inventory.ps1 keeps its own copy of Prestage.ps1's OU literal (test_patterns.py probes that one)."""
    literal = re.compile(r"^\$OuPattern = '.*'$", re.M)
    [inventory_ps1] = literal.findall((SCRIPTS / "toolshost" / "Inventory.ps1").read_text())
    [prestage_ps1] = literal.findall((SCRIPTS / "toolshost" / "Prestage.ps1").read_text())
    assert inventory_ps1 == prestage_ps1
    assert "-cnotmatch $OuPattern" in (SCRIPTS / "toolshost" / "Inventory.ps1").read_text()
