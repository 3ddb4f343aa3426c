"""The ``Computers`` wire formats: how the handler tells the scripts which computers to act on.

One place for the grammar, the encoders the handler uses and the decoders the tests (and any Python
reader) use; the documents' ``allowedPattern`` values are the ``*_PATTERN`` strings below, and the
scripts parse the same grammar.

Grammar (ASCII only; no field may hold ``=``, a space, a newline or any other character not listed)::

    computers      = entry *( " " entry )        ; 1 to MAX_ENTRIES entries, single spaces, no
                                                 ; leading/trailing space
    prestage-entry = computer-name "=" otp "=" stamp      ; DomainJoin-Prestage (tools host)
    join-entry     = instance-id "=" computer-name "=" otp  ; DomainJoin-Join (each instance picks its own)
    remove-entry   = computer-name "=" stamp              ; DomainJoin-Remove (tools host)

    computer-name  = [A-Z] 0*14[A-Z0-9-]        ; 1-15 characters, NetBIOS-safe, upper case
    otp            = 24*128[A-Za-z0-9]          ; one-time password of the prestaged account
    instance-id    = "i-" 8*17[0-9a-f]
    stamp          = "ec2-domain-join:" account "/" region "/" instance-id   ; ownership stamp
    account        = 12[0-9]
    region         = 2*4[a-z] 1*3( "-" 2*10[a-z] ) "-" 1*2[0-9]     ; us-east-1, us-gov-west-1, cn-north-1

The field syntaxes are those of ``patterns.py`` (``*_SYNTAX``), the one set the documents and scripts share.

Sealed values (the document parameter ``SealingKeyArn`` is then a KMS key ARN; docs/handler.md "Sealed
one-time passwords")::

    sealed-prestage = sealed *( " " sealed )            ; 1 to MAX_SEALED_PIECES KMS ciphertexts; their
                                                        ; plaintexts, joined by " ", are a prestage value
    sealed-join-entry = instance-id "=" computer-name "=" sealed   ; the otp sealed for that instance
    sealed          = 64*8192[A-Za-z0-9+/]              ; base64 of a KMS ciphertext blob, "=" padding cut
    batch-id        = 32[0-9a-f]                        ; SealedBatch: names the prestage batch

Public API (stable names)::

    WireFormatError                     raised by every encoder/decoder on input outside the grammar
    PrestageEntry, JoinEntry, RemoveEntry   frozen dataclasses, one per entry kind
    encode_prestage(entries) -> str     decode_prestage(text) -> tuple[PrestageEntry, ...]
    encode_join(entries) -> str         decode_join(text) -> tuple[JoinEntry, ...]
    encode_remove(entries) -> str       decode_remove(text) -> tuple[RemoveEntry, ...]
    PRESTAGE_PATTERN, JOIN_PATTERN, REMOVE_PATTERN   anchored regexes of a whole value (^...$, plain
                                        POSIX ERE / RE2 syntax; in Python match them with re.fullmatch,
                                        since Python's "$" also matches before a final newline)
    INSTANCE_ID, COMPUTER_NAME, OTP, STAMP   the field regexes (unanchored)
    MAX_ENTRIES                         50 (SendCommand's InstanceIds limit; the handler's group size)
    SealedJoinEntry                     a join entry whose otp is sealed
    encode_sealed_join / decode_sealed_join, encode_sealed_prestage / decode_sealed_prestage
    SEALED_JOIN_PATTERN, SEALED_PRESTAGE_PATTERN, BATCH_ID_PATTERN, KMS_KEY_ARN_PATTERN  (anchored)
    JOIN_PARAMETER_PATTERN, PRESTAGE_PARAMETER_PATTERN   the documents' Computers patterns: plain or sealed
    SEALING_KEY_PARAMETER_PATTERN, SEALED_BATCH_PARAMETER_PATTERN   "" or a key ARN / a batch id
    SEALED, BATCH_ID, KMS_KEY_ARN       field regexes (unanchored); MAX_SEALED_PIECES 8

Example::

    >>> text = encode_remove([RemoveEntry("EC2ABCDEFGHIJKL", "ec2-domain-join:123456789012/eu-west-1/i-0123456789abcdef0")])
    >>> text
    'EC2ABCDEFGHIJKL=ec2-domain-join:123456789012/eu-west-1/i-0123456789abcdef0'
    >>> decode_remove(text)[0].computer_name
    'EC2ABCDEFGHIJKL'
"""  # noqa: E501 - the example is one line of doctest

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import astuple, dataclass
from typing import Final, TypeVar

from . import patterns

MAX_ENTRIES: Final = 50

# The fields' syntaxes are the shared formats (patterns.py); the scripts check the same ones.
INSTANCE_ID: Final = patterns.INSTANCE_ID_SYNTAX
COMPUTER_NAME: Final = patterns.COMPUTER_NAME_SYNTAX
OTP: Final = patterns.OTP_SYNTAX
STAMP: Final = patterns.STAMP_SYNTAX

_PRESTAGE_FIELDS: Final = (COMPUTER_NAME, OTP, STAMP)
_JOIN_FIELDS: Final = (INSTANCE_ID, COMPUTER_NAME, OTP)
_REMOVE_FIELDS: Final = (COMPUTER_NAME, STAMP)


def _whole(fields: tuple[str, ...]) -> str:
    """The ``allowedPattern`` of a whole value: 1 to MAX_ENTRIES entries of ``fields`` joined by "="."""
    entry = "=".join(fields)
    return f"^{entry}( {entry}){{0,{MAX_ENTRIES - 1}}}$"


def _entry_re(fields: tuple[str, ...]) -> re.Pattern[str]:
    """One entry, each field a named group ``f0``, ``f1``... (the syntaxes hold groups of their own)."""
    return re.compile("=".join(f"(?P<f{n}>{syntax})" for n, syntax in enumerate(fields)))


PRESTAGE_PATTERN: Final = _whole(_PRESTAGE_FIELDS)
JOIN_PATTERN: Final = _whole(_JOIN_FIELDS)
REMOVE_PATTERN: Final = _whole(_REMOVE_FIELDS)


class WireFormatError(ValueError):
    """A ``Computers`` value (or an entry to encode) outside the grammar; the message says where."""


@dataclass(frozen=True, slots=True)
class PrestageEntry:
    """One computer to prestage: its name, one-time password and ownership stamp."""

    computer_name: str
    otp: str
    stamp: str


@dataclass(frozen=True, slots=True)
class JoinEntry:
    """One instance to join: its id, the prestaged computer name and that account's one-time password."""

    instance_id: str
    computer_name: str
    otp: str


@dataclass(frozen=True, slots=True)
class RemoveEntry:
    """One computer to remove, if its ``description`` still holds ``stamp``."""

    computer_name: str
    stamp: str


@dataclass(frozen=True, slots=True)
class SealedJoinEntry:
    """One instance to join: its id, the computer name and its one-time password sealed for it."""

    instance_id: str
    computer_name: str
    sealed_otp: str


_E = TypeVar("_E", PrestageEntry, JoinEntry, RemoveEntry, SealedJoinEntry)


def _encode(kind: str, entry_re: re.Pattern[str], entries: Iterable[_E]) -> str:
    parts = ["=".join(astuple(entry)) for entry in entries]
    _check_count(kind, len(parts))
    for number, part in enumerate(parts, 1):
        if not entry_re.fullmatch(part):
            raise WireFormatError(f"{kind} entry {number} is outside the grammar")
    return " ".join(parts)


def _decode(kind: str, entry_re: re.Pattern[str], build: Callable[..., _E], text: str) -> tuple[_E, ...]:
    if not isinstance(text, str) or not text.isascii():
        raise WireFormatError(f"{kind} value is not ASCII text")
    parts: Sequence[str] = text.split(" ")
    _check_count(kind, len(parts) if text else 0)
    entries: list[_E] = []
    for number, part in enumerate(parts, 1):
        match = entry_re.fullmatch(part)
        if match is None:  # never echo the part: it may hold a one-time password
            raise WireFormatError(f"{kind} entry {number} is outside the grammar")
        entries.append(build(*(match.group(f"f{n}") for n in range(len(match.groupdict())))))
    return tuple(entries)


def _check_count(kind: str, count: int) -> None:
    if not 1 <= count <= MAX_ENTRIES:
        raise WireFormatError(f"{kind} value has {count} entries (1 to {MAX_ENTRIES} allowed)")


_PRESTAGE_RE: Final = _entry_re(_PRESTAGE_FIELDS)
_JOIN_RE: Final = _entry_re(_JOIN_FIELDS)
_REMOVE_RE: Final = _entry_re(_REMOVE_FIELDS)


def encode_prestage(entries: Iterable[PrestageEntry]) -> str:
    """``NAME=OTP=STAMP NAME=OTP=STAMP ...``; raises ``WireFormatError`` for a value outside the grammar."""
    return _encode("prestage", _PRESTAGE_RE, entries)


def decode_prestage(text: str) -> tuple[PrestageEntry, ...]:
    """The entries of a prestage ``Computers`` value; raises ``WireFormatError`` outside the grammar."""
    return _decode("prestage", _PRESTAGE_RE, PrestageEntry, text)


def encode_join(entries: Iterable[JoinEntry]) -> str:
    """``INSTANCEID=NAME=OTP ...``; raises ``WireFormatError`` for a value outside the grammar."""
    return _encode("join", _JOIN_RE, entries)


def decode_join(text: str) -> tuple[JoinEntry, ...]:
    """The entries of a join ``Computers`` value; raises ``WireFormatError`` when it breaks the grammar."""
    return _decode("join", _JOIN_RE, JoinEntry, text)


def encode_remove(entries: Iterable[RemoveEntry]) -> str:
    """``NAME=STAMP NAME=STAMP ...``; raises ``WireFormatError`` for a value outside the grammar."""
    return _encode("remove", _REMOVE_RE, entries)


def decode_remove(text: str) -> tuple[RemoveEntry, ...]:
    """The entries of a remove ``Computers`` value; raises ``WireFormatError`` when it breaks the grammar."""
    return _decode("remove", _REMOVE_RE, RemoveEntry, text)


# --- sealed values ----------------------------------------------------------------------------------
# Base64 of a KMS ciphertext blob without its "=" padding ("=" separates fields). KMS ciphertexts of a
# symmetric key are at most 6,144 bytes: 8,192 characters, checked by the codec (the patterns leave the
# upper bound open: RE2 and SSM bound a repetition count at 1,000).
SEALED: Final = "[A-Za-z0-9+/]{64,}"  # a KMS ciphertext blob is longer than 48 bytes
MAX_SEALED_CHARS: Final = 8192
MAX_SEALED_PIECES: Final = 8  # 50 entries of the longest prestage grammar need 3 pieces of 4 KiB
BATCH_ID: Final = "[0-9a-f]{32}"
KMS_KEY_ARN: Final = (
    f"arn:aws(-[a-z]{{1,10}}){{0,2}}:kms:{patterns.REGION_SYNTAX}:{patterns.ACCOUNT_ID_SYNTAX}"
    ":key/[A-Za-z0-9-]{1,128}"
)
_SEALED_JOIN_FIELDS: Final = (INSTANCE_ID, COMPUTER_NAME, SEALED)

SEALED_JOIN_PATTERN: Final = _whole(_SEALED_JOIN_FIELDS)
SEALED_PRESTAGE_PATTERN: Final = f"^{SEALED}( {SEALED}){{0,{MAX_SEALED_PIECES - 1}}}$"
BATCH_ID_PATTERN: Final = f"^{BATCH_ID}$"
KMS_KEY_ARN_PATTERN: Final = f"^{KMS_KEY_ARN}$"
# The documents' SealingKeyArn ("" = plain) and SealedBatch ("" = plain) parameters.
SEALING_KEY_PARAMETER_PATTERN: Final = f"^$|{KMS_KEY_ARN_PATTERN}"
SEALED_BATCH_PARAMETER_PATTERN: Final = f"^$|{BATCH_ID_PATTERN}"
# What the documents' Computers parameters admit: the plain grammar, or the sealed one.
JOIN_PARAMETER_PATTERN: Final = f"{JOIN_PATTERN}|{SEALED_JOIN_PATTERN}"
PRESTAGE_PARAMETER_PATTERN: Final = f"{PRESTAGE_PATTERN}|{SEALED_PRESTAGE_PATTERN}"

_SEALED_JOIN_RE: Final = _entry_re(_SEALED_JOIN_FIELDS)
_SEALED_RE: Final = re.compile(SEALED)


def _check_sealed(kind: str, number: int, text: str) -> None:
    if not _SEALED_RE.fullmatch(text) or len(text) > MAX_SEALED_CHARS:
        raise WireFormatError(f"{kind} ciphertext {number} is outside the grammar")


def encode_sealed_join(entries: Iterable[SealedJoinEntry]) -> str:
    """``INSTANCEID=NAME=SEALED ...``; raises ``WireFormatError`` for a value outside the grammar."""
    listed = list(entries)
    for number, entry in enumerate(listed, 1):
        _check_sealed("sealed join", number, entry.sealed_otp)
    return _encode("sealed join", _SEALED_JOIN_RE, listed)


def decode_sealed_join(text: str) -> tuple[SealedJoinEntry, ...]:
    """The entries of a sealed join ``Computers`` value; raises ``WireFormatError`` outside the grammar."""
    entries = _decode("sealed join", _SEALED_JOIN_RE, SealedJoinEntry, text)
    for number, entry in enumerate(entries, 1):
        _check_sealed("sealed join", number, entry.sealed_otp)
    return entries


def encode_sealed_prestage(pieces: Sequence[str]) -> str:
    """The ciphertexts joined by single spaces; raises ``WireFormatError`` outside the grammar."""
    if not 1 <= len(pieces) <= MAX_SEALED_PIECES:
        raise WireFormatError(f"sealed prestage value has {len(pieces)} pieces (1 to {MAX_SEALED_PIECES})")
    for number, piece in enumerate(pieces, 1):
        _check_sealed("sealed prestage", number, piece)
    return " ".join(pieces)


def decode_sealed_prestage(text: str) -> tuple[str, ...]:
    """The ciphertexts of a sealed prestage ``Computers`` value."""
    if not isinstance(text, str) or not text.isascii():
        raise WireFormatError("sealed prestage value is not ASCII text")
    pieces = tuple(text.split(" ")) if text else ()
    encode_sealed_prestage(pieces)
    return pieces
