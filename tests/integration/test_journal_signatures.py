"""A database writer without the journal key cannot rewrite history unnoticed.

Each test builds a small signed ledger, then acts as an intruder who can write the database
(SQLite file or PostgreSQL schema) but does not hold the journal key: appending a rule-abiding
entry, cutting off the last entry and rebuilding the checkpoint to match, re-hashing the whole
chain after inflating a deposit. ``audit verify`` must name each one, given what an auditor
holds: the firm's published journal key and heads published earlier.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from tests.support import (
    journal_public_key,
    journal_signer,
    replay_from_genesis,
)

from ringfence import bootstrap
from ringfence.adapters.clock import ManualClock
from ringfence.adapters.signing import KeyFileSigner, MemorySigner
from ringfence.core.errors import InputError, IntegrityError, Result
from ringfence.core.ledger.authenticity import head_message
from ringfence.core.ledger.journal import (
    Definition,
    EntryKind,
    JournalEntry,
    decode_definitions,
    decode_transfers,
    encode_transfers,
    genesis_hash,
    ledger_definition_kinds,
    seal,
)
from ringfence.core.ledger.model import (
    AccountClass,
    AccountDefinition,
    Pool,
    PoolKind,
    Terms,
    Transfer,
    TransferCode,
    TransferRecord,
)
from ringfence.core.money import Asset
from ringfence.service.audit import AuditReport, published_heads, verify_store
from ringfence.service.ledger import LedgerService, load_ledger
from ringfence.service.ports import Checkpoint, LedgerStore

hot, alice, bob = 1, 2, 3


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    url = request.getfixturevalue("postgres_url")
    assert isinstance(url, str)
    return url


@pytest.fixture
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path, ledger_url: str) -> Callable[[], str]:
    """Another empty ledger of the same kind, for a journal rewritten from genesis."""
    if ledger_url.startswith("sqlite:"):
        return lambda: f"sqlite:///{tmp_path / 'rewritten.db'}"
    database = request.getfixturevalue("postgres_database")
    return lambda: str(database.fresh_url())


def open_signed(url: str) -> LedgerService:
    return LedgerService(bootstrap.open_store(url), ManualClock(), journal_signer())


@pytest.fixture
def honest(ledger_url: str) -> tuple[int, bytes]:
    """The firm's ledger: deposits for alice and bob, then a withdrawal of alice's; closed.
    Returns the head the firm published at the end."""
    service = open_signed(ledger_url)
    service.define_assets([Asset("BTC", 8, 1, "bitcoin")])
    service.define_clients(["alice", "bob"])
    service.define_pools([Pool("omni", PoolKind.omnibus, Terms.custody)])
    service.define_accounts(
        [
            AccountDefinition(hot, "BTC", AccountClass.custody, "omni-hot", "hot", "omni"),
            AccountDefinition(alice, "BTC", AccountClass.client, "alice", "available", "omni"),
            AccountDefinition(bob, "BTC", AccountClass.client, "bob", "available", "omni"),
        ]
    )
    for batch in (
        [Transfer(10, hot, alice, 5_000, TransferCode.deposit)],
        [Transfer(11, hot, bob, 3_000, TransferCode.deposit)],
        [Transfer(12, alice, hot, 900, TransferCode.withdrawal)],
    ):
        assert service.submit(batch) == [Result.ok]
    head = service.seq, service.hash
    service.close()
    return head


def audit(url: str, heads: dict[int, bytes] | None = None) -> AuditReport:
    store = bootstrap.open_store(url)
    try:
        return verify_store(store, trusted_keys=[journal_public_key], published_heads=heads)
    finally:
        store.close()


def kinds(report: AuditReport) -> list[str]:
    return [problem.kind for problem in report.problems]


@pytest.fixture
def store_of(ledger_url: str) -> Iterator[LedgerStore]:
    store = bootstrap.open_store(ledger_url)
    yield store
    store.close()


def raw_sql(url: str, *statements: str) -> None:
    """Plain SQL with the append-only triggers out of the way, as an intruder would."""
    if url.startswith("sqlite:"):
        with sqlite3.connect(url[len("sqlite:///") :]) as db:
            for (trigger,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
                db.execute(f"DROP TRIGGER {trigger}")
            for statement in statements:
                db.execute(statement)
        return
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("SET session_replication_role = replica")  # triggers off (superuser)
        for statement in statements:
            db.execute(statement)


# ---------------------------------------------------------------------- the honest ledger


def test_the_honest_ledger_is_signed_from_its_first_entry(
    ledger_url: str, honest: tuple[int, bytes]
) -> None:
    report = audit(ledger_url, {honest[0]: honest[1]})
    assert report.ok, report.problems
    assert report.journal_keys == [(1, journal_public_key.hex())]
    assert (report.key_trusted, report.heads_checked) == (True, 1)


# ---------------------------------------------------------------------- (a) an appended entry


def forge_append(store: LedgerStore, events: list[Transfer], signature: bytes = b"") -> None:
    """A rule-abiding entry decided by the engine itself and appended through the store: all a
    database writer can do without the key."""
    ledger, _ = load_ledger(store)
    seq, head = store.head()
    timestamp = ledger.timestamp_last + 1
    outcome = ledger.execute(events, timestamp, {})
    assert outcome.results == [Result.ok] * len(events)
    body = encode_transfers(seq + 1, timestamp, outcome.records, outcome.expiries)
    entry = seal(seq + 1, EntryKind.transfers, timestamp, body, head)
    store.append(_signed(entry, signature), outcome.records)


def _signed(entry: JournalEntry, signature: bytes) -> JournalEntry:
    return JournalEntry(*[getattr(entry, f) for f in JournalEntry.__slots__][:-1], signature)


@pytest.mark.parametrize(
    "signature",
    [b"", bytes(64), MemorySigner(bytes(32)).sign(b"anything")],
    ids=["unsigned", "zeros", "another key"],
)
def test_a_rule_abiding_entry_appended_without_the_key_is_named(
    ledger_url: str, honest: tuple[int, bytes], store_of: LedgerStore, signature: bytes
) -> None:
    drain = Transfer(99, alice, hot, 4_100, TransferCode.withdrawal)
    forge_append(store_of, [drain], signature)
    report = audit(ledger_url)
    expected = "journal_entry_unsigned" if not signature else "journal_signature_invalid"
    assert kinds(report) == [expected]
    assert report.problems[0].where == f"journal entry {honest[0] + 1}"


def test_a_service_refuses_to_build_on_a_forged_head(
    ledger_url: str, honest: tuple[int, bytes], store_of: LedgerStore
) -> None:
    forge_append(store_of, [Transfer(99, alice, hot, 4_100, TransferCode.withdrawal)])
    with pytest.raises(IntegrityError, match="journal_entry_unsigned"):
        LedgerService(store_of, ManualClock(), journal_signer())


# ---------------------------------------------------------------------- (b) a truncation


def test_the_last_entry_cut_off_and_the_checkpoint_rebuilt_is_named_by_a_published_head(
    ledger_url: str, honest: tuple[int, bytes]
) -> None:
    seq, head_hash = honest
    raw_sql(ledger_url, f"DELETE FROM journal WHERE seq = {seq}",
            f"DELETE FROM transfers WHERE seq = {seq}",
            f"UPDATE meta SET value = '{seq - 1}' WHERE key = 'checkpoint_seq'")  # fmt: skip
    store = bootstrap.open_store(ledger_url)
    try:  # the checkpoint rebuilt to agree with the shortened journal
        ledger = replay_from_genesis(store)
        balances = {i: account.balances() for i, account in ledger.accounts.items()}
        store.write_checkpoint(Checkpoint(seq - 1, ledger.timestamp_last, balances))
    finally:
        store.close()
    # Alone, the shortened journal is a valid signed journal: nothing inside it says more
    # entries ever existed. That is why heads are published (docs/ledger.md).
    alone = audit(ledger_url)
    assert alone.ok, alone.problems
    report = audit(ledger_url, {seq: head_hash})
    assert kinds(report) == ["published_head_missing"]
    assert report.problems[0].where == f"journal entry {seq}"


# ---------------------------------------------------------------------- (c) a full rewrite


def rewrite(store: LedgerStore, target: LedgerStore, sign: Callable[[JournalEntry], bytes]) -> None:
    """The whole journal copied into ``target`` with the first deposit inflated tenfold and
    every entry after it chained again (signed by ``sign``, as the intruder can)."""
    previous = genesis_hash
    for entry in store.entries():
        body = entry.body
        records: list[TransferRecord] = []
        definitions: list[Definition] = []
        if entry.kind is EntryKind.transfers:
            header, records, expiries = decode_transfers(body)
            records = [r._replace(amount=r.amount * 10) if r.id == 10 else r for r in records]
            body = encode_transfers(header.seq, header.timestamp, records, expiries)
        elif entry.kind in ledger_definition_kinds:
            definitions = decode_definitions(body)[1]
        sealed = seal(entry.seq, entry.kind, entry.timestamp, body, previous)
        target.append(_signed(sealed, sign(sealed)), records, definitions)
        previous = sealed.hash


@pytest.mark.parametrize("signing", ["old signatures kept", "unsigned", "intruder's key"])
def test_a_chain_rehashed_after_inflating_a_deposit_is_named(
    ledger_url: str, honest: tuple[int, bytes], fresh_url: Callable[[], str], signing: str
) -> None:
    intruder = MemorySigner(bytes(32))
    original = bootstrap.open_store(ledger_url)
    old = {entry.seq: entry.signature for entry in original.entries()}
    signers: dict[str, Callable[[JournalEntry], bytes]] = {
        "old signatures kept": lambda entry: old[entry.seq],
        "unsigned": lambda entry: b"",
        "intruder's key": lambda entry: intruder.sign(head_message(entry.seq, entry.hash)),
    }
    url = fresh_url()
    target = bootstrap.open_store(url)
    try:
        rewrite(original, target, signers[signing])
    finally:
        original.close()
        target.close()
    report = audit(url)
    if signing == "old signatures kept":
        assert kinds(report) == ["journal_signature_invalid"]
        assert report.problems[0].where == "journal entry 6"  # the inflated deposit
        assert "later entries too" in report.problems[0].detail
    elif signing == "unsigned":
        # Even the key's declaration is unsigned, so no key vouches for anything.
        assert kinds(report) == ["journal_entry_unsigned", "journal_unsigned"]
    else:
        assert "journal_signature_invalid" in kinds(report)
    assert not report.ok
    # Whatever the intruder did, the head the firm published is gone.
    assert "published_head_mismatch" in kinds(audit(url, {honest[0]: honest[1]}))


def test_a_chain_rewritten_under_the_intruders_own_key_is_named_by_the_published_key(
    ledger_url: str, honest: tuple[int, bytes], fresh_url: Callable[[], str]
) -> None:
    """The intruder rebuilds the ledger from scratch with an engine and a key of their own,
    alice's deposit inflated: every signature checks, only the key is not the firm's."""
    url = fresh_url()
    forged = LedgerService(bootstrap.open_store(url), ManualClock(), MemorySigner(bytes(32)))
    forged.define_assets([Asset("BTC", 8, 1, "bitcoin")])
    forged.define_clients(["alice", "bob"])
    forged.define_pools([Pool("omni", PoolKind.omnibus, Terms.custody)])
    forged.define_accounts(
        [
            AccountDefinition(hot, "BTC", AccountClass.custody, "omni-hot", "hot", "omni"),
            AccountDefinition(alice, "BTC", AccountClass.client, "alice", "available", "omni"),
        ]
    )
    assert forged.submit([Transfer(10, hot, alice, 50_000, TransferCode.deposit)]) == [Result.ok]
    forged.close()
    assert kinds(audit(url)) == ["journal_key_not_trusted"]
    store = bootstrap.open_store(url)
    try:
        assert verify_store(store).ok  # consistent in itself: only the published key tells
    finally:
        store.close()


# ---------------------------------------------------------------------- keys


def test_a_writer_with_another_key_is_refused_before_it_writes(
    ledger_url: str, honest: tuple[int, bytes]
) -> None:
    service = LedgerService(bootstrap.open_store(ledger_url), ManualClock(), MemorySigner())
    with pytest.raises(InputError) as raised:
        service.define_clients(["mallory"])
    assert raised.value.code is Result.journal_key_missing
    service.store.close()
    service = LedgerService(
        bootstrap.open_store(ledger_url), ManualClock(), MemorySigner(bytes(32))
    )
    with pytest.raises(InputError) as raised:
        service.submit([Transfer(50, hot, alice, 1, TransferCode.deposit)])
    assert raised.value.code is Result.journal_key_mismatch
    assert service.seq == honest[0]
    service.store.close()
    assert audit(ledger_url, {honest[0]: honest[1]}).ok


def test_a_rotated_key_signs_what_follows_and_both_are_trusted(
    ledger_url: str, honest: tuple[int, bytes]
) -> None:
    service = open_signed(ledger_url)
    successor = MemorySigner(bytes(range(32, 64)))
    new_key = service.rotate_journal_key(successor)
    assert service.submit([Transfer(60, hot, bob, 7, TransferCode.deposit)]) == [Result.ok]
    service.close()
    store = bootstrap.open_store(ledger_url)
    try:
        for trusted in ([journal_public_key], [new_key]):
            report = verify_store(store, trusted_keys=trusted)
            assert report.ok, report.problems
        assert [seq for seq, _ in report.journal_keys] == [1, honest[0] + 1]
    finally:
        store.close()
    # The old key no longer writes; the new one does.
    stale = open_signed(ledger_url)
    with pytest.raises(InputError, match="journal_key_mismatch"):
        stale.define_clients(["carol"])
    stale.close()
    rotated = LedgerService(bootstrap.open_store(ledger_url), ManualClock(), successor)
    assert rotated.define_clients(["carol"]) == [Result.ok]
    rotated.close()


def test_a_forged_rotation_to_the_intruders_key_is_named(
    ledger_url: str, honest: tuple[int, bytes], store_of: LedgerStore
) -> None:
    """Without the old key the intruder can write a key entry, but cannot sign it."""
    from ringfence.core.ledger.authenticity import encode_journal_key, key_possession_message

    intruder = MemorySigner(bytes(32))
    public_key = intruder.public_key()
    assert public_key is not None
    seq, head = store_of.head()
    possession = intruder.sign(key_possession_message(seq + 1, head, public_key))
    body = encode_journal_key(seq + 1, 0, public_key, possession)
    entry = seal(seq + 1, EntryKind.journal_keys, 0, body, head)
    store_of.append(_signed(entry, intruder.sign(head_message(entry.seq, entry.hash))))
    forge_append(store_of, [Transfer(99, alice, hot, 4_100, TransferCode.withdrawal)],
                 b"")  # fmt: skip
    report = audit(ledger_url)
    assert kinds(report)[0] == "journal_signature_invalid"
    assert report.problems[0].where == f"journal entry {seq + 1}"


def test_published_heads_come_from_text_and_from_signed_rounds() -> None:
    head = "7:" + "ab" * 32
    assert published_heads([head], []) == {7: bytes.fromhex("ab" * 32)}
    for bad in ("7", "x:" + "ab" * 32, "7:" + "ab" * 31, "0:" + "ab" * 32, "7:" + "zz" * 32):
        with pytest.raises(InputError) as raised:
            published_heads([bad], [])
        assert raised.value.code is Result.published_head_invalid
    with pytest.raises(InputError, match="published_head_invalid"):
        published_heads([head, "7:" + "cd" * 32], [])
    with pytest.raises(InputError, match="published_head_invalid"):
        published_heads([], [b'{"v": "ringfence-por-round/2"}'])
    with pytest.raises(InputError, match="published_head_invalid"):
        published_heads([], [b"not json"])


def test_copying_a_ledger_without_its_key_file_still_reads(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    service = bootstrap.open_ledger(url, ManualClock())
    assert service.define_clients(["alice"]) == [Result.ok]
    service.close()
    assert (tmp_path / "a.db.journal-key").is_file()
    shutil.copy(tmp_path / "a.db", tmp_path / "b.db")
    copy = bootstrap.open_ledger(f"sqlite:///{tmp_path / 'b.db'}", ManualClock())
    assert [c for c in copy.ledger.clients] == ["alice"]  # reading needs no key
    with pytest.raises(InputError, match="journal_key_missing"):
        copy.define_clients(["bob"])
    copy.close()


def test_a_key_file_is_made_once_and_a_malformed_one_is_named(tmp_path: Path) -> None:
    path = tmp_path / "journal.key"
    signer = KeyFileSigner(path)
    assert signer.public_key() is None
    public_key = signer.create()
    assert KeyFileSigner(path).public_key() == public_key  # read back from the file
    with pytest.raises(InputError) as raised:
        KeyFileSigner(path).create()  # never replaced
    assert raised.value.code is Result.journal_key_exists
    for text in ("", "zz" * 32, "ab" * 31, "AB" * 32):
        path.write_text(text)
        with pytest.raises(InputError) as raised:
            KeyFileSigner(path).sign(b"message")
        assert raised.value.code is Result.journal_key_invalid
    with pytest.raises(InputError) as raised:
        KeyFileSigner(tmp_path / "absent.key").sign(b"message")
    assert raised.value.code is Result.journal_key_missing
