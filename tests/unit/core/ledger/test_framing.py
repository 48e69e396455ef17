"""core/ledger/framing.py: every codec of plain records accepts only bodies framed as it
writes them: its own kinds, whole records, no expiries and no evidence."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from ringfence.core.custody.codec import Numbers, decode_registry
from ringfence.core.ledger.framing import framed, record_bytes, u128_bytes, u128_of, unframed
from ringfence.core.ledger.journal import EntryKind, decode_header, header_bytes, header_for
from ringfence.core.policy.codec import decode_policy_events
from ringfence.core.recon.codec import decode_recon_entry
from ringfence.core.withdrawals.codec import decode_withdrawal_events

GOLDEN = Path(__file__).parents[3] / "data" / "journal" / "golden_records.json"
NO_NUMBERS = Numbers(*(lambda _: pytest.fail("a refused body needs no number") for _ in range(6)))
Decoder = Callable[[bytes], object]
DECODERS: dict[str, tuple[Decoder, str]] = {
    "policies": (decode_policy_events, "a policies entry"),
    "withdrawals": (decode_withdrawal_events, "a withdrawals entry"),
    "reconciliations": (decode_recon_entry, "a reconciliation entry"),
    "break_actions": (decode_recon_entry, "a reconciliation entry"),
    "wallets": (lambda body: decode_registry(body, NO_NUMBERS, 1), "a registry entry"),
}


@pytest.fixture(scope="module")
def bodies() -> dict[str, bytes]:
    return {name: bytes.fromhex(text) for name, text in json.loads(GOLDEN.read_text()).items()}


def _reheaded(body: bytes, kind: EntryKind, expiries: int = 0, evidence: int = 0) -> bytes:
    header = decode_header(body)
    rest = body[header_bytes:]
    fresh = header_for(kind, header.seq, header.timestamp, header.records, expiries,
                       evidence=evidence)  # fmt: skip
    return fresh + rest


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_a_body_framed_otherwise_is_refused_by_name(name: str, bodies: dict[str, bytes]) -> None:
    decode, what = DECODERS[name]
    body = bodies[name]
    kind = decode_header(body).kind
    foreign = EntryKind.transfers
    for changed in (
        _reheaded(body, foreign),
        _reheaded(body, kind, expiries=1),
        _reheaded(body, kind, evidence=1),
    ):
        with pytest.raises(ValueError, match=f"is not {what}"):
            decode(changed)
    for torn in (body[:-1], body + bytes(record_bytes), body[:header_bytes]):
        with pytest.raises(ValueError, match="torn"):
            decode(torn)


def test_framing_round_trips_its_records() -> None:
    records = [bytes([n]) * record_bytes for n in (1, 2, 3)]
    body = framed(EntryKind.policies, 4, 5, records)
    header, found = unframed(body, (EntryKind.policies,), "a policies entry")
    assert (header.kind, header.seq, header.timestamp, header.records) == (
        EntryKind.policies, 4, 5, 3)  # fmt: skip
    assert found == records
    assert u128_of(u128_bytes(2**128 - 1)) == 2**128 - 1
    with pytest.raises(AssertionError):
        framed(EntryKind.policies, 4, 5, [b"short"])
    with pytest.raises(AssertionError):
        u128_bytes(2**128)
