"""Snapshots of the past as the store keeps them: encoded, bound to their journal entry and
signed with the journal key, so that a restarted service starts a past read from the nearest
one instead of the journal's start (service/ledger/past.py).

A persisted snapshot is read from a database that anyone with write access to it could edit,
so nothing in it is believed until it is checked, and one that fails a check is ignored (the
read replays from an earlier one, or from the journal's start), never served. On load (every
one, cheaply: ``seal_finding``):
- the journal key in force signs ``past_state_message(seq, entry hash, SHA-256 of the body)``
  (core/ledger/authenticity.py): a changed balance, or a snapshot moved to another entry or
  copied from another journal, no longer verifies, and only the key's holder can sign anew;
  nor does one taken by a version whose replay differs (``past_state_format``, signed too).
When a read is about to start from it (``opened_state``: a journal read and a decoding, which
the snapshots no read starts from never pay):
- the journal's entry at ``seq`` has that hash (the snapshot is of this journal as it is);
- the body decodes exactly, at the sequence it is stored under, with values in range;
- restoring it applies the checks an opened store's checkpoint gets (``restore_checkpoint``).
A snapshot signed by a key the journal has since rotated away from is ignored too: a rotation
may be because that key leaked.

The body is fixed-width and canonical (sorted by id, big-endian): a header (seq, timestamp,
four counts), then balances (id, the four balances: u128 each), pending transfers (id u128,
expiry u64, status u8), breaks (id, amount, cured: u128; asset, opened at: u64; the pool's
name: u16 length and UTF-8) and reversal totals (id, amount: u128).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from ringfence.core import limits
from ringfence.core.errors import IntegrityError
from ringfence.core.ledger.authenticity import past_state_message, signature_valid
from ringfence.core.ledger.model import Break
from ringfence.service.checkpoints import check_checkpoint_shape
from ringfence.service.ports import Checkpoint, LedgerStore, PendingRow, Signer, StoredPastState

__all__ = [
    "PastStateSeal",
    "decode_state",
    "encode_state",
    "opened_state",
    "seal_finding",
    "seal_state",
    "stated_rows",
]

_header = struct.Struct(">QQIIII")
_u128 = 16
_balance_bytes = 5 * _u128
_pending = struct.Struct(">QB")  # after the id: expiry, status
_break = struct.Struct(">QQH")  # after id, amount, cured: asset, opened at, pool name length
_reversal_bytes = 2 * _u128


@dataclass(frozen=True, slots=True)
class PastStateSeal:
    """What persisting and checking snapshots of the past needs: the journal key in force
    (None before the first declaration: nothing can then be checked, so nothing is loaded),
    and the signer, when it holds that key (a service without it loads but never writes)."""

    public_key: bytes | None
    signer: Signer | None


def encode_state(checkpoint: Checkpoint) -> bytes:
    """The checkpoint's canonical bytes."""
    parts = [
        _header.pack(
            checkpoint.seq,
            checkpoint.timestamp_last,
            len(checkpoint.balances),
            len(checkpoint.pendings),
            len(checkpoint.breaks),
            len(checkpoint.reversed),
        )
    ]
    for account_id, balances in sorted(checkpoint.balances.items()):
        parts.append(b"".join(_u128_bytes(value) for value in (account_id, *balances)))
    for pending_id, row in sorted(checkpoint.pendings.items()):
        parts.append(_u128_bytes(pending_id) + _pending.pack(row.expires_at, row.status))
    for break_id, broken in sorted(checkpoint.breaks.items()):
        name = broken.pool.encode()
        parts.append(
            _u128_bytes(break_id)
            + _u128_bytes(broken.amount)
            + _u128_bytes(broken.cured)
            + _break.pack(broken.asset, broken.opened_at, len(name))
            + name
        )
    for transfer_id, amount in sorted(checkpoint.reversed.items()):
        parts.append(_u128_bytes(transfer_id) + _u128_bytes(amount))
    return b"".join(parts)


def decode_state(body: bytes) -> Checkpoint:
    """The checkpoint ``body`` encodes; ``ValueError`` naming what is wrong otherwise."""
    if len(body) < _header.size:
        raise ValueError("the body is shorter than its header")
    seq, timestamp_last, balances, pendings, breaks, reversals = _header.unpack_from(body)
    checkpoint = Checkpoint(seq, timestamp_last)
    at = _header.size
    for _ in range(balances):
        values = _u128s(body, at, 5)
        checkpoint.balances[values[0]] = (values[1], values[2], values[3], values[4])
        at += _balance_bytes
    for _ in range(pendings):
        (pending_id,) = _u128s(body, at, 1)
        expires_at, status = _unpack(_pending, body, at + _u128)
        checkpoint.pendings[pending_id] = PendingRow(pending_id, expires_at, status)
        at += _u128 + _pending.size
    for _ in range(breaks):
        break_id, amount, cured = _u128s(body, at, 3)
        asset, opened_at, name_bytes = _unpack(_break, body, at + 3 * _u128)
        at += 3 * _u128 + _break.size
        if at + name_bytes > len(body):
            raise ValueError(f"break {break_id}'s pool name runs past the body")
        pool = body[at : at + name_bytes].decode()
        at += name_bytes
        checkpoint.breaks[break_id] = Break(break_id, pool, asset, amount, cured, opened_at)
    for _ in range(reversals):
        transfer_id, amount = _u128s(body, at, 2)
        checkpoint.reversed[transfer_id] = amount
        at += _reversal_bytes
    if at != len(body):
        raise ValueError(f"{len(body) - at} bytes follow the last record")
    counts = (balances, pendings, breaks, reversals)
    found = tuple(
        len(part)
        for part in (
            checkpoint.balances,
            checkpoint.pendings,
            checkpoint.breaks,
            checkpoint.reversed,
        )
    )
    if found != counts:
        raise ValueError("an id is repeated")
    return checkpoint


def seal_state(checkpoint: Checkpoint, entry_hash: bytes, signer: Signer) -> StoredPastState:
    """The snapshot as the store keeps it, signed by the journal key."""
    body = encode_state(checkpoint)
    message = past_state_message(checkpoint.seq, entry_hash, hashlib.sha256(body).digest())
    return StoredPastState(checkpoint.seq, entry_hash, body, signer.sign(message))


def seal_finding(stored: StoredPastState, public_key: bytes, head_seq: int) -> str | None:
    """Why a persisted snapshot cannot be believed on its face (None: it can): checked for
    every one on load, cheaply (no journal read, no decoding). A table rebuilt by hand may
    hold any type in any column (SQLite keeps what it is given): a field of the wrong type is
    a finding like any other."""
    seq = stored.seq
    if type(seq) is not int:
        return f"its sequence is a {type(seq).__name__}, not an integer"
    fields = (stored.entry_hash, stored.body, stored.signature)
    if any(type(field) is not bytes for field in fields):
        return "its entry hash, body or signature is not bytes"
    if not 0 < seq <= head_seq:
        return f"it is at entry {seq}, the journal ends at {head_seq}"
    if len(stored.entry_hash) != 32:
        return "its entry hash is not 32 bytes"
    digest = hashlib.sha256(stored.body).digest()
    if not signature_valid(
        public_key, past_state_message(seq, stored.entry_hash, digest), stored.signature
    ):
        return f"it is not signed by the journal key in force ({public_key.hex()})"
    if len(stored.body) < _header.size:
        return "its body is shorter than its header"
    return None


def stated_rows(stored: StoredPastState) -> int:
    """The balances and pending transfers its header counts (what it is held as)."""
    _, _, balances, pendings, _, _ = _header.unpack_from(stored.body)
    return int(balances + pendings)


def opened_state(stored: StoredPastState, store: LedgerStore, head_seq: int) -> Checkpoint | str:
    """The checkpoint a persisted snapshot (its seal checked) holds, or why it cannot be
    believed: checked when a read is about to start from it (``restore_checkpoint`` checks the
    rest)."""
    seq = stored.seq
    entry = next(store.entries(after_seq=seq - 1), None)
    if entry is None or entry.seq != seq or entry.hash != stored.entry_hash:
        return f"the journal's entry {seq} is not the one it was taken after"
    try:
        checkpoint = decode_state(stored.body)
    except (ValueError, UnicodeDecodeError) as error:
        return f"its body does not decode: {error}"
    if checkpoint.seq != seq:
        return f"its body is of entry {checkpoint.seq}"
    try:
        check_checkpoint_shape(checkpoint, head_seq)
    except IntegrityError as error:
        return str(error)
    return checkpoint


def _u128_bytes(value: int) -> bytes:
    assert 0 <= value <= limits.amount_units_max
    return value.to_bytes(_u128, "big")


def _u128s(body: bytes, at: int, count: int) -> list[int]:
    end = at + count * _u128
    if end > len(body):
        raise ValueError("a record runs past the body")
    return [int.from_bytes(body[i : i + _u128], "big") for i in range(at, end, _u128)]


def _unpack(layout: struct.Struct, body: bytes, at: int) -> tuple[int, ...]:
    if at + layout.size > len(body):
        raise ValueError("a record runs past the body")
    return layout.unpack_from(body, at)
