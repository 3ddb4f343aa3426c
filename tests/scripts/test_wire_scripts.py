"""The Computers wire formats (handlers/domain_join/wire.py) as the scripts read them.

Round trip: what the handler's encoder writes, each script's own parser reads back field for field (the
scripts run for real; the directory and the domain are faked, see fakes.py).  And what the decoder refuses,
every script refuses too.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from handlers.domain_join import wire
from handlers.domain_join.naming import computer_name, one_time_password, ownership_stamp

from .adlab import BASE_ENV, COMPUTERS_ENV, JOIN_SCRIPT, PRESTAGE_SCRIPT, REMOVE_SCRIPT, parse_results
from .fakes import DOMAIN, TOOLS_ARGS, Directory, ldif_records, new_host, run_join

REGIONS = ["eu-west-1", "us-gov-west-1", "cn-northwest-1", "us-isob-east-1", "eusc-de-east-1"]
BASE_DN = "DC=corp,DC=example,DC=com"


def instance_id() -> str:
    return "i-" + secrets.token_hex(9)[:17]


def fleet(size: int) -> list[tuple[str, str, str, str]]:
    """(instance id, computer name, OTP, stamp), made by the handler's own naming functions."""
    entries = []
    for number in range(size):
        iid = instance_id()
        prefix = ("EC2", "WIN", "A-1")[number % 3]
        stamp = ownership_stamp(f"{number:012d}", REGIONS[number % len(REGIONS)], iid)
        entries.append((iid, computer_name(iid, prefix), one_time_password(), stamp))
    return entries


def join_dry_run(computers: str, iid: str) -> tuple[int, list[dict[str, object]]]:
    completed = subprocess.run(
        ["bash", str(JOIN_SCRIPT), "--domain", DOMAIN, "--instance-id", iid, "--dry-run"],
        env={**BASE_ENV, COMPUTERS_ENV: computers},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return completed.returncode, parse_results(completed.stdout)


def tools_run(script: Path, computers: str, password: str = "") -> tuple[int, list[dict[str, object]]]:
    """A tools-host script up to its password (empty: exit 3 once the list is accepted)."""
    completed = subprocess.run(
        ["bash", str(script), *TOOLS_ARGS],
        env={**BASE_ENV, COMPUTERS_ENV: computers},
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return completed.returncode, parse_results(completed.stdout)


# --- round trips -----------------------------------------------------------------------------------------


def test_each_instance_reads_its_own_entry_of_a_full_join_value() -> None:
    # GIVEN a join value of the largest size the handler sends
    entries = fleet(wire.MAX_ENTRIES)
    text = wire.encode_join(wire.JoinEntry(iid, name, otp) for iid, name, otp, _ in entries)
    # WHEN each instance's script reads it THEN it finds its own computer name
    for iid, name, _, _ in entries:
        code, results = join_dry_run(text, iid)
        assert (code, results[0]["computerName"]) == (0, name)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for the join on a fake host (mount namespace)")
def test_the_join_hands_its_own_otp_and_name_to_adcli(tmp_path: Path) -> None:
    entries = fleet(3)
    text = wire.encode_join(wire.JoinEntry(iid, name, otp) for iid, name, otp, _ in entries)
    host = new_host(tmp_path)
    host.fake("adcli", f'case "$1" in join) cat >"{tmp_path}/otp"; exit 0;; *) exit 1;; esac')
    iid, name, otp, _ = entries[1]
    code, result, stderr = run_join(host, text, iid)
    assert (code, result["status"], result["computerName"]) == (0, "joined", name), stderr
    assert (tmp_path / "otp").read_text() == otp
    [join] = [call for call in host.calls if call.startswith("adcli join")]
    assert f"--computer-name {name} " in join and otp not in join


def test_prestage_creates_every_entry_of_a_full_value_field_for_field(tmp_path: Path) -> None:
    # GIVEN a prestage value of the largest size, for computers the directory does not have yet
    entries = fleet(wire.MAX_ENTRIES)
    text = wire.encode_prestage(wire.PrestageEntry(name, otp, stamp) for _, name, otp, stamp in entries)
    directory = Directory(tmp_path)
    # WHEN prestage runs
    code, results, stderr = directory.run(PRESTAGE_SCRIPT, text)
    # THEN each computer was added with its name, its one-time password and its stamp, in order
    assert code == 0, stderr
    assert [(r["computerName"], r["status"]) for r in results] == [(n, "created") for _, n, _, _ in entries]
    records = ldif_records((tmp_path / "modify.ldif").read_text())
    assert [(r["dn"], r["sAMAccountName"], r["unicodePwd"], r["description"]) for r in records] == [
        (f"CN={name},CN=Computers,{BASE_DN}", f"{name}$", f'"{otp}"', stamp)
        for _, name, otp, stamp in entries
    ]


def test_remove_deletes_every_entry_of_a_full_value_whose_stamp_matches(tmp_path: Path) -> None:
    entries = fleet(wire.MAX_ENTRIES)
    text = wire.encode_remove(wire.RemoveEntry(name, stamp) for _, name, _, stamp in entries)
    directory = Directory(tmp_path)
    for _, name, _, stamp in entries:
        directory.answer(f"dn: CN={name},CN=Computers,{BASE_DN}\ndescription: {stamp}\n", name)
    code, results, stderr = directory.run(REMOVE_SCRIPT, text)
    assert code == 0, stderr
    assert [(r["computerName"], r["status"]) for r in results] == [(n, "deleted") for _, n, _, _ in entries]
    assert os.listdir(tmp_path / "answers") == []


# --- what the decoder refuses, the scripts refuse --------------------------------------------------------

ENTRIES = fleet(2)
GOOD = {
    "join": wire.encode_join(wire.JoinEntry(i, n, o) for i, n, o, _ in ENTRIES),
    "prestage": wire.encode_prestage(wire.PrestageEntry(n, o, s) for _, n, o, s in ENTRIES),
    "remove": wire.encode_remove(wire.RemoveEntry(n, s) for _, n, _, s in ENTRIES),
}
DECODERS: dict[str, Callable[[str], object]] = {
    "join": wire.decode_join,
    "prestage": wire.decode_prestage,
    "remove": wire.decode_remove,
}
BROKEN: dict[str, Callable[[str], str]] = {
    "empty": lambda good: "",
    "leading-space": lambda good: " " + good,
    "trailing-space": lambda good: good + " ",
    "double-space": lambda good: good.replace(" ", "  "),
    "tab-separated": lambda good: good.replace(" ", "\t"),
    "newline-separated": lambda good: good.replace(" ", "\n"),
    "trailing-newline": lambda good: good + "\n",
    "51-entries": lambda good: " ".join([good.split(" ")[0]] * (wire.MAX_ENTRIES + 1)),
    "extra-field": lambda good: good.replace(" ", "=X "),
    "missing-field": lambda good: good.split(" ")[0].rsplit("=", 1)[0] + " " + good.split(" ")[1],
    "non-ascii": lambda good: good.replace(ENTRIES[1][1], "É" + ENTRIES[1][1][1:]),
    "lower-case-name": lambda good: good.replace(ENTRIES[1][1], ENTRIES[1][1].lower()),
    "control-character": lambda good: good.replace(ENTRIES[1][1], ENTRIES[1][1][:-1] + "\x01"),
}


@pytest.mark.parametrize("kind", sorted(GOOD))
def test_the_encoded_value_is_accepted_by_the_decoder_and_the_script(kind: str) -> None:
    assert DECODERS[kind](GOOD[kind])
    if kind == "join":
        assert join_dry_run(GOOD[kind], ENTRIES[0][0])[0] == 0
    else:
        assert tools_run(PRESTAGE_SCRIPT if kind == "prestage" else REMOVE_SCRIPT, GOOD[kind])[0] == 3


@pytest.mark.parametrize("kind", sorted(GOOD))
@pytest.mark.parametrize("broken", sorted(BROKEN))
def test_a_value_the_decoder_refuses_is_refused_by_the_script(kind: str, broken: str) -> None:
    # GIVEN a value outside the grammar
    text = BROKEN[broken](GOOD[kind])
    with pytest.raises(wire.WireFormatError):
        DECODERS[kind](text)
    # WHEN the script reads it THEN it refuses it: the join exits 4, the tools-host scripts 8
    if kind == "join":
        code, results = join_dry_run(text, ENTRIES[0][0])
        assert (code, results[0]["status"] in {"invalid-entry", "no-entry"}) == (4, True)
    else:
        code, results = tools_run(PRESTAGE_SCRIPT if kind == "prestage" else REMOVE_SCRIPT, text)
        assert code == 8
        assert "invalid-entry" in {result["status"] for result in results}
