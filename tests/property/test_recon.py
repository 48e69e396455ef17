"""Reconciliation invariants for random ledgers and holdings:

- every statement line has excess = funds - requirement, and requirement = sum over clients
  of max(net equity, 0);
- raising any one client's equity never lowers any pool's requirement;
- a client's statement of position reconciles, opening + movements = closing, for every client
  and asset and any period, and its closing is the ledger's balance.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support import CLIENTS, MEMBERS, custodian_definitions, define_in_ledger

from ringfence.core.custody.holdings import Observation
from ringfence.core.custody.registry import Chain
from ringfence.core.ledger.engine import Ledger
from ringfence.core.ledger.model import (
    AccountClass,
    Pool,
    PoolKind,
    Terms,
    Transfer,
    TransferRecord,
)
from ringfence.core.recon.breaks import BreakBook
from ringfence.core.recon.history import client_statement, residual_causes
from ringfence.core.recon.run import ReconInput, reconcile
from ringfence.core.recon.segregation_statement import WalletFacts, net_equities, requirements

POOL_NAMES = ("p1", "p2", "p3")
POOLS = {name: Pool(name, PoolKind.omnibus, Terms.custody) for name in POOL_NAMES}
WALLETS = [WalletFacts(f"{name}-hot", name, "hot") for name in POOL_NAMES]
ADDRESSES = {f"a-{name}": f"{name}-hot" for name in POOL_NAMES}

amounts = st.one_of(st.integers(-(2**70), 2**70), st.integers(-5, 5), st.just(2**127))
rows = st.lists(
    st.tuples(st.sampled_from(POOL_NAMES), st.sampled_from(("BTC", "ETH")),
              st.sampled_from(("a", "b", "c", "d")), amounts),
    max_size=30,
)  # fmt: skip
held = st.lists(
    st.tuples(st.sampled_from(POOL_NAMES), st.sampled_from(("BTC", "ETH")),
              st.integers(0, 2**100)),
    max_size=8,
)  # fmt: skip


def observations(holdings: list[tuple[str, str, int]]) -> list[Observation]:
    return [Observation(Chain.bitcoin, f"a-{p}", a, n, 1, 0, "t") for p, a, n in holdings]


@settings(max_examples=150, deadline=None)
@given(rows, held)
def test_excess_is_funds_less_the_requirement_floored_per_client(
    client_rows: list[tuple[str, str, str, int]], holdings: list[tuple[str, str, int]]
) -> None:
    facts = ReconInput(1, POOLS, client_rows, [], WALLETS, ADDRESSES, observations(holdings))
    recon = reconcile(facts, BreakBook())
    equities = net_equities(client_rows)
    for line in recon.segregation_lines:
        assert line.excess == line.funds - line.requirement
        expected = sum(
            max(e, 0) for (p, a, _), e in equities.items() if (p, a) == (line.pool, line.asset)
        )
        assert line.requirement == expected
        assert line.funds == sum(n for p, a, n in holdings if (p, a) == (line.pool, line.asset))


@settings(max_examples=150, deadline=None)
@given(rows, st.integers(0, 29), st.integers(1, 2**80))
def test_requirement_never_falls_when_a_clients_equity_rises(
    client_rows: list[tuple[str, str, str, int]], which: int, rise: int
) -> None:
    if not client_rows:
        return
    before = requirements(net_equities(client_rows))
    pool, asset, client, _ = client_rows[which % len(client_rows)]
    raised = [*client_rows, (pool, asset, client, rise)]
    after = requirements(net_equities(raised))
    for key, need in before.items():
        assert after[key].requirement >= need.requirement
    assert after[(pool, asset)].requirement <= before[(pool, asset)].requirement + rise


operations = st.lists(
    st.tuples(st.sampled_from(("deposit", "withdrawal", "fee", "internal")),
              st.sampled_from(MEMBERS["main"]), st.sampled_from(MEMBERS["main"]),
              st.integers(1, 10**6)),
    min_size=1, max_size=40,
)  # fmt: skip


def committed(ops: list[tuple[str, str, str, int]]) -> tuple[Ledger, list[TransferRecord]]:
    custodian = custodian_definitions()
    ledger = Ledger()
    define_in_ledger(ledger, custodian)
    records: list[TransferRecord] = []
    for index, (kind, payer, payee, amount) in enumerate(ops, start=1):
        event: Transfer
        if kind == "deposit":
            event = custodian.deposit(index, payer, amount)
        elif kind == "withdrawal":
            event = custodian.withdrawal(index, payer, amount)
        elif kind == "fee":
            event = custodian.fee(index, payer, amount)
        elif payer != payee:
            event = custodian.internal(index, payer, payee, amount)
        else:
            continue
        outcome = ledger.execute([event], 1_000 * index, {})
        records.extend(outcome.records)
    return ledger, records


@settings(max_examples=80, deadline=None)
@given(operations, st.integers(0, 45_000), st.integers(0, 45_000))
def test_statements_reconcile_for_every_client_and_asset(
    ops: list[tuple[str, str, str, int]], start: int, length: int
) -> None:
    ledger, records = committed(ops)
    definitions = {i: a.definition for i, a in ledger.accounts.items()}
    end = start + length
    for client in CLIENTS:
        statement = client_statement(client, start, end, records, definitions, pools=ledger.pools)
        whole = client_statement(client, 0, 10**9, records, definitions, pools=ledger.pools)
        for entry in statement.assets:
            assert entry.reconciles
            assert entry.opening + sum(m.amount for m in entry.movements) == entry.closing
        for entry in whole.assets:
            balance = sum(
                a.balance for a in ledger.accounts.values()
                if a.definition.account_class is AccountClass.client
                and a.definition.owner == client and a.definition.asset == entry.asset
            )  # fmt: skip
            assert entry.closing == balance


@settings(max_examples=60, deadline=None)
@given(operations)
def test_causes_account_for_every_pools_residual_interest(
    ops: list[tuple[str, str, str, int]],
) -> None:
    ledger, records = committed(ops)
    definitions = {i: a.definition for i, a in ledger.accounts.items()}
    causes = residual_causes(records, definitions)
    for position in ledger.positions.values():
        asset = ledger.assets_by_number[position.asset].code
        explained = sum(causes.get((position.pool.name, asset), {}).values())
        assert explained == position.residual_interest
