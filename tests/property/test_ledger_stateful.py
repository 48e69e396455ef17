"""Property: whatever a custodian's day throws at the ledger, its guarantees hold.

A hypothesis state machine drives a ``LedgerService`` over a store with random batches of
everything the design allows and much it forbids: deposits, withdrawals, fees, internal
transfers, sweeps, top-ups, wallet and house transfers, loans, margin moves, misdirected
deposits and their cures, reversals, pending transfers with timeouts and their posts and voids,
linked chains (some doomed in the middle), duplicates with the same and another body, clock
jumps that expire pending transfers, refused input of every kind, failed commits, streams of
batches and reopens. After every step it checks DESIGN.md §3 on the raw state
(``tests/support.invariant_problems``); it also checks idempotency, chain atomicity, that a
batch of refusals changes nothing, and that the journal alone (and checkpoint plus tail)
rebuilds exactly the same ledger, which ``audit.verify_store`` accepts.

Pending transfers with timeouts are generated inside linked chains too, so a chain that fails
must leave nothing behind to expire (``TIMEOUTS_IN_CHAINS``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import event as hypothesis_event
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from tests.support import (
    EARN,
    HOUSE,
    MAIN,
    MARGIN,
    MEMBERS,
    assert_invariants,
    build_custodian,
    journal_signer,
    key_seed,
    replay_from_genesis,
    state_snapshot,
)

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.adapters.storage.postgres import PostgresStore
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.core.errors import Result, StorageError
from ringfence.core.ledger.model import Transfer, TransferCode, TransferFlags, TransferRecord
from ringfence.core.ledger.state import PendingStatus
from ringfence.service.audit import verify_store
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import LedgerStore

TIMEOUTS_IN_CHAINS = True

_C = TransferCode
_F = TransferFlags
ok = Result.ok
ASSETS = ("BTC", "ETH")
POOLS = (MAIN, MARGIN, "vault-dave", EARN)
SHARED_POOLS = (MAIN, MARGIN, EARN)  # pools with two clients or more
SCALE = {"BTC": 1, "ETH": 10**12}  # ETH amounts run to 10^18 and beyond
MISSING_ACCOUNT = 77_777
U128_MAX = 2**128 - 1

FIELD_RESULTS = {
    "flags": Result.exists_with_different_flags,
    "debit_account": Result.exists_with_different_debit_account,
    "credit_account": Result.exists_with_different_credit_account,
    "amount": Result.exists_with_different_amount,
    "pending_id": Result.exists_with_different_pending_id,
    "reference": Result.exists_with_different_reference,
    "timeout_s": Result.exists_with_different_timeout,
    "code": Result.exists_with_different_code,
    "authorised_by": Result.exists_with_different_authorisation,
}

Draw = Callable[[st.SearchStrategy[Any]], Any]


def note(text: str) -> None:
    """Count what the machine did (``--hypothesis-show-statistics``); silent outside a test."""
    if currently_in_test_context():
        hypothesis_event(text)


class LedgerMachine(RuleBasedStateMachine):
    """The custodian of tests/support.py, run through the service over a memory store."""

    account_id_base = 1
    transfer_id_base = 1
    checkpoint_interval = 3  # small, so that reopening replays a tail past the checkpoint

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.directory = ""
        self.store = self.open_store()
        self.service = self.open_service()
        self.c = build_custodian(self.service, id_base=self.account_id_base)
        self.next_id = self.transfer_id_base
        self.bodies: dict[int, Transfer] = {}  # committed id -> the event as submitted
        self.pending_ids: list[int] = []
        self.reversible: list[int] = []
        funding = [
            self.c.house_funding(self.new_id(), 10**9),
            self.c.house_funding(self.new_id(), 10**9 * SCALE["ETH"], asset="ETH"),
        ]
        funding += [
            self.c.deposit(self.new_id(), name, 10**5 * SCALE[asset], pool=pool, asset=asset)
            for pool in POOLS
            for name in MEMBERS[pool]
            for asset in ASSETS
        ]
        results = self.submit_groups([[e] for e in funding], [False] * len(funding))
        assert results == [ok] * len(funding)

    # ------------------------------------------------------------------ plumbing

    def open_store(self) -> LedgerStore:
        return MemoryStore()

    def reopen_store(self, clean: bool) -> None:
        if clean:
            self.service.checkpoint()

    def open_service(self) -> LedgerService:
        return LedgerService(self.store, self.clock, journal_signer(), self.checkpoint_interval)

    def teardown(self) -> None:
        statuses = [p.status.name for p in self.ledger.pendings.values()]
        for status in sorted(set(statuses)):
            note(f"ended with a pending transfer {status}")
        note(f"ended with {min(len(self.bodies) // 20 * 20, 200)}+ transfers")
        if self.ledger.breaks:
            note("ended with a break")
        report = verify_store(self.store)
        assert report.ok, report.problems
        if self.directory:
            self.store.close()
            shutil.rmtree(self.directory, ignore_errors=True)

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    @property
    def ledger(self) -> Any:
        return self.service.ledger

    def available(self, account_id: int) -> int:
        debits_pending, debits_posted, _, credits_posted = self.ledger.accounts[
            account_id
        ].balances()
        return credits_posted - debits_posted - debits_pending

    def holdings(self, account_id: int) -> int:
        _, debits_posted, credits_pending, credits_posted = self.ledger.accounts[
            account_id
        ].balances()
        return debits_posted - credits_posted - credits_pending

    def amount(self, draw: Draw, hint: int, asset: str = "BTC") -> int:
        """Mostly an amount that fits ``hint``, sometimes one that does not."""
        top = max(1, hint)
        return draw(st.integers(1, top + top // 8 + 2 * SCALE[asset]))

    # ------------------------------------------------------------------ generators

    def member(self, draw: Draw, pools: tuple[str, ...] = POOLS) -> tuple[str, str, str]:
        pool = draw(st.sampled_from(pools))
        return draw(st.sampled_from(MEMBERS[pool])), pool, draw(st.sampled_from(ASSETS))

    def g_deposit(self, draw: Draw) -> Transfer:
        name, pool, asset = self.member(draw)
        amount = draw(st.integers(1, 10**6)) * SCALE[asset]
        return self.c.deposit(self.new_id(), name, amount, pool=pool, asset=asset)

    def g_withdrawal(self, draw: Draw) -> Transfer:
        name, pool, asset = self.member(draw)
        hint = self.available(self.c.client(name, pool, asset))
        amount = self.amount(draw, hint, asset)
        return self.c.withdrawal(self.new_id(), name, amount, pool=pool, asset=asset)

    def g_fee(self, draw: Draw) -> Transfer:
        name, pool, asset = self.member(draw)
        hint = self.available(self.c.client(name, pool, asset)) // 10
        return self.c.fee(
            self.new_id(), name, self.amount(draw, hint, asset), pool=pool, asset=asset
        )

    def g_internal(self, draw: Draw) -> Transfer:
        """Mostly signed by the payer; sometimes by nobody, by the payee, by a name alone, with
        another principal's key, or with the payer's signature of another amount."""
        pool = draw(st.sampled_from(SHARED_POOLS))
        asset = draw(st.sampled_from(ASSETS))
        payer, payee = draw(st.permutations(MEMBERS[pool]))[:2]
        by = draw(st.sampled_from([payer, payer, payer, "", payee]))
        hint = self.available(self.c.client(payer, pool, asset))
        amount = self.amount(draw, hint, asset)
        event = self.c.internal(
            self.new_id(), payer, payee, amount, pool=pool, asset=asset, authorised_by=by
        )
        evidence = draw(st.sampled_from(("signed",) * 6 + ("bare", "other_key", "other_amount")))
        if not by or evidence == "signed":
            return event
        note(f"an internal transfer with evidence {evidence}")
        if evidence == "bare":
            return replace(event, authorisation=b"")
        if evidence == "other_key":
            return self.c.authorise(event, seed=key_seed(payee if by == payer else payer))
        copied = self.c.authorise(replace(event, amount=amount + 1)).authorisation
        return replace(event, authorisation=copied)

    def g_sweep(self, draw: Draw) -> Transfer:
        pool, asset = draw(st.sampled_from(POOLS)), draw(st.sampled_from(ASSETS))
        position = self.ledger.positions[(pool, self.ledger.assets[asset].number)]
        hint = position.holdings - position.liabilities - position.shortfall_pending
        return self.c.sweep(self.new_id(), self.amount(draw, hint, asset), pool=pool, asset=asset)

    def g_top_up(self, draw: Draw) -> Transfer:
        pool, asset = draw(st.sampled_from(POOLS)), draw(st.sampled_from(ASSETS))
        amount = draw(st.integers(1, 10**4)) * SCALE[asset]
        return self.c.top_up(self.new_id(), amount, pool=pool, asset=asset)

    def g_wallet_transfer(self, draw: Draw) -> Transfer:
        pool, asset = draw(st.sampled_from((MAIN, HOUSE))), draw(st.sampled_from(ASSETS))
        debit, credit = draw(st.permutations((0, 1)))
        source = self.c.wallet(pool, asset, credit)
        amount = self.amount(draw, self.holdings(source), asset)
        return Transfer(
            self.new_id(), self.c.wallet(pool, asset, debit), source, amount, _C.wallet_transfer
        )

    def g_house(self, draw: Draw) -> Transfer:
        asset = draw(st.sampled_from(ASSETS))
        kind = draw(st.sampled_from(("funding", "defunding", "network_fee", "network_fee_pool")))
        wallet, capital = self.c.wallet(HOUSE, asset), self.c.house("capital", asset)
        amount = draw(st.integers(1, 10**5)) * SCALE[asset]
        if kind == "funding":
            return self.c.house_funding(self.new_id(), amount, asset=asset)
        if kind == "defunding":
            return Transfer(self.new_id(), capital, wallet, amount, _C.house_defunding)
        fees = self.c.house("network_fees", asset)
        if kind == "network_fee":
            return Transfer(self.new_id(), fees, wallet, amount, _C.network_fee)
        pool_wallet = self.c.wallet(draw(st.sampled_from(POOLS)), asset)
        return Transfer(self.new_id(), fees, pool_wallet, amount // 1_000 + 1, _C.network_fee)

    def g_loan(self, draw: Draw) -> Transfer:
        asset, pool = draw(st.sampled_from(ASSETS)), draw(st.sampled_from((EARN, EARN, MAIN)))
        wallet, loans = self.c.wallet(pool, asset), self.c.house("loans", asset)
        amount = self.amount(draw, self.holdings(wallet), asset)
        if draw(st.booleans()):
            return Transfer(self.new_id(), loans, wallet, amount, _C.loan_out)
        return Transfer(self.new_id(), wallet, loans, amount, _C.loan_repayment)

    def g_margin(self, draw: Draw) -> Transfer:
        name, asset = draw(st.sampled_from(MEMBERS[MARGIN])), draw(st.sampled_from(ASSETS))
        available, collateral = self.c.client(name, MARGIN, asset), self.c.collateral(name, asset)
        if draw(st.booleans()):
            amount = self.amount(draw, self.available(available), asset)
            return Transfer(self.new_id(), available, collateral, amount, _C.margin_post)
        amount = self.amount(draw, self.available(collateral), asset)
        return Transfer(self.new_id(), collateral, available, amount, _C.margin_release)

    def g_misdirected(self, draw: Draw) -> Transfer:
        name, pool, asset = self.member(draw)
        amount = draw(st.integers(1, 10**4)) * SCALE[asset]
        return self.c.misdirected(self.new_id(), name, amount, pool=pool, asset=asset)

    def g_cure(self, draw: Draw) -> Transfer:
        open_breaks = [b for b in self.ledger.breaks.values() if b.amount > b.cured]
        if not open_breaks:
            return self.g_misdirected(draw)
        broken = draw(st.sampled_from(sorted(open_breaks, key=lambda b: b.id)))
        asset = self.ledger.assets_by_number[broken.asset].code
        amount = draw(st.integers(1, broken.amount - broken.cured + 1))
        return self.c.break_cure(self.new_id(), broken.id, amount, pool=broken.pool, asset=asset)

    def g_reversal(self, draw: Draw) -> Transfer:
        if not self.reversible:
            return self.g_deposit(draw)
        original = self.record_of(draw(st.sampled_from(self.reversible)))
        amount = draw(st.integers(1, original.amount))
        return Transfer(
            self.new_id(),
            original.credit_account,
            original.debit_account,
            amount,
            _C.reversal,
            reference=original.id,
        )

    def g_pending(self, draw: Draw, timeout: bool = True) -> Transfer:
        maker = draw(
            st.sampled_from(
                (self.g_withdrawal, self.g_deposit, self.g_sweep, self.g_fee, self.g_internal)
            )
        )
        event = maker(draw)
        timeout_s = draw(st.sampled_from((0, 1, 5, 30))) if timeout else 0
        return replace(event, flags=_F.pending, timeout_s=timeout_s)

    def g_resolve(self, draw: Draw, timeout: bool = True) -> Transfer:
        if not self.pending_ids:
            return self.g_pending(draw, timeout)
        record = self.record_of(draw(st.sampled_from(self.pending_ids)))
        flag = draw(st.sampled_from((_F.post_pending, _F.post_pending, _F.void_pending)))
        amount = None
        if flag is _F.post_pending and draw(st.booleans()):
            amount = draw(st.integers(1, record.amount + 1))
        return Transfer(self.new_id(), 0, 0, amount, TransferCode(record.code), flag, record.id)

    def g_invalid(self, draw: Draw) -> Transfer:
        """An event refused whatever the state of the ledger."""
        c, new = self.c, self.new_id()
        wallet, alice = c.wallet(), c.client("alice")
        builders = [
            lambda: c.deposit(new, "alice", 0),
            lambda: c.deposit(new, "alice", -1),
            lambda: c.deposit(new, "alice", 2**128),
            lambda: replace(c.deposit(new, "alice", 1), amount=1.5),
            lambda: replace(c.deposit(new, "alice", 1), amount=None),
            lambda: Transfer(new, MISSING_ACCOUNT, alice, 1, _C.deposit),
            lambda: Transfer(new, wallet, MISSING_ACCOUNT, 1, _C.deposit),
            lambda: Transfer(new, wallet, wallet, 1, _C.deposit),
            lambda: Transfer(new, wallet, c.client("alice", asset="ETH"), 1, _C.deposit),
            lambda: Transfer(new, alice, c.wallet(HOUSE), 1, _C.withdrawal),
            lambda: Transfer(new, c.wallet(HOUSE), alice, 1, _C.deposit),
            lambda: Transfer(new, wallet, c.client("dave", "vault-dave"), 1, _C.deposit),
            lambda: Transfer(new, c.house("revenue"), c.house("capital"), 1, _C.fee),
            lambda: replace(c.deposit(new, "alice", 1), code=99),
            lambda: replace(c.deposit(new, "alice", 1), timeout_s=5),
            lambda: replace(c.deposit(new, "alice", 1), authorised_by="alice"),
            lambda: replace(c.deposit(new, "alice", 1), authorisation=bytes(64)),
            lambda: c.internal(new, "alice", "bob", 1, signed=False),
            lambda: c.internal(new, "alice", "bob", 1, authorised_by="mallory"),
            lambda: replace(c.deposit(new, "alice", 1), pending_id=1),
            lambda: replace(c.deposit(new, "alice", 1), asset="ETH"),
            lambda: Transfer(new, 0, 0, None, _C.withdrawal, _F.post_pending, MISSING_ACCOUNT),
            lambda: Transfer(new, alice, wallet, 1, _C.reversal, reference=MISSING_ACCOUNT),
            lambda: c.break_cure(new, MISSING_ACCOUNT, 1),
            lambda: Transfer(new, c.house("loans"), wallet, 1, _C.loan_out),
        ]
        return draw(st.sampled_from(builders))()

    def record_of(self, transfer_id: int) -> TransferRecord:
        return self.store.transfers([transfer_id])[transfer_id]

    SINGLE = (  # weighted: what a custodian does most comes most often
        "g_deposit",
        "g_deposit",
        "g_withdrawal",
        "g_withdrawal",
        "g_fee",
        "g_internal",
        "g_sweep",
        "g_top_up",
        "g_wallet_transfer",
        "g_house",
        "g_loan",
        "g_margin",
        "g_misdirected",
        "g_cure",
        "g_reversal",
        "g_pending",
        "g_pending",
        "g_pending",
        "g_resolve",
        "g_resolve",
        "g_resolve",
        "g_invalid",
    )
    IN_CHAINS = (
        "g_deposit",
        "g_withdrawal",
        "g_fee",
        "g_internal",
        "g_sweep",
        "g_misdirected",
        "g_resolve",
        "g_pending",
    )

    def group(self, draw: Draw, kinds: tuple[str, ...]) -> tuple[list[Transfer], bool, bool]:
        """One group of events: (events, is a linked chain, must be `exists`)."""
        shape = draw(st.sampled_from(("single",) * 6 + ("chain", "duplicate")))
        if shape == "duplicate" and self.resubmittable():
            return [self.bodies[draw(st.sampled_from(self.resubmittable()))]], False, True
        if shape != "chain":
            kind = draw(st.sampled_from(kinds))
            return [getattr(self, kind)(draw)], False, False
        chain_kinds = tuple(k for k in self.IN_CHAINS if k in kinds)
        events = []
        for _ in range(draw(st.integers(2, 4))):
            kind = draw(st.sampled_from(chain_kinds))
            if kind in ("g_pending", "g_resolve"):
                events.append(getattr(self, kind)(draw, timeout=TIMEOUTS_IN_CHAINS))
            else:
                events.append(getattr(self, kind)(draw))
        if draw(st.integers(0, 3)) == 0:  # doomed: an overdraft in the middle
            events.insert(1, self.c.withdrawal(self.new_id(), "frank", 10**30))
        linked = [self.linked(e) for e in events[:-1]]
        return [*linked, events[-1]], True, False

    def linked(self, event: Transfer) -> Transfer:
        """``event`` with the linked flag; one its authoriser signed is signed again, as the
        flag is part of what is signed."""
        changed = replace(event, flags=event.flags | _F.linked)
        if event.authorisation and event.authorisation == self.c.authorise(event).authorisation:
            changed = self.c.authorise(changed)
        return changed

    def resubmittable(self) -> list[int]:
        return sorted(i for i, e in self.bodies.items() if not e.flags & _F.linked)

    # ------------------------------------------------------------------ submitting

    def submit_groups(
        self, groups: list[list[Transfer]], chains: list[bool], duplicates: list[bool] | None = None
    ) -> list[Result]:
        events = [e for group in groups for e in group]
        results = self.service.submit(events)
        self.absorb(groups, chains, duplicates or [False] * len(groups), results)
        return results

    def absorb(
        self,
        groups: list[list[Transfer]],
        chains: list[bool],
        duplicates: list[bool],
        results: list[Result],
    ) -> None:
        """Check one batch's results against the store and update the model."""
        events = [e for group in groups for e in group]
        assert len(results) == len(events)
        start = 0
        for group, chain, duplicate in zip(groups, chains, duplicates, strict=True):
            part = results[start : start + len(group)]
            start += len(group)
            if duplicate:
                assert part == [Result.exists], part
            if chain and not all(r.succeeded for r in part):
                assert ok not in part, part  # a chain commits whole or not at all
                causes = [
                    r
                    for r in part
                    if r not in (Result.linked_event_failed, Result.linked_event_chain_open)
                ]
                assert len(causes) <= 1, part
        for result in results:
            note(f"result {result.value}")
        committed_now = [e for e, r in zip(events, results, strict=True) if r is ok]
        for event in committed_now:
            assert event.id not in self.bodies, event.id
            self.bodies[event.id] = event
        stored = self.store.transfers({e.id for e in events})
        assert set(stored) <= set(self.bodies)
        for event in committed_now:
            self.check_record(event, stored[event.id])
            if event.flags & _F.pending:
                self.pending_ids.append(event.id)
            elif not event.flags & _F.void_pending and event.code not in (
                _C.reversal,
                _C.break_cure,
            ):
                self.reversible.append(event.id)

    def check_record(self, event: Transfer, record: TransferRecord) -> None:
        assert record.flags == int(event.flags)
        assert record.code == int(event.code)
        if event.flags & (_F.post_pending | _F.void_pending):
            assert record.pending_id == event.pending_id
            pending = self.record_of(event.pending_id)
            assert (record.debit_account, record.credit_account) == (
                pending.debit_account,
                pending.credit_account,
            )
            assert record.amount == (pending.amount if event.amount is None else event.amount)
        else:
            assert (record.debit_account, record.credit_account, record.amount) == (
                event.debit_account,
                event.credit_account,
                event.amount,
            )
            assert (record.reference, record.timeout_s) == (event.reference, event.timeout_s)

    def settle_expiries(self) -> None:
        """Let every pending transfer that could expire in the next few nanoseconds expire now,
        so that a step that must change nothing is not confused by an expiry."""
        for _ in range(100):
            upcoming = max(self.clock.now_ns(), self.ledger.timestamp_last + 1)
            due = [
                p.expires_at
                for p in self.ledger.pendings.values()
                if p.status is PendingStatus.pending and 0 < p.expires_at <= upcoming + 10_000
            ]
            if not due:
                return
            self.clock.advance(nanoseconds=max(0, max(due) - self.clock.now_ns()))
            results = self.service.submit([self.c.deposit(self.new_id(), "alice", 0)])
            assert results == [Result.amount_must_not_be_zero]
        raise AssertionError("pending transfers keep falling due")

    # ------------------------------------------------------------------ rules

    @initialize(interval=st.integers(1, 4))
    def checkpoint_every(self, interval: int) -> None:
        """How many batches apart checkpoints are: every batch, or leaving a tail to replay."""
        self.checkpoint_interval = interval
        self.service.checkpoint_interval_batches = interval

    @rule(data=st.data())
    def submit_a_batch(self, data: st.DataObject) -> None:
        groups, chains, duplicates = [], [], []
        for _ in range(data.draw(st.integers(1, 6))):
            events, chain, duplicate = self.group(data.draw, self.SINGLE)
            groups.append(events)
            chains.append(chain)
            duplicates.append(duplicate)
        self.submit_groups(groups, chains, duplicates)

    @rule(data=st.data())
    def submit_a_stream(self, data: st.DataObject) -> None:
        kinds = self.SINGLE
        batches = []
        for _ in range(data.draw(st.integers(2, 3))):
            groups, chains = [], []
            for _ in range(data.draw(st.integers(1, 3))):
                events, chain, _ = self.group(data.draw, kinds)
                groups.append(events)
                chains.append(chain)
            batches.append((groups, chains))
        stream = self.service.submit_stream([[e for g in gs for e in g] for gs, _ in batches])
        for (groups, chains), results in zip(batches, stream, strict=True):
            self.absorb(groups, chains, [False] * len(groups), results)

    @rule(seconds=st.integers(1, 40))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds=seconds)

    @precondition(lambda self: bool(self.bodies))
    @rule(data=st.data())
    def resubmit_a_committed_event(self, data: st.DataObject) -> None:
        candidates = self.resubmittable()
        if not candidates:
            return
        self.settle_expiries()
        event = self.bodies[data.draw(st.sampled_from(candidates))]
        record = self.record_of(event.id)
        field = data.draw(st.sampled_from(("same", *FIELD_RESULTS)))
        changed = (
            event
            if field == "same"
            else replace(event, **{field: self.other(field, event, record)})
        )
        before, head = state_snapshot(self.service), self.store.head()
        results = self.service.submit([changed])
        assert results == [Result.exists if field == "same" else FIELD_RESULTS[field]], field
        assert state_snapshot(self.service) == before
        assert self.store.head() == head

    def other(self, field: str, event: Transfer, record: TransferRecord) -> object:
        """Another value for one field of a committed event."""
        if field == "flags":
            return event.flags ^ _F.pending
        if field in ("debit_account", "credit_account"):
            return MISSING_ACCOUNT
        if field == "amount":
            return record.amount + 1
        if field == "code":
            return TransferCode(record.code % len(TransferCode) + 1)
        if field == "authorised_by":
            return "" if record.authoriser else "alice"
        return getattr(event, field) + 1  # pending_id, reference, timeout_s

    @rule(data=st.data())
    def submit_only_refusals(self, data: st.DataObject) -> None:
        self.settle_expiries()
        events = [self.g_invalid(data.draw) for _ in range(data.draw(st.integers(1, 5)))]
        before, head = state_snapshot(self.service), self.store.head()
        results = self.service.submit(events)
        assert not any(r.succeeded for r in results), results
        assert state_snapshot(self.service) == before
        assert self.store.head() == head

    @rule(data=st.data())
    def a_commit_fails(self, data: st.DataObject) -> None:
        store = self.store
        if not isinstance(store, MemoryStore):
            return
        groups = [
            [self.g_deposit(data.draw)],
            [self.g_pending(data.draw)],
            [self.g_resolve(data.draw)],
        ]
        events = [e for g in groups for e in g]
        head = store.head()
        store.fail_next_append = True
        try:
            results = self.service.submit(events)
        except StorageError:
            note("a commit failed")
            assert store.head() == head
            assert store.transfers({e.id for e in events}).keys() <= set(self.bodies)
        else:
            assert not any(r is ok for r in results)
            store.fail_next_append = False
        durable = LedgerService(store, self.clock, journal_signer(), self.checkpoint_interval)
        assert state_snapshot(self.service) == state_snapshot(durable)

    @rule(clean=st.booleans())
    def reopen(self, clean: bool) -> None:
        note(f"reopen with a tail of {self.store.head()[0] - self.store.checkpoint().seq}")
        before = state_snapshot(self.service)
        self.reopen_store(clean)
        self.service = self.open_service()
        assert state_snapshot(self.service) == before
        assert state_snapshot(replay_from_genesis(self.store)) == before
        report = verify_store(self.store)
        assert report.ok, report.problems

    # ------------------------------------------------------------------ invariants

    @invariant()
    def guarantees_hold(self) -> None:
        assert_invariants(self.service)
        assert self.store.head() == (self.service.seq, self.service.hash)

    @invariant()
    def committed_means_stored(self) -> None:
        assert self.store.transfers(list(self.bodies)).keys() == self.bodies.keys()
        assert self.store.transfer_id_max() == max(self.bodies, default=0)


class SqliteLedgerMachine(LedgerMachine):
    """The same, over a SQLite file, with account and transfer ids beyond 2^63."""

    account_id_base = 2**100
    transfer_id_base = 2**70

    def open_store(self) -> LedgerStore:
        self.directory = tempfile.mkdtemp(prefix="ringfence-stateful-")
        return SqliteStore(str(Path(self.directory) / "ledger.db"))

    def reopen_store(self, clean: bool) -> None:
        if clean:
            self.service.close()
        else:
            self.store.close()  # as a process that dies: no checkpoint written
        self.store = SqliteStore(str(Path(self.directory) / "ledger.db"))


class PostgresLedgerMachine(SqliteLedgerMachine):
    """The same over PostgreSQL: each example on a fresh schema of the run's test database."""

    fresh_url: Callable[[], str] | None = None  # set by the test from its fixture

    def open_store(self) -> LedgerStore:
        assert self.fresh_url is not None
        self.url = self.fresh_url()
        return PostgresStore(self.url)

    def reopen_store(self, clean: bool) -> None:
        if clean:
            self.service.close()
        else:
            self.store.close()  # as a process that dies: no checkpoint written
        self.store = PostgresStore(self.url)

    def teardown(self) -> None:
        try:
            super().teardown()
        finally:
            self.store.close()


_common = settings(
    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
LedgerMachine.TestCase.settings = settings(_common, max_examples=150, stateful_step_count=50)
SqliteLedgerMachine.TestCase.settings = settings(_common, max_examples=25, stateful_step_count=30)
TestLedgerOverMemory = pytest.mark.slowest(pytest.mark.slow(LedgerMachine.TestCase))
TestLedgerOverSqlite = pytest.mark.slow(SqliteLedgerMachine.TestCase)


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.slowest
def test_ledger_over_postgres(postgres_database: Any) -> None:
    PostgresLedgerMachine.fresh_url = postgres_database.fresh_url
    run_state_machine_as_test(
        PostgresLedgerMachine, settings=settings(_common, max_examples=25, stateful_step_count=30)
    )


def test_the_machine_notices_a_corrupted_ledger() -> None:
    """The checks the machine runs after every step can fail."""
    machine = LedgerMachine()
    machine.guarantees_hold()
    machine.committed_means_stored()
    alice = machine.ledger.accounts[machine.c.client("alice")]
    alice.debits_posted += 1
    with pytest.raises(AssertionError):
        machine.guarantees_hold()
    alice.debits_posted -= 1
    machine.guarantees_hold()
    machine.bodies[10**9] = machine.bodies[next(iter(machine.bodies))]
    with pytest.raises(AssertionError):
        machine.committed_means_stored()
