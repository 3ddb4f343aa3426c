"""The scripts open sealed one-time passwords with `aws kms decrypt` (right context) and never show them.

Faked (PATH shims, as in fakes.py): the AWS CLI's `kms decrypt` (a fake KMS whose "ciphertext" records the
key, the encryption context and the plaintext, and which refuses a request whose key or context differ, as
KMS does) and, for the join, IMDSv2's identity document (`curl`).  The Kerberos/LDAP tools and adcli are the
fakes of fakes.py.  The fake CLI logs its argv and environment, so a test sees what a process listing shows.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from handlers.domain_join import sealing, wire

from .adlab import PRESTAGE_SCRIPT
from .fakes import Directory, Host, ldif_records, new_host, run_join

KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
BATCH = "0123456789abcdef0123456789abcdef"
ACCOUNT = "111111111111"
REGION = "us-east-2"
IID = "i-0123456789abcdef0"
OTHER_IID = "i-0fedcba9876543210"
OTPS = {"WEB01": "Abcdefghijklmnop12345678", "WEB02": "Zyxwvutsrqponmlk87654321"}
STAMP = "ec2-domain-join:123456789012/eu-west-1/i-0123456789abcdef0"

FAKE_AWS = """#!{python}
import base64, json, os, sys
args = sys.argv[1:]
with open({log!r}, "a") as log:
    log.write(json.dumps({{"argv": args, "env": dict(os.environ)}}) + "\\n")
def option(name):
    return args[args.index(name) + 1]
if args[:2] != ["kms", "decrypt"]:
    sys.exit(2)
blob = option("--ciphertext-blob")
assert blob == "fileb:///dev/stdin", blob
sealed = json.loads(sys.stdin.buffer.read())
context = option("--encryption-context")
if context.startswith("file://"):
    context = open(context[7:]).read()
if (sealed["key"] != option("--key-id") or sealed["context"] != json.loads(context)
        or option("--region") != option("--key-id").split(":")[3]):
    print("An error occurred (InvalidCiphertextException) calling Decrypt", file=sys.stderr)
    sys.exit(254)
assert (option("--query"), option("--output")) == ("Plaintext", "text")
print(sealed["plaintext"])
"""


def seal(plaintext: str, context: dict[str, str], key: str = KEY) -> str:
    """The fake KMS's ciphertext of `plaintext`, as the wire carries it (base64, padding cut)."""
    record = {"key": key, "context": context, "plaintext": base64.b64encode(plaintext.encode()).decode()}
    return sealing.to_text(json.dumps(record).encode())


def install_fake_aws(bin_dir: Path, log: Path) -> None:
    path = bin_dir / "aws"
    path.write_text(FAKE_AWS.format(python=sys.executable, log=str(log)))
    path.chmod(0o755)


def aws_calls(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


# --- prestage.sh ------------------------------------------------------------------------------------------
@pytest.fixture
def directory(tmp_path: Path) -> Directory:
    found = Directory(tmp_path)
    install_fake_aws(found.bin, tmp_path / "aws.log")
    # the directory tool records the environment it was given: the opened list must not be in it
    found.fake(
        "ldapmodify",
        f'env >>"{tmp_path}/ldapmodify.env"; cat >>"{tmp_path}/modify.ldif"; '
        f'printf "\\n\\n" >>"{tmp_path}/modify.ldif"',
    )
    return found


def sealed_prestage(batch: str = BATCH, pieces: int = 1) -> str:
    """The two computers' prestage value, sealed in `pieces` pieces under the batch's context."""
    entries = [wire.PrestageEntry(name, otp, STAMP) for name, otp in OTPS.items()]
    value = wire.encode_prestage(entries)
    parts = [value] if pieces == 1 else value.split(" ")
    return wire.encode_sealed_prestage([seal(part, sealing.prestage_context(batch)) for part in parts])


@pytest.mark.parametrize("pieces", [1, 2])
def test_prestage_opens_the_sealed_list_with_its_batch_context_and_never_shows_it(
    directory: Directory, tmp_path: Path, pieces: int
) -> None:
    # GIVEN a sealed prestage list (one piece, or one per entry as for a list over 4 KiB)
    # WHEN prestage runs with the key and the batch, as the document passes them
    code, results, stderr = directory.run(
        PRESTAGE_SCRIPT, sealed_prestage(pieces=pieces), "--sealing-key", KEY, "--sealed-batch", BATCH
    )
    # THEN it asked KMS once per piece, in the key's Region, with the prestage context of its batch
    assert code == 0, stderr
    calls = aws_calls(tmp_path / "aws.log")
    assert len(calls) == pieces
    for call in calls:
        argv = call["argv"]
        assert argv[argv.index("--region") + 1] == "eu-west-1"
        assert json.loads(argv[argv.index("--encryption-context") + 1]) == sealing.prestage_context(BATCH)
    # AND created both computers with their own one-time passwords
    assert sorted(r["computerName"] for r in results) == sorted(OTPS)
    records = ldif_records((tmp_path / "modify.ldif").read_text())
    assert {r["sAMAccountName"].rstrip("$"): r["unicodePwd"].strip('"') for r in records} == OTPS
    # AND no password is in any argv, in the output or in the environment of the tools it ran
    shown = json.dumps([c["argv"] for c in calls]) + json.dumps(results) + stderr
    shown += (tmp_path / "ldapmodify.env").read_text()
    for otp in OTPS.values():
        assert otp not in shown


@pytest.mark.parametrize(
    ("value", "extra"),
    [
        (sealed_prestage(batch="f" * 32), ["--sealing-key", KEY, "--sealed-batch", BATCH]),  # another batch
        (sealed_prestage(), ["--sealing-key", KEY.replace("1234abcd", "9999abcd"), "--sealed-batch", BATCH]),
    ],
    ids=["other-batch", "other-key"],
)
def test_prestage_that_cannot_open_the_list_exits_9_and_touches_nothing(
    directory: Directory, tmp_path: Path, value: str, extra: list[str]
) -> None:
    code, results, stderr = directory.run(PRESTAGE_SCRIPT, value, *extra)
    assert code == 9, stderr
    assert {r["status"] for r in results} == {"unseal-failed"}
    assert not (tmp_path / "modify.ldif").exists() and not (tmp_path / "kinit.args").exists()
    for otp in OTPS.values():
        assert otp not in json.dumps(results) + stderr


def test_prestage_refuses_a_batch_without_a_key_and_a_plain_list_still_works(directory: Directory) -> None:
    plain = wire.encode_prestage([wire.PrestageEntry("WEB01", OTPS["WEB01"], STAMP)])
    code, _, stderr = directory.run(PRESTAGE_SCRIPT, plain, "--sealing-key", "", "--sealed-batch", BATCH)
    assert code == 2, stderr
    code, results, stderr = directory.run(PRESTAGE_SCRIPT, plain, "--sealing-key", "", "--sealed-batch", "")
    assert (code, results[0]["status"]) == (0, "created"), stderr


# --- domain-join.sh ---------------------------------------------------------------------------------------
@pytest.fixture
def host(tmp_path: Path) -> Host:
    found = new_host(tmp_path)
    install_fake_aws(found.bin, tmp_path / "aws.log")
    document = json.dumps({"accountId": ACCOUNT, "region": REGION, "instanceId": IID}, indent=2)
    found.fake(
        "curl",
        'case "$*" in *api/token*) echo token;; '
        f"*instance-identity/document*) cat <<'EOF'\n{document}\nEOF\n;; *) exit 22;; esac",
    )
    found.fake("adcli", f'case "$1" in join) cat >"{tmp_path}/adcli.stdin"; exit 0;; *) exit 1;; esac')
    return found


def join_value(sealed_for: str) -> str:
    """Two instances' entries, each OTP sealed for `sealed_for`'s ARN (the handler's: for itself)."""
    arn = sealing.instance_arn("aws", REGION, ACCOUNT, sealed_for)
    entries = [
        wire.SealedJoinEntry(IID, "WEB01", seal(OTPS["WEB01"], sealing.join_context(arn))),
        wire.SealedJoinEntry(OTHER_IID, "WEB02", seal(OTPS["WEB02"], sealing.join_context(arn))),
    ]
    return wire.encode_sealed_join(entries)


def test_join_opens_its_own_sealed_password_with_its_arn_and_hands_it_to_adcli_on_stdin(
    host: Host, tmp_path: Path
) -> None:
    # GIVEN a sealed join list WHEN this instance joins with the document's SealingKeyArn
    code, result, stderr = run_join(host, join_value(IID), IID, "--sealing-key", KEY)
    # THEN it asked KMS once, in the key's Region, with the context naming its own ARN (from IMDSv2)
    assert (code, result["status"]) == (0, "joined"), stderr
    (call,) = aws_calls(tmp_path / "aws.log")
    argv = call["argv"]
    assert argv[argv.index("--region") + 1] == "eu-west-1"
    assert json.loads(argv[argv.index("--encryption-context") + 1]) == sealing.join_context(
        f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{IID}"
    )
    # AND adcli got its one-time password, on stdin only; no argv, output or log shows it
    assert (tmp_path / "adcli.stdin").read_text() == OTPS["WEB01"]
    shown = json.dumps(argv) + json.dumps(result) + stderr + "\n".join(host.calls)
    assert OTPS["WEB01"] not in shown


def test_join_that_cannot_open_its_password_exits_21_before_adcli(host: Host, tmp_path: Path) -> None:
    # GIVEN passwords sealed for another instance (what a forged or misrouted list would hold)
    code, result, stderr = run_join(host, join_value(OTHER_IID), IID, "--sealing-key", KEY)
    # THEN KMS refuses (the context names another ARN), the run ends with 21, adcli never runs
    assert (code, result["status"]) == (21, "unseal-failed"), stderr
    assert not (tmp_path / "adcli.stdin").exists()
    assert OTPS["WEB01"] not in json.dumps(result) + stderr


def test_join_refuses_a_plain_list_when_told_it_is_sealed(host: Host) -> None:
    plain = wire.encode_join([wire.JoinEntry(IID, "WEB01", OTPS["WEB01"])])
    code, result, _ = run_join(host, plain, IID, "--sealing-key", KEY)
    assert (code, result["status"]) == (4, "invalid-entry")
