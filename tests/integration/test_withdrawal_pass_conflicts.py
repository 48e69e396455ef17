"""A ``process`` pass holds the withdrawals lock, but requests and approvals do not take it: a
second process (another ledger service on the same SQLite file) may append while the pass is
between a ledger transfer and the step that records it. The pass catches up and goes on, and
a hold in the ledger is a withdrawal's from its request on, whether or not its step is
journaled yet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support import journal_public_key, journal_signer
from tests.support_policy import ALICE_ADDRESS, OTHER_ADDRESS
from tests.support_withdrawals import RecordingChain, actor, withdrawal_world

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.core.errors import InputError, Result, SourceError
from ringfence.core.ledger.model import Transfer, TransferCode, TransferFlags
from ringfence.core.withdrawals.lifecycle import hold_transfer_id
from ringfence.service import access_transfers, withdrawals
from ringfence.service.audit import verify_store
from ringfence.service.ledger import LedgerService
from ringfence.service.withdrawal_facts import client_account, custody_account
from ringfence.service.withdrawal_ledger import withdrawals_lock


def body(withdrawal_id: int, amount: str = "1") -> dict[str, Any]:
    return {"id": str(withdrawal_id), "pool": "main", "asset": "ETH", "amount": amount,
            "destination": ALICE_ADDRESS}  # fmt: skip


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.clock = ManualClock()
        self.path = str(tmp_path / "ledger.db")
        self.ledger = LedgerService(SqliteStore(self.path), self.clock, journal_signer())
        withdrawal_world(self.ledger, self.clock)

    def another_process_requests(self, withdrawal_id: int) -> None:
        other = LedgerService(SqliteStore(self.path), self.clock, journal_signer())
        withdrawals.request(other, actor("alice"), body(withdrawal_id, "0.1"))
        other.store.close()

    def audited(self) -> None:
        report = verify_store(self.ledger.store, trusted_keys=[journal_public_key])
        assert report.ok, report.to_json()


def test_a_request_journaled_during_a_spends_release_does_not_stop_the_pass(
    tmp_path: Path,
) -> None:
    world = World(tmp_path)
    withdrawals.request(world.ledger, actor("alice"), body(61))
    attempts = []

    class Chain(RecordingChain):
        def abandon(self, order: Any, spend_id: str) -> None:
            attempts.append(spend_id)
            if len(attempts) == 1:
                raise SourceError("the spend store does not answer")
            world.another_process_requests(62)

    chain = Chain(refuse={"sign": Result.spend_fee_exceeds_bound})
    first = withdrawals.process(world.ledger, actor("ops"), chain)
    assert [row["id"] for row in first["waiting"]] == ["61"]  # voided, its spend still kept
    chain.refuse.clear()
    second = withdrawals.process(world.ledger, actor("ops"), chain)
    assert [row["id"] for row in second["released"]] == ["61"]
    # Requested while the pass held the lock: held by the next pass.
    assert withdrawals.show(world.ledger, actor("ops"), 62)["status"] == "approved"
    assert withdrawals.process(world.ledger, actor("ops"), chain)["released"] == []
    assert withdrawals.show(world.ledger, actor("ops"), 62)["hold_transfer"] is not None
    world.audited()


def test_a_request_journaled_between_a_hold_and_its_step_does_not_stop_the_pass(
    tmp_path: Path,
) -> None:
    world = World(tmp_path)
    withdrawals.request(world.ledger, actor("alice"), {**body(72), "destination": OTHER_ADDRESS})
    with world.ledger.store.exclusive(withdrawals_lock):  # a pass elsewhere: not held yet
        withdrawals.approve(world.ledger, actor("ann"), 72)
    assert withdrawals.show(world.ledger, actor("ops"), 72)["status"] == "approved"
    original = world.ledger.submit

    def submit_then_another_process_writes(events: Any) -> Any:
        results = original(events)
        world.another_process_requests(73)
        return results

    world.ledger.submit = submit_then_another_process_writes  # type: ignore[method-assign]
    withdrawals.process(world.ledger, actor("ops"), None)
    world.ledger.submit = original  # type: ignore[method-assign]
    shown = withdrawals.show(world.ledger, actor("ops"), 72)
    assert (shown["status"], shown["hold_transfer"]) == ("held", str(hold_transfer_id(72)))
    world.audited()


def test_a_hold_not_yet_recorded_is_refused_on_the_general_paths(tmp_path: Path) -> None:
    """The hold's transfer commits before its step is journaled: in that window (or after a
    crash in it) the client must not void or post it around the lifecycle."""
    world = World(tmp_path)
    ledger = world.ledger
    withdrawals.request(ledger, actor("alice"), {**body(74), "destination": OTHER_ADDRESS})
    with ledger.store.exclusive(withdrawals_lock):
        withdrawals.approve(ledger, actor("ann"), 74)
    hold_id = hold_transfer_id(74)
    alice = client_account(ledger, "alice", "main", "ETH")
    assert alice is not None
    wallet = custody_account(ledger, "main-hot", "main", "ETH")
    (result,) = ledger.submit(
        [Transfer(hold_id, alice, wallet, 10**18, TransferCode.withdrawal, TransferFlags.pending)]
    )
    assert result.succeeded
    assert withdrawals.show(ledger, actor("ops"), 74)["hold_transfer"] is None
    for flag in ("void_pending", "post_pending"):
        resolve = {"id": "9901", "code": "wallet_transfer", "flags": [flag],
                   "pending_id": str(hold_id)}  # fmt: skip
        seq = ledger.seq
        try:
            access_transfers.submit(ledger, actor("alice"), {"transfers": [resolve]})
        except InputError as refusal:
            assert refusal.code is Result.transfer_code_reserved, refusal
        else:
            raise AssertionError(f"the {flag} of withdrawal 74's hold was accepted")
        assert ledger.seq == seq
