"""service/checkpoints.py: opening a store refuses a checkpoint that cannot be right on its
face (IntegrityError, never a traceback and never served), and a service that only reads
never writes one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from tests.support import MAIN, Custodian, build_custodian, journal_signer, state_snapshot

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core.errors import IntegrityError, Result
from ringfence.core.ledger.model import Break, TransferFlags
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import Checkpoint, PendingRow

ok = Result.ok
Tamper = Callable[[Checkpoint, Custodian], None]


@pytest.fixture
def written() -> tuple[MemoryStore, Custodian]:
    """A store whose checkpoint holds balances, an open pending transfer (id 4, with a timeout)
    and an open break (id 5)."""
    store = MemoryStore()
    service = LedgerService(store, ManualClock(), journal_signer())
    c = build_custodian(service)
    events = [
        c.house_funding(1, 10_000),
        c.deposit(2, "alice", 500),
        c.deposit(3, "bob", 300),
        c.withdrawal(4, "alice", 100, flags=TransferFlags.pending, timeout_s=600),
        c.misdirected(5, "bob", 50),
    ]
    assert service.submit(events) == [ok] * len(events)
    service.checkpoint()
    assert store.checkpoint().seq == store.head()[0]
    return store, c


def set_balance(checkpoint: Checkpoint, account: int, **sides: int) -> None:
    names = ("debits_pending", "debits_posted", "credits_pending", "credits_posted")
    values = dict(zip(names, checkpoint.balances.get(account, (0, 0, 0, 0)), strict=True))
    values.update(sides)
    checkpoint.balances[account] = tuple(values[name] for name in names)  # type: ignore[assignment]


def test_an_untouched_checkpoint_is_served(written: tuple[MemoryStore, Custodian]) -> None:
    store, c = written
    service = LedgerService(store, ManualClock(), journal_signer())
    assert service.balance(c.client("alice")).balance == 500
    assert service.ledger.pendings[4].expires_at > 0


def _invent_at_entry_0(checkpoint: Checkpoint, c: Custodian) -> None:
    checkpoint.seq = 0


def _invent_an_empty_looking_checkpoint(checkpoint: Checkpoint, c: Custodian) -> None:
    checkpoint.seq, checkpoint.pendings, checkpoint.breaks, checkpoint.reversed = 0, {}, {}, {}
    checkpoint.timestamp_last = 0
    checkpoint.balances = {c.wallet(): (0, 10**6, 0, 0), c.client("carol"): (0, 0, 0, 10**6)}


def _unbalanced(checkpoint: Checkpoint, c: Custodian) -> None:
    set_balance(checkpoint, c.client("carol"), credits_posted=1_000)


def _below_zero(checkpoint: Checkpoint, c: Custodian) -> None:
    # Debits still equal credits: carol owes what the wallet gained.
    set_balance(checkpoint, c.client("carol"), debits_posted=1_000)
    set_balance(checkpoint, c.wallet(MAIN, which=1), debits_posted=1_000)


def _not_a_u128(checkpoint: Checkpoint, c: Custodian) -> None:
    set_balance(checkpoint, c.client("alice"), credits_posted=-1)


def _text_balance(checkpoint: Checkpoint, c: Custodian) -> None:
    set_balance(checkpoint, c.client("alice"), credits_posted="500")  # type: ignore[arg-type]


def _pending_balance_without_its_transfer(checkpoint: Checkpoint, c: Custodian) -> None:
    set_balance(checkpoint, c.client("bob"), debits_pending=10)
    set_balance(checkpoint, c.wallet(), credits_pending=110)


def _pending_row_for_a_posted_transfer(checkpoint: Checkpoint, c: Custodian) -> None:
    checkpoint.pendings[2] = PendingRow(2, 0, 1)


def _pending_row_for_no_transfer(checkpoint: Checkpoint, c: Custodian) -> None:
    checkpoint.pendings[424_242] = PendingRow(424_242, 0, 1)


def _pending_row_with_another_expiry(checkpoint: Checkpoint, c: Custodian) -> None:
    checkpoint.pendings[4].expires_at += 10**12


def _pending_row_with_an_unknown_status(checkpoint: Checkpoint, c: Custodian) -> None:
    checkpoint.pendings[4].status = 9


def _pending_marked_posted_but_still_held(checkpoint: Checkpoint, c: Custodian) -> None:
    checkpoint.pendings[4].status = 2  # its pending balances are still held


def _break_in_no_pool(checkpoint: Checkpoint, c: Custodian) -> None:
    checkpoint.breaks[5] = replace(checkpoint.breaks[5], pool="nowhere")


def _break_cured_beyond_its_amount(checkpoint: Checkpoint, c: Custodian) -> None:
    checkpoint.breaks[5] = replace(checkpoint.breaks[5], cured=51)


def _break_forgotten(checkpoint: Checkpoint, c: Custodian) -> None:
    del checkpoint.breaks[5]  # the pool is now short with no break to show for it


def _break_invented(checkpoint: Checkpoint, c: Custodian) -> None:
    checkpoint.breaks[6] = Break(6, "earn", 1, 10, 0, 1)  # earn is title transfer: no check
    checkpoint.breaks[7] = Break(7, MAIN, 1, -10, 0, 1)


def _past_the_head(checkpoint: Checkpoint, c: Custodian) -> None:
    checkpoint.seq += 1


def _stamped_in_the_future(checkpoint: Checkpoint, c: Custodian) -> None:
    checkpoint.seq -= 1  # so that the last entry is replayed, and must come after it
    checkpoint.timestamp_last = 2**62


TAMPERS: list[tuple[Tamper, str]] = [
    (_invent_at_entry_0, "entry 0"),
    (_invent_an_empty_looking_checkpoint, "entry 0"),
    (_unbalanced, "debits and credits"),
    (_below_zero, "below zero"),
    (_not_a_u128, "balances of account"),
    (_text_balance, "balances of account"),
    (_pending_balance_without_its_transfer, "pending balances"),
    (_pending_row_for_a_posted_transfer, "not pending"),
    (_pending_row_for_no_transfer, "not stored"),
    (_pending_row_with_another_expiry, "timeout says"),
    (_pending_row_with_an_unknown_status, "status 9"),
    (_pending_marked_posted_but_still_held, "pending balances"),
    (_break_in_no_pool, "no pool position"),
    (_break_cured_beyond_its_amount, "cured beyond"),
    (_break_forgotten, "short beyond its recorded breaks"),
    (_break_invented, "break 7"),
    (_past_the_head, "the journal ends at"),
    (_stamped_in_the_future, "stamped"),
]


@pytest.mark.parametrize(("tamper", "message"), TAMPERS, ids=[t.__name__ for t, _ in TAMPERS])
def test_opening_refuses_a_checkpoint_that_cannot_be_right(
    written: tuple[MemoryStore, Custodian], tamper: Tamper, message: str
) -> None:
    store, c = written
    tamper(store._checkpoint, c)
    with pytest.raises(IntegrityError, match=message):
        LedgerService(store, ManualClock(), journal_signer())


def test_a_service_that_only_reads_never_writes_a_checkpoint(
    written: tuple[MemoryStore, Custodian],
) -> None:
    store, c = written
    writer = LedgerService(store, ManualClock(), journal_signer())
    assert writer.submit([c.deposit(10, "carol", 7)]) == [ok]  # past the checkpoint
    store.closed = False  # abandoned without close: the checkpoint stays behind the head
    checkpoint = store.checkpoint()
    assert checkpoint.seq == store.head()[0] - 1
    reader = LedgerService(store, ManualClock(), journal_signer())
    assert reader.balance(c.client("carol")).balance == 7
    list(reader.balances())
    reader.positions()
    reader.close()
    assert store.checkpoint() == checkpoint  # nothing written
    store.closed = False
    writer = LedgerService(store, ManualClock(), journal_signer())
    assert writer.submit([c.deposit(11, "carol", 1)]) == [ok]
    before = state_snapshot(writer)
    writer.close()  # a writer checkpoints on close
    assert store.checkpoint().seq == store.head()[0]
    store.closed = False
    assert state_snapshot(LedgerService(store, ManualClock(), journal_signer())) == before
