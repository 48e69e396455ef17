"""The chain transaction behind a client's statement lines: a deposit detected in a UTXO
snapshot shows its txid, durably (journaled beside the transfer, replayed and audited); a
withdrawal shows the txid it was broadcast with on its hold and its post; and a client never
sees another client's."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tempfile
from dataclasses import replace
from pathlib import Path

from bip_utils import Bip84, Bip84Coins
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support import build_custodian, journal_signer
from tests.support_policy import ALICE_ADDRESS
from tests.support_withdrawals import RecordingChain, World, actor, withdrawal_world

from ringfence.adapters.chains.utxo_snapshot import UtxoSnapshotSource
from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.core.custody.registry import Chain, Scheme, Wallet
from ringfence.core.errors import Result
from ringfence.core.ledger.journal import EntryKind
from ringfence.core.ledger.metadata import encode_metadata
from ringfence.core.recon.history import ClientStatement
from ringfence.entrypoints.pages.client_statement import render_client_statement
from ringfence.entrypoints.pages.portal.views import statement_view
from ringfence.entrypoints.pages.rendering import page_environment
from ringfence.service import withdrawals
from ringfence.service.audit import verify_store
from ringfence.service.csv_cells import csv_text
from ringfence.service.custody import CustodyService
from ringfence.service.ledger import LedgerService
from ringfence.service.policy import books
from ringfence.service.ports import LedgerStore
from ringfence.service.recon import ReconService
from ringfence.service.recon_documents import (
    client_statement_csv_columns,
    client_statement_document,
    client_statement_rows,
)

_day_ns = 86_400 * 10**9


def _zpub() -> str:
    seed = bytes([7]) * 64
    account = Bip84.FromSeed(seed, Bip84Coins.BITCOIN).Purpose().Coin().Account(0)
    return str(account.PublicKey().ToExtended())


_ZPUB = _zpub()


def _txid(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _snapshot(path: Path, outputs: list[tuple[str, str, int, int]]) -> Path:
    """A snapshot file at height 900 with ``outputs`` (address, txid, vout, sats)."""
    lines = [
        "# ringfence utxo snapshot v1",
        "# chain: bitcoin",
        "# network: mainnet",
        "# height: 900",
        f"# block_hash: {'00' * 32}",
        "address,txid,vout,amount,height",
        *(f"{a},{t},{v},{sats},890" for a, t, v, sats in outputs),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _custody(store: LedgerStore) -> CustodyService:
    custody = CustodyService(LedgerService(store, ManualClock(10**18), journal_signer()))
    build_custodian(custody.ledger)
    wallet = Wallet("omni-btc", Chain.bitcoin, Scheme.bip84, (_ZPUB,), "main", "hot")
    assert custody.change([wallet]) == [Result.ok]
    assert custody.assign_derived("omni-btc", 0, 1, client="alice") == [Result.ok]
    assert custody.assign_derived("omni-btc", 1, 1, client="bob") == [Result.ok]
    return custody


def _address_of(custody: CustodyService, client: str) -> str:
    return next(a.address for a in custody.addresses_of("omni-btc") if a.client == client)


def _statement(custody: CustodyService, client: str) -> ClientStatement:
    now = custody.ledger.clock.now_ns()
    # The ledger stamps events strictly after one another, past a clock that stands still.
    return ReconService(custody).client_statement(client, now - _day_ns, now + _day_ns)


def _txids(statement: ClientStatement) -> set[tuple[str, str]]:
    return {(m.chain, m.txid) for e in statement.assets for m in e.movements if m.txid}


def test_a_deposit_from_a_snapshot_shows_its_txid_durably(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "books.db")
    custody = _custody(store)
    alice, bob = _address_of(custody, "alice"), _address_of(custody, "bob")
    outputs = [(alice, _txid("a"), 1, 150_000), (bob, _txid("b"), 0, 70_000)]
    source = UtxoSnapshotSource([_snapshot(tmp_path / "utxo.csv", outputs)], "mainnet")
    assert len(custody.scan_deposits(source).posted) == 2
    entries = len(list(store.entries(kinds=(EntryKind.deposit_sources,))))
    assert entries == 1
    # A second scan finds both posted and their sources known: nothing more is journaled.
    assert len(custody.scan_deposits(source).already_posted) == 2
    assert len(list(store.entries(kinds=(EntryKind.deposit_sources,)))) == entries

    reopened = CustodyService(custody.ledger)  # replayed from the journal
    statement = _statement(reopened, "alice")
    assert _txids(statement) == {("bitcoin", _txid("a"))}
    assert _txids(_statement(reopened, "bob")) == {("bitcoin", _txid("b"))}

    assets = custody.ledger.ledger.assets
    document = client_statement_document(statement, assets)
    (moved,) = document["assets"][0]["movements"]
    assert (moved["chain"], moved["txid"], moved["amount"]) == ("bitcoin", _txid("a"), "0.00150000")
    rows = [dict(zip(client_statement_csv_columns, r, strict=True))
            for r in client_statement_rows(statement, assets)]  # fmt: skip
    assert [r["txid"] for r in rows] == ["", _txid("a"), ""]  # opening, the deposit, closing
    assert verify_store(store).ok  # the new entries replay in the audit
    store.close()


def test_a_deposit_credited_before_its_source_was_recorded_gets_it_on_the_next_scan(
    tmp_path: Path,
) -> None:
    custody = _custody(MemoryStore())
    alice = _address_of(custody, "alice")
    source = UtxoSnapshotSource(
        [_snapshot(tmp_path / "utxo.csv", [(alice, _txid("old"), 0, 5_000)])], "mainnet"
    )
    inflows, _ = source.inflows([alice], 0)
    (planned,) = custody.plan(inflows).deposits
    # Credited as an older version did: the transfer alone, with no metadata and nothing
    # beside it; the next scan finds it posted all the same.
    older = replace(custody._transfer_for(planned), metadata={})
    assert custody.ledger.submit([older]) == [Result.ok]
    assert _txids(_statement(custody, "alice")) == set()
    assert len(custody.scan_deposits(source).already_posted) == 1
    assert _txids(_statement(custody, "alice")) == {("bitcoin", _txid("old"))}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(owners=st.lists(st.sampled_from(["alice", "bob"]), min_size=1, max_size=6))
def test_a_client_sees_the_txids_of_their_own_deposits_and_no_one_elses(
    owners: list[str],
) -> None:
    custody = _custody(MemoryStore())
    addresses = {client: _address_of(custody, client) for client in ("alice", "bob")}
    outputs = [(addresses[o], _txid(f"{n}"), n % 3, 1_000 + n) for n, o in enumerate(owners)]
    with tempfile.TemporaryDirectory() as folder:
        source = UtxoSnapshotSource([_snapshot(Path(folder) / "utxo.csv", outputs)], "mainnet")
    custody.scan_deposits(source)
    for client in ("alice", "bob"):
        expected = {("bitcoin", _txid(f"{n}")) for n, o in enumerate(owners) if o == client}
        assert _txids(_statement(custody, client)) == expected


def test_a_withdrawal_shows_the_txid_it_was_broadcast_with(
    sqlite_service: LedgerService, clock: ManualClock
) -> None:
    world: World = withdrawal_world(sqlite_service, clock)
    request = {"id": "7", "pool": "main", "asset": "ETH", "amount": "1.5",
               "destination": ALICE_ADDRESS}  # fmt: skip
    assert withdrawals.request(world.ledger, actor("alice"), request)["status"] == "held"
    withdrawals.process(world.ledger, actor("ops"), RecordingChain())
    paid = books(world.ledger).withdrawals.withdrawals[7]
    assert paid.txid and paid.post_id
    custody = CustodyService(world.ledger)
    statement = _statement(custody, "alice")
    shown = [m for e in statement.assets for m in e.movements if m.transfer_id == paid.post_id]
    assert [(m.chain, m.txid, m.amount) for m in shown] == [("ethereum", paid.txid, -15 * 10**17)]
    assert paid.txid not in {txid for _, txid in _txids(_statement(custody, "bob"))}


def test_pages_show_the_txid_shortened_whole_on_hover_and_link_free(tmp_path: Path) -> None:
    custody = _custody(MemoryStore())
    alice = _address_of(custody, "alice")
    outputs = [(alice, _txid("page"), 0, 9_000)]
    custody.scan_deposits(UtxoSnapshotSource([_snapshot(tmp_path / "u.csv", outputs)], "mainnet"))
    document = client_statement_document(_statement(custody, "alice"), custody.ledger.ledger.assets)
    txid = _txid("page")
    who = {"name": "alice", "role": "client", "client": "alice", "staff": False, "form_token": ""}
    view = statement_view(document, "2001-09-08", "2001-09-09")
    portal = page_environment().get_template("portal/statement.html")
    for page in (
        portal.render(who=who, view=view, client="alice", current=""),
        render_client_statement(document),
    ):
        cell = page[page.index(f'title="{txid}"') - 30 :]
        cell = cell[: cell.index("</code>")]
        assert cell.endswith(f"{txid[:10]}…{txid[-8:]}") and "<code" in cell
        assert "<a " not in page[page.index("Chain transaction") :]


def test_a_scanned_deposit_carries_its_place_on_chain_as_metadata_onto_the_statement(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "books.db")
    custody = _custody(store)
    alice = _address_of(custody, "alice")
    outputs = [(alice, _txid("meta"), 3, 42_000)]
    source = UtxoSnapshotSource([_snapshot(tmp_path / "utxo.csv", outputs)], "mainnet")
    (posted,) = custody.scan_deposits(source).posted
    expected = {"chain": "bitcoin", "txid": _txid("meta"), "vout": "3"}
    assert store.transfer_metadata([posted.transfer_id]) == {
        posted.transfer_id: encode_metadata(expected)
    }
    found = store.transfers_with_metadata({"txid": _txid("meta")})
    assert [record.id for record in found] == [posted.transfer_id]

    statement = _statement(custody, "alice")
    (movement,) = statement.assets[0].movements
    assert movement.metadata == expected
    assets = custody.ledger.ledger.assets
    (moved,) = client_statement_document(statement, assets)["assets"][0]["movements"]
    assert moved["metadata"] == expected
    rows = [dict(zip(client_statement_csv_columns, r, strict=True))
            for r in client_statement_rows(statement, assets)]  # fmt: skip
    assert rows[1]["metadata"] == f'chain="bitcoin" txid="{_txid("meta")}" vout="3"'
    page = render_client_statement(client_statement_document(statement, assets))
    assert "vout: 3" in page
    assert verify_store(store).ok
    store.close()


def test_a_transfer_s_txid_in_its_metadata_shows_on_the_statement_without_a_source() -> None:
    service = LedgerService(MemoryStore(), ManualClock(10**18), journal_signer())
    c = build_custodian(service)
    booked = replace(c.deposit(7, "alice", 900), metadata={"txid": _txid("wire"), "memo": "ref 9"})
    assert service.submit([booked]) == [Result.ok]
    custody = CustodyService(service)
    (movement,) = _statement(custody, "alice").assets[0].movements
    assert (movement.chain, movement.txid) == ("", _txid("wire"))
    assert movement.metadata == {"memo": "ref 9", "txid": _txid("wire")}
    assert _statement(custody, "bob").assets == []


def test_a_client_written_txid_is_not_shown_as_a_chain_transaction() -> None:
    # Anyone who submits a transfer writes its metadata; alice's internal transfer to bob names
    # a txid the firm never saw on chain. Bob's statement shows it as metadata, not as the
    # movement's chain transaction.
    service = LedgerService(MemoryStore(), ManualClock(10**18), journal_signer())
    c = build_custodian(service)
    assert service.submit([c.deposit(7, "alice", 900)]) == [Result.ok]
    forged = {"chain": "bitcoin", "txid": "ab" * 32}
    sent = replace(c.internal(8, "alice", "bob", 100), metadata=forged)
    assert service.submit([sent]) == [Result.ok]
    (movement,) = _statement(CustodyService(service), "bob").assets[0].movements
    assert movement.code == "internal_transfer"
    assert (movement.chain, movement.txid) == ("", "")
    assert movement.metadata == forged
    # A deposit the firm books carries its chain transaction as before.
    booked = replace(c.deposit(9, "bob", 5), metadata=forged)
    assert service.submit([booked]) == [Result.ok]
    deposit = _statement(CustodyService(service), "bob").assets[0].movements[-1]
    assert (deposit.code, deposit.chain, deposit.txid) == ("deposit", "bitcoin", "ab" * 32)


def test_a_formula_in_metadata_is_text_in_the_statement_csv() -> None:
    service = LedgerService(MemoryStore(), ManualClock(10**18), journal_signer())
    c = build_custodian(service)
    formula = '=HYPERLINK("https://evil.example/?x","refund status")'
    deposit = replace(c.deposit(7, "alice", 900), metadata={"txid": formula})
    memo = replace(c.internal(8, "alice", "bob", 100), metadata={"memo": "a b=c", "ref": "@x"})
    assert service.submit([deposit, memo]) == [Result.ok, Result.ok]
    statement = _statement(CustodyService(service), "alice")
    rows = client_statement_rows(statement, service.ledger.assets)
    read = list(csv.DictReader(io.StringIO(csv_text(client_statement_csv_columns, rows))))
    assert read[1]["txid"] == "'" + formula
    assert read[1]["metadata"] == "txid=" + json.dumps(formula)
    # Each value quoted: the memo's "b=c" is no pair of its own.
    assert read[2]["metadata"] == 'memo="a b=c" ref="@x"'
    assert read[2]["amount"].startswith("-")  # a signed amount stays a number
    assert all(not cell.startswith(("=", "+", "@")) for row in read for cell in row.values())
