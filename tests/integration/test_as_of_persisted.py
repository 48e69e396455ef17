"""Persisted snapshots of the past (service/ledger/past_seal.py) that someone with write access
to the database changed are ignored, named in the log, forgotten by the store, and the past
read is right anyway: a balance moved between two clients (consistent: the checkpoint checks
alone would pass it), the move signed again with another key, a snapshot moved to another
entry, one copied from another journal signed with the same key, one signed with the key but
refused by a restore's checks. A service without the journal
key loads them but writes none."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import nacl.signing
import pytest
from tests.support import Custodian, build_custodian, journal_signer

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.signing import MemorySigner, NoSigner
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.core.access.roles import Actor
from ringfence.core.principals.records import PrincipalRole
from ringfence.service import access
from ringfence.service.ledger import LedgerService
from ringfence.service.ledger.past import PastStates
from ringfence.service.ledger.past_seal import decode_state, encode_state, seal_state
from ringfence.service.ports import Signer, StoredPastState

STAFF = Actor("auditor", PrincipalRole.auditor)
Seen = dict[int, object]


def _read(ledger: LedgerService, seq: int) -> object:
    balances = access.balances(ledger, STAFF, limit=1000, as_of_seq=str(seq))
    return balances["items"], access.positions(ledger, STAFF, as_of_seq=str(seq))


def _ledger(path: Path, signer: Signer | None = None) -> LedgerService:
    ledger = LedgerService(SqliteStore(str(path)), ManualClock(10**18), signer or journal_signer())
    ledger.past_states = PastStates(transfers_between=1, snapshots_max=16)
    return ledger


def _written(path: Path, bob_deposits: int = 7) -> tuple[Custodian, Seen]:
    """A ledger of six entries of deposits to alice and bob (``bob_deposits`` each), every
    past entry read once (so its snapshots are persisted); what was read after each entry."""
    ledger = _ledger(path)
    custodian = build_custodian(ledger)
    seen: Seen = {}
    for number in range(6):
        batch = [
            custodian.deposit(2 * number + 1, "alice", 100 + number),
            custodian.deposit(2 * number + 2, "bob", bob_deposits),
        ]
        assert all(result.succeeded for result in ledger.submit(batch))
        seen[ledger.seq] = _read(ledger, ledger.seq)
    for seq in seen:
        _read(ledger, seq)
    assert len(ledger.store.past_states()) == len(seen) - 1  # the head is the engine's own
    ledger.close()
    return custodian, seen


def _rows(path: Path) -> dict[int, StoredPastState]:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT seq, entry_hash, body, signature FROM past_states").fetchall()
    return {row[0]: StoredPastState(*row) for row in rows}


def _replace_row(path: Path, old_seq: int, stored: StoredPastState) -> None:
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM past_states WHERE seq = ?", (old_seq,))
        db.execute(
            "INSERT OR REPLACE INTO past_states VALUES (?, ?, ?, ?)",
            (stored.seq, stored.entry_hash, stored.body, stored.signature),
        )


def _moved_value(custodian: Custodian, stored: StoredPastState) -> bytes:
    """The body with one unit moved from alice's balance to bob's: consistent, but wrong."""
    state = decode_state(stored.body)
    alice, bob = custodian.client("alice"), custodian.client("bob")
    a, b = list(state.balances[alice]), list(state.balances[bob])
    a[3], b[3] = a[3] - 1, b[3] + 1  # credits posted
    state.balances[alice], state.balances[bob] = (a[0], a[1], a[2], a[3]), (b[0], b[1], b[2], b[3])
    return encode_state(state)


def _check_reads_after_restart(path: Path, seen: Seen, why: str, tampered: int, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="ringfence.ledger.past")
    restarted = _ledger(path)
    try:
        for seq, then in seen.items():
            assert _read(restarted, seq) == then
    finally:
        restarted.close()
    assert any(
        f"entry {tampered} is ignored" in message and why in message for message in caplog.messages
    ), caplog.messages
    # Forgotten by the store (and taken again from the replay, signed, when read again).
    stored = _rows(path).get(tampered)
    assert stored is None or decode_state(stored.body).seq == tampered
    assert stored is None or stored.signature != b"\0" * 64


def _forged_with_another_key(custodian: Custodian, stored: StoredPastState) -> StoredPastState:
    other = nacl.signing.SigningKey(b"\x07" * 32)

    class OtherSigner:
        def sign(self, message: bytes) -> bytes:
            return other.sign(message).signature

    state = decode_state(_moved_value(custodian, stored))
    return seal_state(state, stored.entry_hash, OtherSigner())  # type: ignore[arg-type]


def _signed_but_unknown_account(custodian: Custodian, stored: StoredPastState) -> StoredPastState:
    """Signed with the journal key itself (as a faulty writer would): the restore's checks
    still refuse a balance of an account the journal never defined."""
    state = decode_state(stored.body)
    state.balances[2**100] = (0, 0, 0, 1)
    return seal_state(state, stored.entry_hash, journal_signer())


Tamper = Callable[[Custodian, StoredPastState], StoredPastState]
tampers: dict[str, tuple[Tamper, str]] = {
    "balance moved": (
        lambda custodian, stored: replace(stored, body=_moved_value(custodian, stored)),
        "not signed by the journal key in force",
    ),
    "signed with another key": (_forged_with_another_key, "not signed by the journal key"),
    "refused by the restore": (_signed_but_unknown_account, "unknown account"),
}


@pytest.mark.parametrize("name", sorted(tampers))
def test_a_changed_snapshot_is_ignored_and_the_read_is_right(
    tmp_path: Path, name: str, caplog
) -> None:
    path = tmp_path / "ledger.db"
    custodian, seen = _written(path)
    seq = sorted(_rows(path))[-1]
    tamper, why = tampers[name]
    _replace_row(path, seq, tamper(custodian, _rows(path)[seq]))
    _check_reads_after_restart(path, seen, why, seq, caplog)


def test_a_snapshot_moved_to_another_entry_is_ignored(tmp_path: Path, caplog) -> None:
    path = tmp_path / "ledger.db"
    _, seen = _written(path)
    rows = _rows(path)
    first, second = sorted(rows)[-2:]
    with sqlite3.connect(path) as db:
        (second_hash,) = db.execute("SELECT hash FROM journal WHERE seq = ?", (second,)).fetchone()
    # The earlier state under the later entry, with that entry's hash: a read there would miss
    # the last deposits.
    _replace_row(path, second, replace(rows[first], seq=second, entry_hash=second_hash))
    _check_reads_after_restart(path, seen, "not signed by the journal key in force", second, caplog)


def test_a_snapshot_of_another_journal_is_ignored(tmp_path: Path, caplog) -> None:
    """Signed with the same key (every test ledger's), at the same entry: only the entry hash
    tells it is of another journal."""
    path, other = tmp_path / "ledger.db", tmp_path / "other.db"
    _, seen = _written(path)
    _written(other, bob_deposits=8)
    seq = sorted(_rows(path))[-1]
    _replace_row(path, seq, _rows(other)[seq])
    _check_reads_after_restart(path, seen, "is not the one it was taken after", seq, caplog)


def test_a_service_without_the_key_loads_the_snapshots_and_writes_none(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    _, seen = _written(path)
    before = _rows(path)
    reader = _ledger(path, NoSigner("read only"))
    reader.past_states = PastStates(transfers_between=10**9, snapshots_max=16)
    try:
        for seq, then in seen.items():
            assert _read(reader, seq) == then
        assert len(reader.past_states) == len(before)
    finally:
        reader.close()
    assert _rows(path) == before


def test_snapshots_signed_before_a_key_rotation_are_ignored_after_it(
    tmp_path: Path, caplog
) -> None:
    """A rotation may be because the old key leaked: what it signed is not believed after."""
    path = tmp_path / "ledger.db"
    _, seen = _written(path)
    before = _rows(path)
    new_signer = MemorySigner(b"\x09" * 32)
    ledger = _ledger(path)
    ledger.rotate_journal_key(new_signer)
    ledger.close()
    caplog.set_level(logging.WARNING, logger="ringfence.ledger.past")
    restarted = _ledger(path, new_signer)
    try:
        for seq, then in seen.items():
            assert _read(restarted, seq) == then
    finally:
        restarted.close()
    ignored = [m for m in caplog.messages if "not signed by the journal key in force" in m]
    assert len(ignored) == 1  # one line for the load, counting them
    assert f"(and {len(before) - 1} more of those loaded)" in ignored[0]
    after = _rows(path)
    assert set(before) < set(after)  # taken again by the replay, signed with the new key
    assert all(after[seq].signature != before[seq].signature for seq in before)
