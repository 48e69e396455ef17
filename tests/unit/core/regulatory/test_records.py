"""core/regulatory/records.py: a residual-interest deadline check and a version of the
sub-custodian register as the journal keeps them.

A journal's hashes and signatures cover these bytes, so the bodies below are kept as first
written (tests/data/journal/golden_regulatory.json: never regenerate it): each must decode to
the record below, and the record must encode to it again. Statuses are not stored; they are
computed from the facts, worked out here by hand."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import pytest

from ringfence.core.ledger.journal import EntryKind, header_bytes, header_for
from ringfence.core.regulatory.files import (
    Approval,
    DueDiligence,
    FileIdentity,
    SubCustodian,
    SubCustodianRegister,
)
from ringfence.core.regulatory.records import (
    DeadlineCheck,
    decode_deadline_check,
    decode_register,
    encode_deadline_check,
    encode_register,
)
from ringfence.core.regulatory.residual import DeadlineFacts, DeadlineStatus

GOLDEN = Path(__file__).parents[3] / "data" / "journal" / "golden_regulatory.json"
DEADLINE_NS = 1_763_679_600 * 10**9  # 2025-11-20T23:00:00Z
DIGEST = hashlib.sha256(b"requirements").digest()
FACTS = (
    # residual interest 10 against 15 undermargined: short by 5
    DeadlineFacts("margin", "BTC", 100, 90, 20, 15, 2),
    # residual interest -3 (undersegregated) against nothing undermargined: short by 3
    DeadlineFacts("omni-1", "ETH", 7 * 10**18, 7 * 10**18 + 3, 0, 0, 0),
    # residual interest 2**127 against 2**127: met, at the top of the range
    DeadlineFacts("omni-2", "USDC", 2**128 - 1, 2**127 - 1, 2**100, 2**127, 4_000_000_000),
)
CHECK = DeadlineCheck(DEADLINE_NS - 1, DEADLINE_NS, DIGEST, FACTS)
REGISTER = SubCustodianRegister(
    FileIdentity(1, hashlib.sha256(b"register").hexdigest()),
    (
        SubCustodian(
            "anchor",
            Approval.approved,
            1_736_899_200 * 10**9,
            (
                DueDiligence("soc2_type2", 1_751_327_999 * 10**9, 1_754_006_400 * 10**9),
                DueDiligence("site-visit", 1_760_000_000 * 10**9, 1_760_000_000 * 10**9),
            ),
            ("main-cold", "margin-cold"),
        ),
        SubCustodian("newco", Approval.pending, 0, (), ("margin-hot",)),
        SubCustodian("gone", Approval.revoked, 0, (), ()),
    ),
)


def test_the_kept_body_decodes_and_encodes_as_it_first_did() -> None:
    kept = bytes.fromhex(json.loads(GOLDEN.read_text())["residual_deadlines"])
    assert encode_deadline_check(21, 1_000, CHECK) == kept
    assert decode_deadline_check(kept) == CHECK
    assert kept[4] == EntryKind.residual_deadlines == 22
    assert len(kept) == header_bytes + 128 * (1 + len(FACTS))


def test_the_kept_register_decodes_and_encodes_as_it_first_did() -> None:
    kept = bytes.fromhex(json.loads(GOLDEN.read_text())["sub_custodian_registers"])
    assert encode_register(22, 2_000, REGISTER) == kept
    assert decode_register(kept) == REGISTER
    assert kept[4] == EntryKind.sub_custodian_registers == 23
    # a register record; three sub-custodians; two due-diligence records; three wallets
    assert len(kept) == header_bytes + 128 * (1 + 3 + 2 + 3)


def test_a_register_body_it_would_not_have_written_is_refused() -> None:
    body = encode_register(22, 2_000, REGISTER)
    with pytest.raises(ValueError, match="record 0 is out of place"):
        decode_register(_retyped(body, 0, 2))
    with pytest.raises(ValueError, match="record 2 is out of place"):
        decode_register(_retyped(body, 2, 4))  # a due-diligence record announced, a wallet kept
    extra = encode_register(22, 2_000, REGISTER)[header_bytes:] + body[-128:]
    torn = header_for(EntryKind.sub_custodian_registers, 22, 2_000, 10, 0) + extra
    with pytest.raises(ValueError, match="1 records left over"):
        decode_register(torn)
    status_at = header_bytes + 128 + 1 + 32  # the first sub-custodian's status byte
    unknown = body[:status_at] + bytes([9]) + body[status_at + 1 :]
    with pytest.raises(ValueError, match="KeyError"):
        decode_register(unknown)


def test_statuses_are_computed_from_the_facts_by_hand() -> None:
    before = CHECK.lines()
    assert [line.residual_interest for line in before] == [10, -3, 2**127]
    assert [line.cover_shortfall for line in before] == [5, 3, 0]
    assert [line.status for line in before] == [
        DeadlineStatus.due, DeadlineStatus.due, DeadlineStatus.met
    ]  # fmt: skip
    at_deadline = DeadlineCheck(DEADLINE_NS, DEADLINE_NS, DIGEST, FACTS).lines()
    assert [line.status for line in at_deadline] == [
        DeadlineStatus.breach, DeadlineStatus.breach, DeadlineStatus.met
    ]  # fmt: skip
    assert [line.alert for line in at_deadline][:2] == ["residual_interest_deadline_breach"] * 2


def _retyped(body: bytes, index: int, first_byte: int) -> bytes:
    offset = header_bytes + 128 * index
    return body[:offset] + bytes([first_byte]) + body[offset + 1 :]


def test_a_body_it_would_not_have_written_is_refused() -> None:
    body = encode_deadline_check(21, 1_000, CHECK)
    with pytest.raises(ValueError, match="no check record first"):
        decode_deadline_check(_retyped(body, 0, 2))
    with pytest.raises(ValueError, match="record 2 is not a line"):
        decode_deadline_check(_retyped(body, 2, 1))
    with pytest.raises(ValueError, match="torn"):
        decode_deadline_check(body[:-1])
    fewer = header_for(EntryKind.residual_deadlines, 21, 1_000, 3, 0) + body[header_bytes:-128]
    with pytest.raises(ValueError, match="3 lines announced, 2 kept"):
        decode_deadline_check(fewer)
    other = struct.pack(">4sB", b"RFJ1", EntryKind.reconciliations) + body[5:]
    with pytest.raises(ValueError, match="not a residual_deadlines entry"):
        decode_deadline_check(other)
