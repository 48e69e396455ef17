"""The segregation rules: which transfer codes may connect which accounts. Default deny.

A rule names a code, the role of the debited account and the role of the credited account
(debit first, as in the journal), and how the two must relate: the same pool, the same owner or
different owners, the pool's terms, an authorisation by the debited client. Anything not in the
table is refused, and the refusal says which boundary it would have crossed.

Reading the table as value flow: a deposit debits the pool wallet's custody account (the firm
holds more) and credits the client (the firm owes more); a sweep debits a house wallet and
credits a pool wallet, moving the pool's residual interest out; a fee debits the client and
credits house revenue, which leaves the value in the pool's wallets as residual interest until
swept. Nothing lets a client's balance pay a house debt or another client's obligation: the only
client-to-house code is the fee, and the only client-to-client code needs the payer's consent
inside one pool.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, unique
from typing import Final

from ringfence.core.errors import Result
from ringfence.core.ledger.model import Role, Terms, TransferCode


@unique
class Pools(Enum):
    same = "same"  # both accounts belong to one pool
    debit = "debit"  # only the debited account belongs to a pool
    credit = "credit"  # only the credited account belongs to a pool
    none = "none"  # neither does (house to house)


@unique
class Owners(Enum):
    any = "any"
    same = "same"
    different = "different"


@unique
class Markets(Enum):
    """How the two accounts' markets must relate. A market account names its market in its
    kind (``clearing:<m>``, ``insurance:<m>``); ``insurance:global`` is the global fund of
    its asset, which belongs to no market."""

    any = "any"
    same = "same"  # both accounts name one market (never the global fund)
    market_fund = "market_fund"  # the credited account is one market's fund, not the global one
    global_fund = "global_fund"  # the debited account is the global fund


global_fund_qualifier: Final = "global"


def market_of(kind: str) -> str:
    """The market an account kind names (``clearing:btc-perp`` -> ``btc-perp``), or ``""``."""
    family, _, qualifier = kind.partition(":")
    return qualifier if family in ("clearing", "insurance") else ""


def market_relation_result(markets: Markets, debit_kind: str, credit_kind: str) -> Result | None:
    """``None`` when the accounts relate as ``markets`` says, else ``cross_market_forbidden``:
    a liquidation's money never leaves the market it arose in."""
    debit, credit = market_of(debit_kind), market_of(credit_kind)
    if markets is Markets.same:
        same = debit == credit and debit not in ("", global_fund_qualifier)
        return None if same else Result.cross_market_forbidden
    if markets is Markets.market_fund:
        fund = credit_kind.startswith("insurance:") and credit != global_fund_qualifier
        return None if fund else Result.cross_market_forbidden
    if markets is Markets.global_fund:
        return None if debit == global_fund_qualifier else Result.cross_market_forbidden
    return None


@dataclass(frozen=True, slots=True)
class Rule:
    code: TransferCode
    debit: Role
    credit: Role
    pools: Pools
    owners: Owners = Owners.any
    terms: Terms | None = None  # the pool's terms, when the code only fits one kind of pool
    authorisation: bool = False  # the debited client must authorise
    coverage_exempt: bool = False  # records an existing problem; opens a break instead
    opens_break: bool = False
    cures_break: bool = False
    markets: Markets = Markets.any
    # Only the roles and the pool relation matter: the engine's fast path.
    simple: bool = field(init=False)

    def __post_init__(self) -> None:
        simple = (
            self.owners is Owners.any
            and self.terms is None
            and not self.authorisation
            and not self.opens_break
            and not self.cures_break
            and self.markets is Markets.any
        )
        object.__setattr__(self, "simple", simple)


_C = TransferCode
_R = Role

rules: Final[tuple[Rule, ...]] = (
    Rule(_C.deposit, _R.custody_pool, _R.client_available, Pools.same),
    Rule(_C.withdrawal, _R.client_available, _R.custody_pool, Pools.same),
    Rule(_C.fee, _R.client_available, _R.house_revenue, Pools.debit),
    Rule(_C.fee, _R.client_collateral, _R.house_revenue, Pools.debit),
    Rule(
        _C.internal_transfer,
        _R.client_available,
        _R.client_available,
        Pools.same,
        Owners.different,
        authorisation=True,
    ),
    Rule(_C.margin_post, _R.client_available, _R.client_collateral, Pools.same, Owners.same),
    Rule(_C.margin_release, _R.client_collateral, _R.client_available, Pools.same, Owners.same),
    Rule(_C.sweep, _R.custody_house, _R.custody_pool, Pools.credit),
    Rule(_C.house_top_up, _R.custody_pool, _R.custody_house, Pools.debit),
    Rule(_C.wallet_transfer, _R.custody_pool, _R.custody_pool, Pools.same, Owners.different),
    Rule(_C.wallet_transfer, _R.custody_house, _R.custody_house, Pools.none, Owners.different),
    Rule(_C.network_fee, _R.house_network_fees, _R.custody_pool, Pools.credit),
    Rule(_C.network_fee, _R.house_network_fees, _R.custody_house, Pools.none),
    Rule(_C.house_funding, _R.custody_house, _R.house_capital, Pools.none),
    Rule(_C.house_defunding, _R.house_capital, _R.custody_house, Pools.none),
    Rule(
        _C.misdirected_deposit,
        _R.custody_house,
        _R.client_available,
        Pools.credit,
        coverage_exempt=True,
        opens_break=True,
    ),
    Rule(_C.break_cure, _R.custody_pool, _R.custody_house, Pools.debit, cures_break=True),
    Rule(_C.loan_out, _R.house_loans, _R.custody_pool, Pools.credit, terms=Terms.title_transfer),
    Rule(
        _C.loan_repayment, _R.custody_pool, _R.house_loans, Pools.debit, terms=Terms.title_transfer
    ),
    # A bucket's P&L and funding move only between its collateral and the market's clearing
    # account; the clearing account nets to zero each cycle, its rounding residue (always in
    # the market's favour) goes to that market's insurance fund. Never client to client.
    Rule(_C.pnl_settlement, _R.client_collateral, _R.system_clearing, Pools.debit),
    Rule(_C.pnl_settlement, _R.system_clearing, _R.client_collateral, Pools.credit),
    Rule(_C.funding, _R.client_collateral, _R.system_clearing, Pools.debit),
    Rule(_C.funding, _R.system_clearing, _R.client_collateral, Pools.credit),
    Rule(
        _C.clearing_residual, _R.system_clearing, _R.house_insurance, Pools.none,
        markets=Markets.same,
    ),
    # Liquidation (docs/liquidation.md): the liquidated bucket settles with the clearing account
    # of a market it holds (the risk service names the market; the ledger sees the bucket's
    # own collateral on one side and one market's account on the other) and pays its fee to
    # that market's fund. The fund pays that market's clearing, the global fund any market's
    # (the policy decides whether it may). The house capitalises the funds. Nothing debits a
    # bucket but its own liquidation, and no rule connects two markets.
    Rule(_C.liquidation_settlement, _R.client_collateral, _R.system_clearing, Pools.debit),
    Rule(_C.liquidation_settlement, _R.system_clearing, _R.client_collateral, Pools.credit),
    Rule(
        _C.liquidation_fee, _R.client_collateral, _R.house_insurance, Pools.debit,
        markets=Markets.market_fund,
    ),
    Rule(
        _C.insurance_payout, _R.house_insurance, _R.system_clearing, Pools.none,
        markets=Markets.same,
    ),
    Rule(
        _C.global_insurance_payout, _R.house_insurance, _R.system_clearing, Pools.none,
        markets=Markets.global_fund,
    ),
    Rule(_C.insurance_funding, _R.house_capital, _R.house_insurance, Pools.none),
)

# Codes whose rule needs the debited client's signed authorisation
# (core/principals/authorisation.py).
codes_needing_authorisation: Final = frozenset(rule.code for rule in rules if rule.authorisation)

# Reversals are checked against the transfer they correct, not against this table; these codes
# may not be reversed because their effect is undone by another code or would reopen a break.
codes_not_reversible: Final = frozenset({TransferCode.reversal, TransferCode.break_cure})



def rule_key(code: int, debit: Role, credit: Role) -> int:
    """One integer per (code, debit role, credit role): the engine looks rules up by it."""
    assert 0 < code < 2**16
    return (int(code) << 8) | (int(debit) << 4) | int(credit)


assert max(Role) < 16
rule_index: Final[dict[int, Rule]] = {rule_key(r.code, r.debit, r.credit): r for r in rules}
assert len(rule_index) == len(rules), "two rules share a code and a pair of roles"
assert all(rule.code is not TransferCode.reversal for rule in rules)
assert all(not rule.opens_break or rule.coverage_exempt for rule in rules)

_client_roles = frozenset({Role.client_available, Role.client_collateral})
_house_roles = frozenset(
    {
        Role.custody_house,
        Role.house_revenue,
        Role.house_capital,
        Role.house_network_fees,
        Role.house_insurance,
        Role.house_loans,
    }
)


def missing_rule_result(debit: Role, credit: Role, debit_pool: str, credit_pool: str) -> Result:
    """Name the boundary a transfer with no matching rule would cross."""
    if debit in _client_roles and credit in _house_roles:
        return Result.client_to_house_forbidden
    if debit in _house_roles and credit in _client_roles:
        return Result.house_to_client_forbidden
    if debit_pool and credit_pool and debit_pool != credit_pool:
        return Result.cross_pool_forbidden
    return Result.segregation_rule_missing
