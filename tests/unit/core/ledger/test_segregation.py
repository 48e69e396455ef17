"""core/ledger/segregation.py: the allowlist of (code, debit role, credit role) is exactly the one
the design argues for, and what it leaves out is refused with the boundary it would cross.

The engine's use of the table (default deny over every code and pair of accounts) is tested in
test_ledger.py; here the table itself is pinned, so that adding a rule is a reviewed change.
"""

from __future__ import annotations

import pytest

from ringfence.core.errors import Result
from ringfence.core.ledger.model import Role, Terms, TransferCode
from ringfence.core.ledger.segregation import (
    Markets,
    Owners,
    Pools,
    codes_not_reversible,
    market_of,
    market_relation_result,
    missing_rule_result,
    rule_index,
    rule_key,
    rules,
)

_C = TransferCode
_R = Role
_client_roles = {Role.client_available, Role.client_collateral}
_house_roles = {
    Role.custody_house,
    Role.house_revenue,
    Role.house_capital,
    Role.house_network_fees,
    Role.house_insurance,
    Role.house_loans,
}

ALLOWLIST = {
    (_C.deposit, _R.custody_pool, _R.client_available),
    (_C.withdrawal, _R.client_available, _R.custody_pool),
    (_C.fee, _R.client_available, _R.house_revenue),
    (_C.fee, _R.client_collateral, _R.house_revenue),
    (_C.internal_transfer, _R.client_available, _R.client_available),
    (_C.margin_post, _R.client_available, _R.client_collateral),
    (_C.margin_release, _R.client_collateral, _R.client_available),
    (_C.sweep, _R.custody_house, _R.custody_pool),
    (_C.house_top_up, _R.custody_pool, _R.custody_house),
    (_C.wallet_transfer, _R.custody_pool, _R.custody_pool),
    (_C.wallet_transfer, _R.custody_house, _R.custody_house),
    (_C.network_fee, _R.house_network_fees, _R.custody_pool),
    (_C.network_fee, _R.house_network_fees, _R.custody_house),
    (_C.house_funding, _R.custody_house, _R.house_capital),
    (_C.house_defunding, _R.house_capital, _R.custody_house),
    (_C.misdirected_deposit, _R.custody_house, _R.client_available),
    (_C.break_cure, _R.custody_pool, _R.custody_house),
    (_C.loan_out, _R.house_loans, _R.custody_pool),
    (_C.loan_repayment, _R.custody_pool, _R.house_loans),
    (_C.pnl_settlement, _R.client_collateral, _R.system_clearing),
    (_C.pnl_settlement, _R.system_clearing, _R.client_collateral),
    (_C.funding, _R.client_collateral, _R.system_clearing),
    (_C.funding, _R.system_clearing, _R.client_collateral),
    (_C.clearing_residual, _R.system_clearing, _R.house_insurance),
    (_C.liquidation_settlement, _R.client_collateral, _R.system_clearing),
    (_C.liquidation_settlement, _R.system_clearing, _R.client_collateral),
    (_C.liquidation_fee, _R.client_collateral, _R.house_insurance),
    (_C.insurance_payout, _R.house_insurance, _R.system_clearing),
    (_C.global_insurance_payout, _R.house_insurance, _R.system_clearing),
    (_C.insurance_funding, _R.house_capital, _R.house_insurance),
}


def test_the_allowlist_is_exactly_the_reviewed_one() -> None:
    table = [(rule.code, rule.debit, rule.credit) for rule in rules]
    assert len(table) == len(set(table)), "two rules share a code and a pair of roles"
    assert set(table) == ALLOWLIST


def test_the_only_client_to_house_rules_are_fees() -> None:
    # A client's asset can never pay a house debt: only an agreed fee leaves a client for the
    # house (trading fees to revenue, a liquidation's fee to that market's insurance fund),
    # and it stays in the pool's wallets as residual interest until swept.
    client_to_house = [r for r in rules if r.debit in _client_roles and r.credit in _house_roles]
    assert {(r.code, r.credit) for r in client_to_house} == {
        (_C.fee, _R.house_revenue), (_C.liquidation_fee, _R.house_insurance)
    }
    assert all(r.pools is Pools.debit for r in client_to_house)
    fee = next(r for r in client_to_house if r.code is _C.liquidation_fee)
    assert fee.debit is _R.client_collateral
    assert fee.markets is Markets.market_fund


def test_house_to_client_only_records_a_misdirected_deposit_and_opens_a_break() -> None:
    house_to_client = [r for r in rules if r.debit in _house_roles and r.credit in _client_roles]
    assert [r.code for r in house_to_client] == [_C.misdirected_deposit]
    assert all(r.coverage_exempt and r.opens_break for r in house_to_client)


def test_client_to_client_stays_inside_one_pool() -> None:
    between_clients = [r for r in rules if r.debit in _client_roles and r.credit in _client_roles]
    assert between_clients
    assert all(r.pools is Pools.same for r in between_clients)
    internal = [r for r in between_clients if r.code is _C.internal_transfer]
    assert all(r.authorisation and r.owners is Owners.different for r in internal)
    margin = [r for r in between_clients if r.code is not _C.internal_transfer]
    assert all(r.owners is Owners.same and not r.authorisation for r in margin)


def test_only_internal_transfers_need_an_authorisation() -> None:
    assert {r.code for r in rules if r.authorisation} == {_C.internal_transfer}


def test_coverage_is_waived_only_for_the_code_that_opens_a_break() -> None:
    assert {r.code for r in rules if r.coverage_exempt} == {_C.misdirected_deposit}
    assert {r.code for r in rules if r.opens_break} == {_C.misdirected_deposit}
    assert {r.code for r in rules if r.cures_break} == {_C.break_cure}


def test_loans_only_fit_title_transfer_pools() -> None:
    assert {r.code for r in rules if r.terms is not None} == {_C.loan_out, _C.loan_repayment}
    assert all(r.terms is Terms.title_transfer for r in rules if r.terms is not None)


def test_every_pool_relation_matches_the_roles() -> None:
    pooled = {Role.client_available, Role.client_collateral, Role.custody_pool}
    for rule in rules:
        expected = {
            (True, True): Pools.same,
            (True, False): Pools.debit,
            (False, True): Pools.credit,
            (False, False): Pools.none,
        }[(rule.debit in pooled, rule.credit in pooled)]
        assert rule.pools is expected, rule


def test_reversals_are_not_in_the_table_and_cannot_be_reversed() -> None:
    assert all(rule.code is not _C.reversal for rule in rules)
    assert codes_not_reversible == {_C.reversal, _C.break_cure}


@pytest.mark.parametrize(
    ("debit", "credit", "debit_pool", "credit_pool", "result"),
    [
        (_R.client_available, _R.custody_house, "main", "", Result.client_to_house_forbidden),
        (_R.client_collateral, _R.house_capital, "main", "", Result.client_to_house_forbidden),
        (_R.client_available, _R.house_insurance, "main", "", Result.client_to_house_forbidden),
        (_R.custody_house, _R.client_collateral, "", "main", Result.house_to_client_forbidden),
        (_R.house_revenue, _R.client_available, "", "main", Result.house_to_client_forbidden),
        (_R.client_available, _R.client_available, "a", "b", Result.cross_pool_forbidden),
        (_R.custody_pool, _R.client_available, "a", "b", Result.cross_pool_forbidden),
        (_R.custody_pool, _R.client_collateral, "a", "a", Result.segregation_rule_missing),
        (_R.house_revenue, _R.house_capital, "", "", Result.segregation_rule_missing),
        (_R.system_clearing, _R.custody_pool, "", "a", Result.segregation_rule_missing),
    ],
)
def test_a_missing_rule_names_the_boundary_it_would_cross(
    debit: Role, credit: Role, debit_pool: str, credit_pool: str, result: Result
) -> None:
    assert missing_rule_result(debit, credit, debit_pool, credit_pool) is result


# ---------------------------------------------------------------------- liquidation and markets

_liquidation_codes = {
    _C.liquidation_settlement, _C.liquidation_fee, _C.insurance_payout,
    _C.global_insurance_payout,
}


def test_liquidation_debits_no_client_account_but_the_liquidated_collateral() -> None:
    # The only client account a liquidation code may debit is a bucket's collateral (its own
    # liquidation); available balances and other clients are out of reach.
    debited = {r.debit for r in rules if r.code in _liquidation_codes} & _client_roles
    assert debited == {_R.client_collateral}
    assert not any(
        r.debit in _client_roles and r.credit in _client_roles
        for r in rules if r.code in _liquidation_codes
    )


def test_every_rule_between_market_accounts_keeps_one_market() -> None:
    market_roles = {_R.house_insurance, _R.system_clearing}
    for rule in rules:
        if rule.debit in market_roles and rule.credit in market_roles:
            assert rule.markets in (Markets.same, Markets.global_fund), rule
            assert not rule.simple
    fee = rule_index[rule_key(_C.liquidation_fee, _R.client_collateral, _R.house_insurance)]
    assert fee.markets is Markets.market_fund


@pytest.mark.parametrize(
    ("markets", "debit", "credit", "result"),
    [
        (Markets.same, "insurance:btc-perp", "clearing:btc-perp", None),
        (Markets.same, "clearing:btc-perp", "insurance:btc-perp", None),
        (Markets.same, "insurance:eth-perp", "clearing:btc-perp", Result.cross_market_forbidden),
        (Markets.same, "insurance:global", "clearing:btc-perp", Result.cross_market_forbidden),
        (Markets.same, "insurance:global", "clearing:global", Result.cross_market_forbidden),
        (Markets.same, "revenue", "clearing:btc-perp", Result.cross_market_forbidden),
        (Markets.market_fund, "collateral:b1", "insurance:btc-perp", None),
        (Markets.market_fund, "collateral:b1", "insurance:global", Result.cross_market_forbidden),
        (Markets.global_fund, "insurance:global", "clearing:btc-perp", None),
        (Markets.global_fund, "insurance:btc-perp", "clearing:btc-perp",
         Result.cross_market_forbidden),
        (Markets.any, "insurance:eth-perp", "clearing:btc-perp", None),
    ],
)
def test_market_relations_allow_one_market_and_refuse_two(
    markets: Markets, debit: str, credit: str, result: Result | None
) -> None:
    assert market_relation_result(markets, debit, credit) is result


def test_a_market_is_read_only_from_market_accounts() -> None:
    assert market_of("clearing:btc-perp") == "btc-perp"
    assert market_of("insurance:btc-perp") == "btc-perp"
    assert market_of("collateral:btc-perp") == ""
    assert market_of("revenue") == ""
