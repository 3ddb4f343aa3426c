"""The Computers wire formats (wire.py): round trips and the grammar's edges; pure, no AWS."""

from __future__ import annotations

import re

import pytest

from handlers.domain_join import wire
from handlers.domain_join.naming import computer_name, one_time_password, ownership_stamp

INSTANCES = ("i-0123456789abcdef0", "i-0fedcba9876543210", "i-89abcdef")


def _name(instance_id: str) -> str:
    return computer_name(instance_id, "EC2")


def _stamp(instance_id: str) -> str:
    return ownership_stamp("123456789012", "us-gov-west-1", instance_id)


def prestage_entries(count: int = len(INSTANCES)) -> list[wire.PrestageEntry]:
    ids = [f"i-{n:017x}" for n in range(count)] if count > len(INSTANCES) else INSTANCES[:count]
    return [wire.PrestageEntry(_name(i), one_time_password(), _stamp(i)) for i in ids]


def test_prestage_round_trip() -> None:
    entries = prestage_entries()
    text = wire.encode_prestage(entries)
    assert re.fullmatch(wire.PRESTAGE_PATTERN, text)
    assert text.count(" ") == len(entries) - 1
    assert wire.decode_prestage(text) == tuple(entries)


def test_join_round_trip() -> None:
    entries = [wire.JoinEntry(i, _name(i), one_time_password()) for i in INSTANCES]
    text = wire.encode_join(entries)
    assert re.fullmatch(wire.JOIN_PATTERN, text)
    assert wire.decode_join(text) == tuple(entries)


def test_remove_round_trip() -> None:
    entries = [wire.RemoveEntry(_name(i), _stamp(i)) for i in INSTANCES]
    text = wire.encode_remove(entries)
    assert re.fullmatch(wire.REMOVE_PATTERN, text)
    assert wire.decode_remove(text) == tuple(entries)


def test_the_field_order_of_each_format() -> None:
    # GIVEN one entry of each kind, WHEN encoded, THEN the fields appear in the documented order
    i, name, otp, stamp = (
        INSTANCES[0],
        _name(INSTANCES[0]),
        "A" * 12 + "b" * 12 + "1" * 8,
        _stamp(INSTANCES[0]),
    )
    assert wire.encode_prestage([wire.PrestageEntry(name, otp, stamp)]) == f"{name}={otp}={stamp}"
    assert wire.encode_join([wire.JoinEntry(i, name, otp)]) == f"{i}={name}={otp}"
    assert wire.encode_remove([wire.RemoveEntry(name, stamp)]) == f"{name}={stamp}"


def test_up_to_max_entries_and_not_one_more() -> None:
    entries = prestage_entries(wire.MAX_ENTRIES + 1)
    assert len(wire.decode_prestage(wire.encode_prestage(entries[:-1]))) == wire.MAX_ENTRIES
    with pytest.raises(wire.WireFormatError, match="51 entries"):
        wire.encode_prestage(entries)
    too_many = " ".join(wire.encode_prestage([e]) for e in entries)
    with pytest.raises(wire.WireFormatError, match="51 entries"):
        wire.decode_prestage(too_many)
    with pytest.raises(wire.WireFormatError, match="0 entries"):
        wire.encode_remove([])


GOOD_NAME, GOOD_OTP, GOOD_STAMP = _name(INSTANCES[0]), "Ab1" * 10, _stamp(INSTANCES[0])


@pytest.mark.parametrize(
    "text",
    [
        "",
        f"{GOOD_NAME}={GOOD_STAMP} ",  # trailing space
        f" {GOOD_NAME}={GOOD_STAMP}",
        f"{GOOD_NAME}={GOOD_STAMP}  {GOOD_NAME}={GOOD_STAMP}",  # two spaces
        f"{GOOD_NAME}={GOOD_STAMP}\n{GOOD_NAME}={GOOD_STAMP}",  # newline instead of space
        f"{GOOD_NAME}={GOOD_STAMP}\n",
        f"{GOOD_NAME.lower()}={GOOD_STAMP}",  # lower-case name
        f"1{GOOD_NAME[1:]}={GOOD_STAMP}",  # name not starting with a letter
        f"{GOOD_NAME}XXXXX={GOOD_STAMP}",  # name longer than 15
        f"{GOOD_NAME}={GOOD_STAMP.replace('ec2-domain-join:', 'other:')}",  # foreign stamp
        f"{GOOD_NAME}={GOOD_STAMP}=extra",
        f"{GOOD_NAME}={GOOD_STAMP.replace('/us-gov', '/Üs-gov')}",  # non-ASCII
        f"{GOOD_NAME}=ec2-domain-join:12345678901/us-east-1/{INSTANCES[0]}",  # 11-digit account
    ],
)
def test_remove_decoder_refuses_values_outside_the_grammar(text: str) -> None:
    with pytest.raises(wire.WireFormatError):
        wire.decode_remove(text)
    assert not re.fullmatch(wire.REMOVE_PATTERN, text)


@pytest.mark.parametrize(
    "entry",
    [
        wire.JoinEntry("i-XYZ", GOOD_NAME, GOOD_OTP),  # bad instance id
        wire.JoinEntry(INSTANCES[0], GOOD_NAME, "short1A"),  # OTP under 24 characters
        wire.JoinEntry(INSTANCES[0], GOOD_NAME, GOOD_OTP + "="),  # separator inside a field
        wire.JoinEntry(INSTANCES[0], GOOD_NAME, GOOD_OTP + " x"),  # space inside a field
    ],
)
def test_join_encoder_refuses_fields_outside_the_grammar_without_echoing_them(entry: wire.JoinEntry) -> None:
    with pytest.raises(wire.WireFormatError) as raised:
        wire.encode_join([entry])
    assert GOOD_OTP not in str(raised.value)  # a one-time password never lands in a message


@pytest.mark.parametrize(
    "text",
    [
        f"{GOOD_NAME}={GOOD_OTP}",  # stamp missing
        f"{GOOD_NAME}={GOOD_OTP}={GOOD_STAMP};rm",
        f"{GOOD_NAME}={GOOD_OTP}={GOOD_STAMP}\r",
    ],
)
def test_prestage_decoder_refuses_values_outside_the_grammar(text: str) -> None:
    with pytest.raises(wire.WireFormatError):
        wire.decode_prestage(text)
    assert not re.fullmatch(wire.PRESTAGE_PATTERN, text)


# --- sealed values ------------------------------------------------------------------------------------------
def _sealed(size: int = 184) -> str:
    """Base64 of a ciphertext blob of `size` bytes, its padding cut (as sealing.to_text writes it)."""
    from handlers.domain_join.sealing import to_text

    return to_text(bytes(n % 256 for n in range(size)))


def test_sealed_join_round_trip_and_the_document_pattern_takes_it() -> None:
    entries = [wire.SealedJoinEntry(i, _name(i), _sealed()) for i in INSTANCES]
    text = wire.encode_sealed_join(entries)
    assert re.fullmatch(wire.SEALED_JOIN_PATTERN, text)
    assert re.fullmatch(wire.JOIN_PARAMETER_PATTERN, text)
    assert wire.decode_sealed_join(text) == tuple(entries)


def test_sealed_prestage_round_trip_of_up_to_eight_pieces() -> None:
    pieces = [_sealed(4096 + 150)] * wire.MAX_SEALED_PIECES
    text = wire.encode_sealed_prestage(pieces)
    assert re.fullmatch(wire.PRESTAGE_PARAMETER_PATTERN, text)
    assert wire.decode_sealed_prestage(text) == tuple(pieces)
    with pytest.raises(wire.WireFormatError, match="9 pieces"):
        wire.encode_sealed_prestage([*pieces, pieces[0]])


@pytest.mark.parametrize(
    "ciphertext",
    [
        "",
        "A" * 63,
        _sealed() + "=",
        _sealed()[:100] + "-" + _sealed()[:100],
        "A" * (wire.MAX_SEALED_CHARS + 1),
    ],
    ids=["empty", "short", "padded", "url-safe", "too-long"],
)
def test_a_sealed_value_outside_the_grammar_is_refused(ciphertext: str) -> None:
    with pytest.raises(wire.WireFormatError):
        wire.encode_sealed_join([wire.SealedJoinEntry(INSTANCES[0], _name(INSTANCES[0]), ciphertext)])
    with pytest.raises(wire.WireFormatError):
        wire.decode_sealed_prestage(ciphertext)


def test_a_plain_value_never_reads_as_sealed_where_the_otp_is_short() -> None:
    """The document admits either form; a handler OTP (32 characters) is never taken for a ciphertext."""
    text = wire.encode_join([wire.JoinEntry(i, _name(i), one_time_password()) for i in INSTANCES])
    assert not re.fullmatch(wire.SEALED_JOIN_PATTERN, text)
