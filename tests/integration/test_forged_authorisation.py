"""A forger with write access to the database, and no client's or admin's key, cannot make an
internal transfer that ``audit verify`` accepts.

The forger works on a copy of a small closed SQLite ledger with plain SQL and this project's
own encoders (the source is public): it appends well-formed, correctly chained entries (the
database's head trigger accepts them), or edits an entry and recomputes every later hash and
projection row, so that the hash chain alone shows nothing. What gives each forgery away is the
evidence: a signature that does not verify with the key the journal held at that point, a key
revoked or not yet registered, a principal acting for another client, a principal that no admin
endorsed. The audit names each one as ``authorisation_invalid`` at the forged entry.

The ledger: alice, bob, carol and dave in one omnibus pool; an admin ``root`` and principals for
alice, bob and carol (dave has none). Entry 8 holds alice paying bob 700 (transfer 20) and bob
paying carol 300 (21); entry 9 revokes carol's key and rotates bob's; entry 10 holds bob paying
alice 100 with his new key (22). (Entry 1 declares the journal key; the forger holds none, so
each forgery is also named as an entry the journal key did not sign: docs/ledger.md.)
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from tests.support import ADMIN, journal_signer, key_seed, principal_changes, principal_for

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.core.errors import Result
from ringfence.core.ledger.journal import (
    EntryKind,
    decode_evidence,
    decode_header,
    decode_principals,
    decode_transfers,
    encode_principals,
    encode_transfers,
    seal,
)
from ringfence.core.ledger.model import (
    AccountClass,
    AccountDefinition,
    Authorisation,
    Pool,
    PoolKind,
    Terms,
    Transfer,
    TransferCode,
    TransferRecord,
)
from ringfence.core.money import Asset
from ringfence.core.principals.authorisation import instruction_message, public_key_of, sign
from ringfence.core.principals.records import (
    Endorsement,
    Principal,
    PrincipalChange,
    PrincipalRole,
    PrincipalStatus,
    endorsement_message,
)
from ringfence.service.audit import AuditReport, verify_store
from ringfence.service.ledger import LedgerService

hot, house, alice, bob, carol, dave = 1, 2, 3, 4, 5, 6
SECOND = 10**9
_internal = TransferCode.internal_transfer


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("forgery") / "ledger.db"
    service = LedgerService(SqliteStore(str(path)), ManualClock(), journal_signer())
    service.define_assets([Asset("BTC", 8, 1, "bitcoin")])
    service.define_clients(["alice", "bob", "carol", "dave"])
    service.define_pools([Pool("omni", PoolKind.omnibus, Terms.custody)])
    service.define_accounts(
        [
            AccountDefinition(hot, "BTC", AccountClass.custody, "omni-hot", "hot", "omni"),
            AccountDefinition(house, "BTC", AccountClass.custody, "house-hot", "hot"),
            *(
                AccountDefinition(number, "BTC", AccountClass.client, name, "available", "omni")
                for number, name in ((alice, "alice"), (bob, "bob"), (carol, "carol"),
                                     (dave, "dave"))
            ),
        ]
    )  # fmt: skip
    changes = principal_changes(service.ledger_id, ["alice", "bob", "carol"])
    assert service.change_principals(changes) == [Result.ok] * 4
    deposits = [Transfer(10 + i, hot, a, 5_000, TransferCode.deposit) for i, a in enumerate(
        (alice, bob, carol))]  # fmt: skip
    assert service.submit(deposits) == [Result.ok] * 3
    payments = [
        service.authorise(Transfer(20, alice, bob, 700, _internal, authorised_by="alice"),
                          key_seed("alice")),
        service.authorise(Transfer(21, bob, carol, 300, _internal, authorised_by="bob"),
                          key_seed("bob")),
    ]  # fmt: skip
    assert service.submit(payments) == [Result.ok] * 2
    carol_principal = principal_for("carol")
    revoked = replace(carol_principal, status=PrincipalStatus.revoked)
    rotated = replace(principal_for("bob"), public_key=public_key_of(key_seed("bob-2")))
    changes = [service.endorse(p, ADMIN, key_seed(ADMIN)) for p in (revoked, rotated)]
    assert service.change_principals(changes) == [Result.ok] * 2
    late = Transfer(22, bob, alice, 100, _internal, authorised_by="bob")
    assert service.submit([service.authorise(late, key_seed("bob-2"))]) == [Result.ok]
    service.close()
    return path


# ---------------------------------------------------------------------- the forger's tools


class Forger:
    """Plain SQL on a copy of the file, and the project's own encoders."""

    def __init__(self, pristine: Path, tmp_path: Path) -> None:
        self.path = tmp_path / "forged.db"
        shutil.copy(pristine, self.path)
        self.db = sqlite3.connect(self.path, isolation_level=None)
        first = self.db.execute("SELECT hash FROM journal WHERE seq = 1").fetchone()
        self.ledger_id: bytes = first[0]
        self.numbers = {"root": 1, "alice": 2, "bob": 3, "carol": 4}

    def head(self) -> tuple[int, bytes, int]:
        seq, head_hash, timestamp = self.db.execute(
            "SELECT seq, hash, timestamp FROM journal ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return seq, head_hash, timestamp

    def body(self, seq: int) -> bytes:
        row = self.db.execute("SELECT body FROM journal WHERE seq = ?", (seq,)).fetchone()
        return bytes(row[0])

    def append(self, kind: EntryKind, encode: Callable[[int, int], bytes]) -> int:
        """A well-formed entry after the head, chained: the database's triggers accept it and
        cut its transfer rows, as they would for the ledger's own."""
        seq, head_hash, timestamp = self.head()
        entry = seal(seq + 1, kind, timestamp + SECOND, encode(seq + 1, timestamp + SECOND),
                     head_hash)  # fmt: skip
        records = decode_header(entry.body).records if kind is EntryKind.transfers else 0
        self.db.execute(
            "INSERT INTO journal (seq, kind, timestamp, body, previous_hash, hash, records) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (entry.seq, int(kind), entry.timestamp, entry.body, entry.previous_hash, entry.hash,
             records),
        )  # fmt: skip
        return entry.seq

    def append_transfers(
        self, records: list[TransferRecord], evidence: list[Authorisation]
    ) -> int:
        def encode(seq: int, timestamp: int) -> bytes:
            stamped = [r._replace(timestamp=timestamp + i) for i, r in enumerate(records)]
            return encode_transfers(seq, timestamp, stamped, [], evidence)

        return self.append(EntryKind.transfers, encode)

    def rewrite(self, seq: int, body: bytes) -> None:
        """Replace entry ``seq``'s body and recompute every later hash and transfer row, so
        that the chain and the projection agree with the forged journal."""
        for trigger in ("journal_no_delete", "transfers_no_delete"):
            self.db.execute(f"DROP TRIGGER {trigger}")
        rows = self.db.execute(
            "SELECT seq, kind, timestamp, body, records, signature FROM journal WHERE seq >= ? "
            "ORDER BY seq",
            (seq,),
        ).fetchall()
        previous = self.db.execute(
            "SELECT hash FROM journal WHERE seq = ?", (seq - 1,)
        ).fetchone()[0]
        self.db.execute("DELETE FROM transfers WHERE seq >= ?", (seq,))
        self.db.execute("DELETE FROM journal WHERE seq >= ?", (seq,))
        for number, kind, timestamp, old_body, records, signature in rows:
            new_body = body if number == seq else old_body
            entry = seal(number, EntryKind(kind), timestamp, new_body, previous)
            self.db.execute(  # the old signatures kept: the forger can make no others
                "INSERT INTO journal VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (number, kind, timestamp, new_body, previous, entry.hash, records, signature),
            )
            previous = entry.hash

    def instruction(self, record: TransferRecord, principal: str) -> bytes:
        return instruction_message(
            self.ledger_id,
            principal=principal,
            transfer_id=record.id,
            debit_account=record.debit_account,
            credit_account=record.credit_account,
            amount=record.amount,
            pending_id=record.pending_id,
            reference=record.reference,
            timeout_s=record.timeout_s,
            asset=record.asset,
            code=record.code,
            flags=record.flags,
        )

    def audit(self) -> AuditReport:
        self.db.close()
        store = SqliteStore(str(self.path))
        try:
            return verify_store(store)
        finally:
            store.close()


def payment(
    transfer_id: int, debit: int, credit: int, amount: int, authoriser: int
) -> TransferRecord:
    return TransferRecord(transfer_id, debit, credit, amount, 0, 0, 0, authoriser, 0, 1, 4, 0)


def named(report: AuditReport, seq: int, *fragments: str) -> None:
    """The audit names the forged entry by its evidence (the only problem of that kind), and
    by its journal signature: the forger holds no journal key either."""
    evidence = [p for p in report.problems if p.kind == "authorisation_invalid"]
    assert len(evidence) == 1, report.problems
    unsigned = [p for p in report.problems if p.kind != "authorisation_invalid"]
    assert {p.kind for p in unsigned} <= {"journal_entry_unsigned", "journal_signature_invalid"}
    assert [p.where for p in unsigned] == [f"journal entry {seq}"], report.problems
    problem = evidence[0]
    assert problem.where == f"journal entry {seq}"
    for fragment in fragments:
        assert fragment in problem.detail, problem.detail


@pytest.fixture
def forger(pristine: Path, tmp_path: Path) -> Forger:
    return Forger(pristine, tmp_path)


# ---------------------------------------------------------------------- appended transfers


def test_the_untouched_ledger_verifies(forger: Forger) -> None:
    report = forger.audit()
    assert report.ok, report.problems
    assert report.transfers == 6


def test_an_appended_transfer_with_no_evidence_is_named(forger: Forger) -> None:
    seq = forger.append_transfers([payment(30, bob, dave, 2_000, forger.numbers["bob"])], [])
    named(forger.audit(), seq, "transfer 30 names authoriser 3 but its evidence names 0")


def test_an_appended_transfer_that_names_no_authoriser_is_named(forger: Forger) -> None:
    seq = forger.append_transfers([payment(30, bob, dave, 2_000, 0)], [])
    named(forger.audit(), seq, "transfer 30 replays as authorisation_required")


def test_a_made_up_signature_is_named(forger: Forger) -> None:
    made_up = hashlib.sha512(b"looks like a signature").digest()
    evidence = [Authorisation(0, forger.numbers["bob"], made_up)]
    seq = forger.append_transfers([payment(30, bob, dave, 2_000, 3)], evidence)
    named(forger.audit(), seq, "transfer 30 replays as authorisation_signature_invalid")


def test_a_signature_copied_from_another_transfer_is_named(forger: Forger) -> None:
    """Bob's real signature of transfer 21 (300 to carol), replayed onto a new id and a larger
    amount to dave, and onto the same id's amount: neither verifies."""
    header = decode_header(forger.body(8))
    bobs = decode_evidence(forger.body(8), header)[1]
    assert bobs.principal == forger.numbers["bob"]
    evidence = [Authorisation(0, bobs.principal, bobs.signature)]
    seq = forger.append_transfers([payment(31, bob, dave, 3_000, bobs.principal)], evidence)
    named(forger.audit(), seq, "transfer 31 replays as authorisation_signature_invalid")


def test_alices_signature_does_not_move_bobs_money(forger: Forger) -> None:
    # A genuine signature by alice (say she was tricked into signing it) of a payment out of
    # bob's account: alice's principal does not act for bob.
    record = payment(32, bob, alice, 2_000, forger.numbers["alice"])
    signature = sign(key_seed("alice"), forger.instruction(record, "alice"))
    evidence = [Authorisation(0, forger.numbers["alice"], signature)]
    seq = forger.append_transfers([record], evidence)
    named(forger.audit(), seq, "transfer 32 replays as authorisation_not_by_debit_client")


def test_alices_signature_in_bobs_name_is_named(forger: Forger) -> None:
    record = payment(33, bob, alice, 2_000, forger.numbers["bob"])
    signature = sign(key_seed("alice"), forger.instruction(record, "bob"))
    evidence = [Authorisation(0, forger.numbers["bob"], signature)]
    seq = forger.append_transfers([record], evidence)
    named(forger.audit(), seq, "transfer 33 replays as authorisation_signature_invalid")


def test_a_revoked_key_is_named(forger: Forger) -> None:
    """Carol's key, revoked at entry 9 (say it was stolen), signs a valid instruction later."""
    record = payment(34, carol, dave, 1_000, forger.numbers["carol"])
    signature = sign(key_seed("carol"), forger.instruction(record, "carol"))
    evidence = [Authorisation(0, forger.numbers["carol"], signature)]
    seq = forger.append_transfers([record], evidence)
    named(forger.audit(), seq, "transfer 34 replays as authoriser_revoked")


def test_bobs_key_after_its_rotation_is_named(forger: Forger) -> None:
    record = payment(35, bob, dave, 1_000, forger.numbers["bob"])
    signature = sign(key_seed("bob"), forger.instruction(record, "bob"))
    evidence = [Authorisation(0, forger.numbers["bob"], signature)]
    seq = forger.append_transfers([record], evidence)
    named(forger.audit(), seq, "transfer 35 replays as authorisation_signature_invalid")


def test_a_principal_nobody_registered_is_named(forger: Forger) -> None:
    record = payment(36, dave, alice, 1, 77)
    evidence = [Authorisation(0, 77, bytes(64))]
    seq = forger.append_transfers([record], evidence)
    named(forger.audit(), seq, "principal 77, which the journal has not registered")


# ---------------------------------------------------------------------- edited history


def test_an_edited_amount_with_the_chain_recomputed_is_named(forger: Forger) -> None:
    """Alice's 700 to bob becomes 4,700: the hashes and rows are made consistent again, so
    only alice's signature gives the edit away."""
    header, records, expiries = decode_transfers(forger.body(8))
    evidence = decode_evidence(forger.body(8), header)
    records[0] = records[0]._replace(amount=4_700)
    forger.rewrite(8, encode_transfers(8, header.timestamp, records, expiries, evidence))
    named(forger.audit(), 8, "transfer 20 replays as authorisation_signature_invalid")


def test_a_key_registered_after_the_transfer_is_named(forger: Forger) -> None:
    """Transfer 21 re-signed, in place, with bob's second key: that key entered the journal
    only at entry 9, after it, so at entry 8 it is not bob's key."""
    header, records, expiries = decode_transfers(forger.body(8))
    evidence = decode_evidence(forger.body(8), header)
    signature = sign(key_seed("bob-2"), forger.instruction(records[1], "bob"))
    evidence[1] = evidence[1]._replace(signature=signature)
    forger.rewrite(8, encode_transfers(8, header.timestamp, records, expiries, evidence))
    named(forger.audit(), 8, "transfer 21 replays as authorisation_signature_invalid")


def test_evidence_stripped_from_history_is_named(forger: Forger) -> None:
    header, records, expiries = decode_transfers(forger.body(8))
    forger.rewrite(8, encode_transfers(8, header.timestamp, records, expiries, []))
    named(forger.audit(), 8, "transfer 20 names authoriser 2 but its evidence names 0")


# ---------------------------------------------------------------------- forged principals


def forged_bob() -> Principal:
    """Bob's principal with the forger's own key: what it takes to sign for bob."""
    return Principal("bob", PrincipalRole.client, public_key_of(key_seed("forger")), "bob")


@pytest.mark.parametrize(
    ("endorsement", "fragment"),
    [
        (None, "replays as endorsement_required"),
        ("made_up", "replays as endorsement_signature_invalid"),
        ("copied", "replays as endorsement_signature_invalid"),
        ("self", "replays as endorsement_signature_invalid"),
    ],
)
def test_a_key_the_forger_registers_is_named(
    forger: Forger, endorsement: str | None, fragment: str
) -> None:
    """The forger gives bob a key of its own, then signs for bob with it: the registration
    lacks an admin's endorsement (none, made up, root's endorsement of bob's first record
    copied, or the forger's key signing in root's name), so the audit stops there."""
    record = forged_bob()
    evidence: list[Authorisation] = []
    if endorsement == "made_up":
        evidence = [Authorisation(0, 1, hashlib.sha512(b"root").digest())]
    elif endorsement == "copied":
        original = decode_principals(forger.body(6))[2]
        evidence = [Authorisation(0, 1, original[1].signature)]  # root's, for bob's first key
    elif endorsement == "self":
        message = endorsement_message(forger.ledger_id, ADMIN, record)
        evidence = [Authorisation(0, 1, sign(key_seed("forger"), message))]
    seq = forger.append(
        EntryKind.principals,
        lambda seq, timestamp: encode_principals(seq, timestamp, [(3, record)], evidence),
    )
    transfer = payment(37, bob, dave, 4_000, forger.numbers["bob"])
    signature = sign(key_seed("forger"), forger.instruction(transfer, "bob"))
    forger.append_transfers([transfer], [Authorisation(0, 3, signature)])
    named(forger.audit(), seq, f"principal bob {fragment}")


def test_the_engine_refuses_the_same_forgeries_at_the_door(tmp_path: Path) -> None:
    """Through the service, nothing of the above commits in the first place."""
    service = LedgerService(SqliteStore(str(tmp_path / "door.db")), ManualClock(), journal_signer())
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
    assert all(r is Result.ok for r in service.change_principals(
        principal_changes(service.ledger_id, ["alice", "bob"])))  # fmt: skip
    assert service.submit([Transfer(1, hot, bob, 5_000, TransferCode.deposit)]) == [Result.ok]
    drain = Transfer(2, bob, alice, 5_000, _internal, authorised_by="bob")
    forged = PrincipalChange(forged_bob(), Endorsement(ADMIN, bytes(64)))
    assert service.change_principals([forged]) == [Result.endorsement_signature_invalid]
    attempts = {
        Result.authorisation_signature_required: drain,
        Result.authorisation_signature_invalid: service.authorise(drain, key_seed("forger")),
        Result.authorisation_not_by_debit_client: service.authorise(
            replace(drain, authorised_by="alice"), key_seed("alice")
        ),
    }
    for code, attempt in attempts.items():
        assert service.submit([attempt]) == [code]
    assert service.balance(bob).balance == 5_000
    service.close()
