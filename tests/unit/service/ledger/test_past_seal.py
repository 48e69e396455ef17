"""The persisted form of a snapshot of the past (service/ledger/past_seal.py): it decodes to
exactly what was encoded over the whole u128 range, any cut or extended body is refused with a
reason rather than misread, and the seal names a snapshot signed by another key, at another
entry or out of the journal's range."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support import journal_public_key, journal_signer

from ringfence.core.ledger.authenticity import past_state_format, past_state_message
from ringfence.core.ledger.model import Break
from ringfence.service.ledger.past_seal import (
    decode_state,
    encode_state,
    seal_finding,
    seal_state,
    stated_rows,
)
from ringfence.service.ports import Checkpoint, PendingRow

u128 = st.integers(0, 2**128 - 1)
u63 = st.integers(0, 2**63 - 1)


@st.composite
def checkpoints(draw: st.DrawFn) -> Checkpoint:
    checkpoint = Checkpoint(draw(st.integers(1, 2**63 - 1)), draw(u63))
    for account_id in draw(st.sets(u128, max_size=5)):
        checkpoint.balances[account_id] = (draw(u128), draw(u128), draw(u128), draw(u128))
    for pending_id in draw(st.sets(u128, max_size=3)):
        checkpoint.pendings[pending_id] = PendingRow(pending_id, draw(u63), draw(st.integers(0, 3)))
    for break_id in draw(st.sets(u128, max_size=3)):
        pool = draw(st.text(max_size=12))
        asset = draw(st.integers(0, 2**32 - 1))
        checkpoint.breaks[break_id] = Break(
            break_id, pool, asset, draw(u128), draw(u128), draw(u63)
        )
    for transfer_id in draw(st.sets(u128, max_size=3)):
        checkpoint.reversed[transfer_id] = draw(u128)
    return checkpoint


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(checkpoints())
def test_a_snapshot_decodes_to_what_was_encoded(checkpoint: Checkpoint) -> None:
    body = encode_state(checkpoint)
    assert decode_state(body) == checkpoint
    assert encode_state(decode_state(body)) == body


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(checkpoints(), st.data())
def test_a_cut_or_extended_body_is_refused(checkpoint: Checkpoint, data: st.DataObject) -> None:
    body = encode_state(checkpoint)
    cut = data.draw(st.integers(0, len(body) - 1))
    with pytest.raises(ValueError):
        decode_state(body[:cut])
    with pytest.raises(ValueError):
        decode_state(body + b"\0")


def test_the_seal_names_what_is_wrong() -> None:
    checkpoint = Checkpoint(5, 10, balances={7: (0, 1, 0, 0)}, pendings={9: PendingRow(9, 0, 0)})
    stored = seal_state(checkpoint, b"\1" * 32, journal_signer())
    assert seal_finding(stored, journal_public_key, head_seq=5) is None
    assert stated_rows(stored) == 2
    assert "ends at 4" in str(seal_finding(stored, journal_public_key, head_seq=4))
    moved = replace(stored, seq=4)
    assert "not signed" in str(seal_finding(moved, journal_public_key, head_seq=5))
    other_entry = replace(stored, entry_hash=b"\2" * 32)
    assert "not signed" in str(seal_finding(other_entry, journal_public_key, head_seq=5))
    assert "not signed" in str(seal_finding(stored, b"\3" * 32, head_seq=5))
    changed = replace(stored, body=encode_state(replace(checkpoint, timestamp_last=11)))
    assert "not signed" in str(seal_finding(changed, journal_public_key, head_seq=5))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seq", "5"),
        ("seq", 5.0),
        ("seq", True),
        ("entry_hash", "\1" * 32),
        ("body", None),
        ("signature", memoryview(b"\0" * 64)),
    ],
)
def test_a_field_of_the_wrong_type_is_a_finding_not_a_crash(field: str, value: object) -> None:
    """What a ``past_states`` table rebuilt without its column types may hand back."""
    checkpoint = Checkpoint(5, 10, balances={7: (0, 1, 0, 0)})
    stored = replace(seal_state(checkpoint, b"\1" * 32, journal_signer()), **{field: value})
    finding = seal_finding(stored, journal_public_key, head_seq=5)
    assert finding is not None and ("integer" in finding or "not bytes" in finding)


def test_a_snapshot_taken_by_a_replay_of_another_format_is_not_believed() -> None:
    """After an upgrade whose replay differs (``past_state_format`` bumped), a snapshot the
    earlier version signed no longer verifies: it is ignored, never served."""
    checkpoint = Checkpoint(5, 10, balances={7: (0, 1, 0, 0)})
    stored = seal_state(checkpoint, b"\1" * 32, journal_signer())
    digest = hashlib.sha256(stored.body).digest()
    assert past_state_format.to_bytes(4, "big") in past_state_message(5, b"\1" * 32, digest)
    message = past_state_message(5, b"\1" * 32, digest, state_format=past_state_format + 1)
    other = replace(stored, signature=journal_signer().sign(message))
    assert "not signed" in str(seal_finding(other, journal_public_key, head_seq=5))
    assert seal_finding(stored, journal_public_key, head_seq=5) is None
