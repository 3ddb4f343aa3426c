"""Computer names, one-time passwords and ownership stamps."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import string
from typing import Final

from .contract import RESULT_LINE_TAG, RESULT_STATUS_REFUSED, STAMP_PREFIX
from .patterns import COMPUTER_NAME_PREFIX, STAMP

MAX_COMPUTER_NAME: Final = 15
DEFAULT_PREFIX: Final = "EC2"
# The hash part keeps at least 40 bits so names stay unique across an Organization.
MAX_PREFIX: Final = 7
OTP_LENGTH: Final = 32
_OTP_ALPHABET: Final = string.ascii_letters + string.digits


def valid_prefix(prefix: str) -> bool:
    return bool(COMPUTER_NAME_PREFIX.match(prefix))


def computer_name(instance_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    """Deterministic NetBIOS-safe name: the prefix plus a base32 digest of the instance id.

    A digest (not a slice of the id) because only the full id is unique, and
    never the IP address, which AWS reuses.
    """
    if not valid_prefix(prefix):
        raise ValueError(f"invalid computer name prefix {prefix!r}")
    digest = base64.b32encode(hashlib.sha256(instance_id.encode()).digest()).decode()
    return prefix + digest[: MAX_COMPUTER_NAME - len(prefix)]


def one_time_password(length: int = OTP_LENGTH) -> str:
    """Random [A-Za-z0-9] password with every character class, so AD complexity rules accept it."""
    while True:
        candidate = "".join(secrets.choice(_OTP_ALPHABET) for _ in range(length))
        if (
            any(c.islower() for c in candidate)
            and any(c.isupper() for c in candidate)
            and any(c.isdigit() for c in candidate)
        ):
            return candidate


def ownership_stamp(account: str, region: str, instance_id: str) -> str:
    return f"{STAMP_PREFIX}{account}/{region}/{instance_id}"


def parse_ownership_stamp(stamp: str) -> tuple[str, str, str] | None:
    """(account, Region, instance id) of an exact ownership stamp; None for anything else."""
    if not STAMP.match(stamp):
        return None
    account, region, instance_id = stamp[len(STAMP_PREFIX) :].split("/")
    return account, region, instance_id


def refused_names(output: str) -> frozenset[str]:
    """The computer names a tools-host script's output reports ``refused`` (an object of that name exists
    that is not ours); other lines, and result lines that are not JSON objects, are ignored."""
    refused: set[str] = set()
    for line in output.splitlines():
        tag, _, body = line.strip().partition(" ")
        if tag != RESULT_LINE_TAG:
            continue
        try:
            result = json.loads(body)
        except ValueError:
            continue
        if isinstance(result, dict) and result.get("status") == RESULT_STATUS_REFUSED:
            name = result.get("computerName")
            if isinstance(name, str) and name:
                refused.add(name.upper())
    return frozenset(refused)
