"""Sealed one-time passwords: what to encrypt, under which encryption context, the parameters that carry it.

Pure: the KMS calls are the adapter's (``adapter.kms.Sealer``); this module decides what they encrypt and
builds the command parameters from their ciphertexts.  docs/handler.md "Sealed one-time passwords".

Why direct ``kms:Encrypt`` and not envelope encryption: KMS encrypts up to 4,096 bytes itself, and the only
cryptography then is KMS on both ends (the AWS CLI or AWS Tools for PowerShell on the host).  An envelope
(a data key and a local AES-GCM) would need a native crypto package in the Lambda artifact and an AEAD cipher
that neither bash (``openssl enc`` refuses AEAD modes) nor Windows PowerShell 5.1 (.NET Framework) offers.
A prestage value larger than 4,096 bytes is cut, at entry boundaries, into pieces of at most 4,096 bytes,
one ``Encrypt`` each (50 entries of the handler's grammar are 5,399 bytes: two pieces); a join sends one
``Encrypt`` per instance (its own encryption context).

- Prestage (always, when the handler has a sealing key): the whole ``NAME=OTP=STAMP ...`` value, under
  ``{purpose: prestage, batch: <random id>}``; the key policy lets only the tools-host role decrypt it.
- Join (per directory, ``sealJoinPasswords``): each instance's OTP under ``{purpose: join, instance-arn:
  <its ARN>}``; the key policy lets a principal of the organization decrypt it only when that context equals
  ``ec2:SourceInstanceARN``, i.e. with the credentials of that very instance.

Public API::

    SealRequest(plaintext, context)         one KMS Encrypt to make
    KMS_MAX_PLAINTEXT                       4096
    new_batch_id() -> str                   32 hex digits
    instance_arn(partition, region, account, instance_id) -> str
    prestage_context(batch_id), join_context(instance_arn) -> dict[str, str]
    prestage_pieces(computers) -> tuple[str, ...]        the plaintext pieces of a prestage value
    prestage_requests(computers, batch_id) -> tuple[SealRequest, ...]
    sealed_prestage_parameters(parameters, key_arn, batch_id, ciphertexts) -> dict[str, str]
    unsealed_prestage_parameters(parameters), unsealed_join_parameters(parameters)   "" sealing parameters
    join_requests(parameters, partition, region, account) -> tuple[SealRequest, ...]
    sealed_join_parameters(parameters, key_arn, ciphertexts) -> dict[str, str]
    to_text(blob) / from_text(text)          ciphertext blob <-> the wire's unpadded base64

Example::

    >>> prestage_pieces("A=" + "x" * 30 + "=s")
    ('A=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx=s',)
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from . import arns, wire
from .contract import (
    JOIN_PARAM_COMPUTERS,
    PARAM_SEALING_KEY,
    SEAL_CONTEXT_BATCH,
    SEAL_CONTEXT_INSTANCE,
    SEAL_CONTEXT_PURPOSE,
    SEAL_PURPOSE_JOIN,
    SEAL_PURPOSE_PRESTAGE,
    TOOLS_PARAM_COMPUTERS,
    TOOLS_PARAM_SEALED_BATCH,
)

KMS_MAX_PLAINTEXT: Final = 4096  # kms:Encrypt's limit, in bytes


@dataclass(frozen=True, slots=True)
class SealRequest:
    """One ``kms:Encrypt``: the plaintext (never logged) and its encryption context."""

    plaintext: str = field(repr=False)
    context: Mapping[str, str]


def new_batch_id() -> str:
    return secrets.token_hex(16)


def instance_arn(partition: str, region: str, account: str, instance_id: str) -> str:
    """The ARN ``ec2:SourceInstanceARN`` holds for requests made with that instance's role credentials."""
    return arns.arn(partition, "ec2", region, account, f"instance/{instance_id}")


def prestage_context(batch_id: str) -> dict[str, str]:
    return {SEAL_CONTEXT_PURPOSE: SEAL_PURPOSE_PRESTAGE, SEAL_CONTEXT_BATCH: batch_id}


def join_context(arn: str) -> dict[str, str]:
    return {SEAL_CONTEXT_PURPOSE: SEAL_PURPOSE_JOIN, SEAL_CONTEXT_INSTANCE: arn}


def prestage_pieces(computers: str) -> tuple[str, ...]:
    """``computers`` (ASCII, entries joined by single spaces) cut at entry boundaries into pieces of at
    most ``KMS_MAX_PLAINTEXT`` bytes; joined by single spaces again they are ``computers``."""
    pieces: list[str] = []
    current = ""
    for entry in computers.split(" "):
        if len(entry) > KMS_MAX_PLAINTEXT:
            raise wire.WireFormatError("a prestage entry is longer than KMS encrypts")
        candidate = f"{current} {entry}" if current else entry
        if len(candidate) > KMS_MAX_PLAINTEXT:
            pieces.append(current)
            candidate = entry
        current = candidate
    pieces.append(current)
    if len(pieces) > wire.MAX_SEALED_PIECES:
        raise wire.WireFormatError(f"a prestage value needs {len(pieces)} sealed pieces")
    return tuple(pieces)


def prestage_requests(computers: str, batch_id: str) -> tuple[SealRequest, ...]:
    context = prestage_context(batch_id)
    return tuple(SealRequest(piece, context) for piece in prestage_pieces(computers))


def unsealed_prestage_parameters(parameters: Mapping[str, str]) -> dict[str, str]:
    """``parameters`` sent plain: the sealing parameters empty (every document parameter is always sent)."""
    return {**parameters, PARAM_SEALING_KEY: "", TOOLS_PARAM_SEALED_BATCH: ""}


def unsealed_join_parameters(parameters: Mapping[str, str]) -> dict[str, str]:
    return {**parameters, PARAM_SEALING_KEY: ""}


def sealed_prestage_parameters(
    parameters: Mapping[str, str], key_arn: str, batch_id: str, ciphertexts: Sequence[str]
) -> dict[str, str]:
    """``parameters`` with the plain ``Computers`` value replaced by its sealed pieces."""
    return {
        **parameters,
        TOOLS_PARAM_COMPUTERS: wire.encode_sealed_prestage(ciphertexts),
        PARAM_SEALING_KEY: key_arn,
        TOOLS_PARAM_SEALED_BATCH: batch_id,
    }


def join_requests(
    parameters: Mapping[str, str], partition: str, region: str, account: str
) -> tuple[SealRequest, ...]:
    """One request per entry of the join value: that instance's OTP, under a context naming the instance."""
    return tuple(
        SealRequest(entry.otp, join_context(instance_arn(partition, region, account, entry.instance_id)))
        for entry in wire.decode_join(parameters[JOIN_PARAM_COMPUTERS])
    )


def sealed_join_parameters(
    parameters: Mapping[str, str], key_arn: str, ciphertexts: Sequence[str]
) -> dict[str, str]:
    """``parameters`` with each entry's OTP replaced by its ciphertext (in the order of ``join_requests``)."""
    entries = wire.decode_join(parameters[JOIN_PARAM_COMPUTERS])
    if len(entries) != len(ciphertexts):
        raise ValueError(f"{len(entries)} join entries, {len(ciphertexts)} ciphertexts")
    sealed = (
        wire.SealedJoinEntry(entry.instance_id, entry.computer_name, ciphertext)
        for entry, ciphertext in zip(entries, ciphertexts, strict=True)
    )
    return {**parameters, JOIN_PARAM_COMPUTERS: wire.encode_sealed_join(sealed), PARAM_SEALING_KEY: key_arn}


def to_text(blob: bytes) -> str:
    """A ciphertext blob as the wire carries it: base64 without its "=" padding."""
    return base64.b64encode(blob).decode("ascii").rstrip("=")


def from_text(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
