"""Paying held withdrawals through the real signing service (service/spends.py) over Bitcoin,
with a key in memory, a snapshot folder and an outbox: what happens when a pass is cut short
between the chain's step and its journal entry, and what a voided withdrawal's spend leaves
behind.

The world: ``main-hot`` is a P2WPKH wallet of pool ``main`` (regtest) holding alice's 0.5 BTC
deposit (one output in the snapshot) and 0.01 BTC of the house's residual interest; the
policy of tests/support_policy.py is in force (a withdrawal to an address not whitelisted
needs one of treasury).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import coincurve
import pytest
from tests.support import ADMIN, build_custodian, journal_signer, key_seed, principal_for
from tests.support_policy import policy_text
from tests.support_withdrawals import STAFF, actor, publish_policy

from ringfence.adapters.chains.bitcoin_outbox import OutboxBroadcaster
from ringfence.adapters.chains.utxo_snapshot import SnapshotFolder
from ringfence.adapters.clock import ManualClock
from ringfence.adapters.files.spends import MemorySpendStore
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core.custody.addresses import Network
from ringfence.core.custody.registry import Chain, Scheme, Wallet
from ringfence.core.custody.spends import SpendOrder, SpendScript, SpendState
from ringfence.core.errors import InputError, Result, StorageError
from ringfence.core.ledger.model import Transfer, TransferCode, TransferFlags
from ringfence.core.principals.records import endorse
from ringfence.service import withdrawals
from ringfence.service.custody import CustodyService
from ringfence.service.ledger import LedgerService
from ringfence.service.policy import books
from ringfence.service.spends import BitcoinChain, SpendService, WalletSigning

REGTEST = Network.regtest
SAT = 10**8
HOT_KEY = coincurve.PrivateKey(b"\x21" * 32)
OUTSIDER = SpendScript((coincurve.PrivateKey(b"\x22" * 32).public_key.format(),))
DEPOSIT_TXID = "d1" * 32


class MemoryKey:
    """A ``ChainKey`` held in memory (tests only): signs a digest, low S, and counts."""

    def __init__(self, key: coincurve.PrivateKey) -> None:
        self.key = key
        self.signed = 0

    def public_key(self, compressed: bool = True) -> bytes | None:
        return bytes(self.key.public_key.format(compressed=compressed))

    def sign_digest(self, digest: bytes) -> tuple[int, int]:
        self.signed += 1
        compact = self.key.sign_recoverable(digest, hasher=None)
        return int.from_bytes(compact[:32], "big"), int.from_bytes(compact[32:64], "big")


def snapshot(height: int, rows: list[tuple[str, str, int, int, int]]) -> bytes:
    block = hashlib.sha256(str(height).encode()).hexdigest()
    lines = [
        "# ringfence utxo snapshot v1", "# chain: bitcoin", "# network: regtest",
        f"# height: {height}", f"# block_hash: {block}", "address,txid,vout,amount,height",
        *(f"{a},{t},{v},{amount},{h}" for a, t, v, amount, h in rows),
    ]  # fmt: skip
    return ("\n".join(lines) + "\n").encode()


@dataclass
class Firm:
    ledger: LedgerService
    store: MemoryStore
    clock: ManualClock
    service: SpendService
    outbox: Path
    key: MemoryKey
    alice: int

    def available(self) -> int:
        state = self.ledger.ledger.accounts[self.alice]
        return state.credits_posted - state.debits_posted - state.debits_pending


@pytest.fixture
def firm(tmp_path: Path) -> Firm:
    clock = ManualClock()
    store = MemoryStore()
    ledger = LedgerService(store, clock, journal_signer())
    custodian = build_custodian(ledger)
    staff = [endorse(ledger.ledger_id, ADMIN, key_seed(ADMIN), principal_for(name, role))
             for name, role in STAFF.items()]  # fmt: skip
    assert all(result is Result.ok for result in ledger.change_principals(staff))
    script = SpendScript((HOT_KEY.public_key.format(),))
    address = script.address(REGTEST)
    wallet = Wallet("main-hot", Chain.bitcoin, Scheme.address, (address,), "main", "hot",
                    "regtest")  # fmt: skip
    custody = CustodyService(ledger)
    assert custody.change([wallet], custody_accounts=False) == [Result.ok]
    hot, alice = custodian.wallet("main", "BTC"), custodian.client("alice")
    deposit = Transfer(1, hot, alice, SAT // 2, TransferCode.deposit)
    booked = ledger.submit([deposit, custodian.fee(2, "alice", SAT // 100)])
    assert booked == [Result.ok] * 2, booked
    publish_policy(ledger, clock, policy_text())
    snapshots, outbox = tmp_path / "snapshots", tmp_path / "outbox"
    snapshots.mkdir()
    rows = [(address, DEPOSIT_TXID, 0, SAT // 2, 150)]
    (snapshots / "0200.csv").write_bytes(snapshot(200, rows))
    key = MemoryKey(HOT_KEY)
    service = SpendService(
        custody,
        MemorySpendStore(),
        {"main-hot": WalletSigning("main-hot", (key,), script)},
        bitcoin=BitcoinChain(
            SnapshotFolder(snapshots, REGTEST), OutboxBroadcaster(outbox), REGTEST, 5_000
        ),
    )
    return Firm(ledger, store, clock, service, outbox, key, alice)


def approved(firm: Firm, withdrawal_id: int, amount: str = "0.2") -> None:
    """Requested by ops, approved by ann: held."""
    body = {"id": str(withdrawal_id), "client": "alice", "pool": "main", "asset": "BTC",
            "amount": amount, "destination": OUTSIDER.address(REGTEST)}  # fmt: skip
    assert withdrawals.request(firm.ledger, actor("ops"), body)["status"] == "awaiting_approval"
    assert withdrawals.approve(firm.ledger, actor("ann"), withdrawal_id)["status"] == "held"


class InterruptedAfterBroadcast:
    """The signing service, but the moment a transaction is handed to the chain the store
    fails the next append: the lifecycle's own journal entry for the broadcast is lost, as
    when the connection drops at that moment (or the process dies there). A head conflict is
    no such loss: the step is made again on the caught-up books (service/withdrawal_ledger.py)."""

    def __init__(self, firm: Firm) -> None:
        self.firm = firm
        self.service = firm.service

    def __getattr__(self, name: str) -> object:
        return getattr(self.service, name)

    def broadcast(self, order: SpendOrder, spend_id: str) -> str:
        txid = self.service.broadcast(order, spend_id)
        store = self.firm.store

        def lost(*args: object, **kwargs: object) -> None:
            del store.append  # once
            raise StorageError("the connection to the store dropped")

        store.append = lost  # type: ignore[method-assign]
        return txid


def test_a_withdrawal_whose_broadcast_was_not_journaled_is_never_voided(firm: Firm) -> None:
    approved(firm, 11)
    held = firm.available()
    first = withdrawals.process(firm.ledger, actor("ops"), InterruptedAfterBroadcast(firm), 1)
    assert [row["id"] for row in first["waiting"]] == ["11"]  # the journal refused the step
    assert len(OutboxBroadcaster(firm.outbox).sent()) == 1  # but the chain has it
    assert withdrawals.show(firm.ledger, actor("ops"), 11)["status"] == "signed"

    second = withdrawals.process(firm.ledger, actor("ops"), firm.service, 1)
    assert second["voided"] == []
    shown = withdrawals.show(firm.ledger, actor("ops"), 11)
    assert shown["status"] == "broadcast"
    assert shown["txid"] == OutboxBroadcaster(firm.outbox).sent()[0]
    assert firm.available() == held  # the hold stands: the chain is paying it
    assert len(OutboxBroadcaster(firm.outbox).sent()) == 1  # and nothing was sent twice
    assert firm.key.signed == 1


def test_a_voided_withdrawal_does_not_keep_its_spends_outputs(firm: Firm) -> None:
    approved(firm, 31)
    withdrawal = books(firm.ledger).withdrawals.withdrawals[31]
    spend_id = firm.service.build(
        SpendOrder("31", "main", "BTC", 20_000_000, OUTSIDER.address(REGTEST), 50_000,
                   "main-hot", withdrawal.hold_id)
    )  # fmt: skip
    void = Transfer(9_031, 0, 0, None, TransferCode.withdrawal, TransferFlags.void_pending,
                    pending_id=withdrawal.hold_id)  # fmt: skip
    assert firm.ledger.submit([void]) == [Result.ok]
    report = withdrawals.process(firm.ledger, actor("ops"), firm.service, 1)
    assert report["voided"] == [{"id": "31", "reason": "spend_hold_not_pending"}]
    assert firm.service.record(spend_id).state is SpendState.abandoned
    assert firm.key.signed == 0

    # The wallet's one output is free again: the next withdrawal is paid from it.
    approved(firm, 32)
    report = withdrawals.process(firm.ledger, actor("ops"), firm.service, 1)
    assert report["voided"] == []
    assert withdrawals.show(firm.ledger, actor("ops"), 32)["status"] == "broadcast"


def test_one_withdrawals_spend_is_never_signed_or_sent_for_another(firm: Firm) -> None:
    """Replay: withdrawal 41's approved transaction offered under withdrawal 42's order
    (same pool, same asset, its own pending hold) is refused before any key is asked."""
    approved(firm, 41)
    approved(firm, 42, "0.1")
    by_id = books(firm.ledger).withdrawals.withdrawals
    orders = {
        number: SpendOrder(str(number), "main", "BTC", w.spec.amount, w.spec.destination,
                           w.spec.fee_max, "main-hot", w.hold_id)
        for number, w in ((41, by_id[41]), (42, by_id[42]))
    }  # fmt: skip
    spend_41 = firm.service.build(orders[41])
    for call in (firm.service.sign, firm.service.broadcast, firm.service.abandon):
        with pytest.raises(InputError) as caught:
            call(orders[42], spend_41)
        assert caught.value.code is Result.spend_not_approved
    assert (firm.key.signed, OutboxBroadcaster(firm.outbox).sent()) == (0, [])
    assert firm.service.record(spend_41).state is SpendState.built


def test_a_hold_released_twice_moves_nothing_the_second_time(firm: Firm) -> None:
    approved(firm, 51)
    hold_id = books(firm.ledger).withdrawals.withdrawals[51].hold_id
    void = Transfer(9_051, 0, 0, None, TransferCode.withdrawal, TransferFlags.void_pending,
                    pending_id=hold_id)  # fmt: skip
    assert firm.ledger.submit([void]) == [Result.ok]
    again = Transfer(9_052, 0, 0, None, TransferCode.withdrawal, TransferFlags.void_pending,
                     pending_id=hold_id)  # fmt: skip
    assert firm.ledger.submit([again]) == [Result.pending_transfer_already_voided]
    released = firm.available()
    report = withdrawals.process(firm.ledger, actor("ops"), firm.service, 1)
    assert report["voided"] == [{"id": "51", "reason": "spend_hold_not_pending"}]
    shown = withdrawals.show(firm.ledger, actor("ops"), 51)
    assert (shown["status"], shown["void_transfer"]) == ("voided", None)  # nothing to void
    seq = firm.ledger.seq
    assert withdrawals.process(firm.ledger, actor("ops"), firm.service, 1)["voided"] == []
    assert (firm.ledger.seq, firm.available(), firm.key.signed) == (seq, released, 0)
