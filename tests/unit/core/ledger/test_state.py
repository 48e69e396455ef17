"""core/ledger/state.py: the engine's working records: which side of each account is limited, and
what a pool position's excess means."""

from __future__ import annotations

import pytest

from ringfence.core.ledger.model import AccountClass, AccountDefinition, Pool, PoolKind, Terms
from ringfence.core.ledger.state import AccountState, Limit, Position

CUSTODY_POOL = Pool("main", PoolKind.omnibus, Terms.custody)
EARN_POOL = Pool("earn", PoolKind.omnibus, Terms.title_transfer)


@pytest.mark.parametrize(
    ("account_class", "kind", "pool", "limit"),
    [
        (AccountClass.client, "available", "main", Limit.credit_normal),
        (AccountClass.client, "collateral:btc-perp", "main", Limit.credit_normal),
        (AccountClass.custody, "hot", "main", Limit.debit_normal),
        (AccountClass.custody, "cold", "", Limit.debit_normal),
        (AccountClass.house, "revenue", "", Limit.credit_normal),
        (AccountClass.house, "capital", "", Limit.credit_normal),
        (AccountClass.house, "insurance:btc-perp", "", Limit.credit_normal),
        (AccountClass.house, "loans", "", Limit.debit_normal),
        (AccountClass.house, "network_fees", "", Limit.none),
        (AccountClass.system, "clearing:btc-perp", "", Limit.none),
    ],
)
def test_each_role_limits_the_side_the_design_says(
    account_class: AccountClass, kind: str, pool: str, limit: Limit
) -> None:
    definition = AccountDefinition(9, "BTC", account_class, "owner", kind, pool)
    position = Position(CUSTODY_POOL, 1) if pool else None
    account = AccountState.build(definition, 1, position, 0)
    assert account.limit is limit
    assert account.is_custody is (account_class is AccountClass.custody)


def test_balance_is_read_on_the_normal_side() -> None:
    client = AccountState.build(
        AccountDefinition(1, "BTC", AccountClass.client, "a", "available", "main"),
        1,
        Position(CUSTODY_POOL, 1),
        1,
    )
    client.credits_posted, client.debits_posted, client.debits_pending = 100, 30, 50
    assert client.balance == 70  # posted only: the pending debit is reserved, not spent
    assert client.balances() == (50, 30, 0, 100)
    wallet = AccountState.build(
        AccountDefinition(2, "BTC", AccountClass.custody, "w", "hot", "main"),
        1,
        Position(CUSTODY_POOL, 1),
        0,
    )
    wallet.debits_posted, wallet.credits_posted = 100, 30
    assert wallet.balance == 70
    fees = AccountState.build(
        AccountDefinition(3, "BTC", AccountClass.house, "house", "network_fees"), 1, None, 0
    )
    fees.debits_posted = 5  # the firm's expense: debit-normal, unlimited
    assert fees.balance == 5


def test_building_an_account_checks_it_has_a_position_exactly_when_it_has_a_pool() -> None:
    pooled = AccountDefinition(1, "BTC", AccountClass.client, "a", "available", "main")
    with pytest.raises(AssertionError):
        AccountState.build(pooled, 1, None, 1)
    house = AccountDefinition(2, "BTC", AccountClass.house, "house", "revenue")
    with pytest.raises(AssertionError):
        AccountState.build(house, 1, Position(CUSTODY_POOL, 1), 0)


def test_a_position_is_enforced_only_under_custody_terms() -> None:
    assert Position(CUSTODY_POOL, 1).enforced
    assert not Position(EARN_POOL, 1).enforced


def test_excess_counts_every_open_pending_outflow() -> None:
    position = Position(CUSTODY_POOL, 1, holdings=1_000, liabilities=900, shortfall_pending=60)
    assert position.residual_interest == 100
    assert position.excess_worst == 40
    position.breaks_outstanding = 500  # a recorded break does not make the pool less short
    assert position.excess_worst == 40
