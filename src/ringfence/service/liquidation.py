"""The liquidation loop's shell: scan, plan with the core, post through the ledger, apply.

Gather, decide, apply (docs/liquidation.md). ``LiquidationService.liquidate(market)`` scans
the book, gathers every bucket's collateral and every fund's balance from the ledger, lets
``core.liquidation.plan.plan_liquidations`` decide, and applies the plan:

- the plan's transfers go through ``LedgerService`` as ledger transfers with the liquidation
  codes (21-24), one linked chain per market (cut between buckets when a market's chain would
  not fit one batch), so every guarantee of DESIGN §3 and the journal apply and the
  segregation rules refuse anything that would cross a bucket or a market;
- only when every chain committed are the book's positions changed: the liquidated side
  as the plan says, the deleveraged counterparties as the plan says, and each close order's
  other side taken by the market's *taker* (the venue's backstop liquidity bucket) at the
  order's fillable price, so each market's lots still sum to zero;
- the round is remembered. The round id derives from the book and the market data (never
  from ledger balances, which the round itself changes), and every transfer id from the round,
  so applying the same plan twice posts nothing new (the ledger answers ``exists``) and
  changes the book once.

Insurance funds are the house accounts ``insurance:<market>``; each round appends every
touched fund's balance to the book's history. A market with loss nobody could absorb is
halted: its settlement cycles are refused until an operator resolves it.

``run_round`` and ``funds`` are what ``ringfence liquidation run|funds`` call: the book read
from the journal (service/risk_book.py), one round or the funds, and a JSON-able document
returned. A round's book changes are one positions entry, committed with its transfers in
one store transaction when they fit one ledger batch (after them otherwise); an insurance
funding's history row commits with its transfer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.journal import EntryKind
from ringfence.core.ledger.model import Transfer, TransferCode, TransferFlags
from ringfence.core.liquidation.chains import chain_result, cut_chains, keeps_cash
from ringfence.core.liquidation.detection import buckets_from_scan, candidates, scan_maintenance
from ringfence.core.liquidation.plan import plan_liquidations
from ringfence.core.liquidation.records import (
    LiquidationCode,
    LiquidationPlan,
    LiquidationPolicy,
    PlannedTransfer,
)
from ringfence.core.liquidation.valuation import option_marks
from ringfence.core.money import Asset, format_signed_amount
from ringfence.core.risk.instruments import MarginMode, Position, parse_price
from ringfence.core.risk.market import MarketData
from ringfence.core.risk.settlement import Fill, apply_fill
from ringfence.core.venue.codec import FundRow, PositionChanges
from ringfence.service.ledger import LedgerService, collector_paused
from ringfence.service.risk import RiskService, ScanState
from ringfence.service.risk_book import load_book, load_book_with_market, save_book
from ringfence.service.risk_ledger import (
    clearing_id,
    collateral_id,
    derived_id,
    global_fund_id,
    insurance_id,
)
from ringfence.service.venue_journal import (
    Encoder,
    fund_row,
    journal_positions,
    positions_entry,
)

_codes = {
    "liquidation_settlement": TransferCode.liquidation_settlement,
    "liquidation_fee": TransferCode.liquidation_fee,
    "insurance_payout": TransferCode.insurance_payout,
    "global_insurance_payout": TransferCode.global_insurance_payout,
}


@dataclass(frozen=True, slots=True)
class ChainOutcome:
    """One linked chain of one market: committed whole (``ok``, ``exists`` on a replay) or
    refused whole (the refusing event's result)."""

    symbol: str
    transfers: int
    result: Result


@dataclass(frozen=True, slots=True)
class LiquidationOutcome:
    round_id: int
    plan: LiquidationPlan
    candidates: int  # buckets the scan found below maintenance
    chains: tuple[ChainOutcome, ...]
    applied: bool  # the book changed in this call (False on a replay or a refusal)
    insurance: Mapping[str, int]  # each market's fund balance on the ledger afterwards

    @property
    def ok(self) -> bool:
        return all(chain.result.succeeded for chain in self.chains)


class LiquidationService:
    """The liquidation loop over one ``RiskService``. Not thread-safe: one caller at a time."""

    def __init__(self, risk: RiskService, policy: LiquidationPolicy | None = None) -> None:
        self.risk = risk
        self.policy = policy or LiquidationPolicy()

    # ------------------------------------------------------------------ funds

    def fund_insurance(self, symbol: str, amount: int, capital_account: int) -> Result:
        """Capitalise a market's fund (or, with ``symbol`` an asset code and no market of
        that name, the asset's global fund) from a house capital account; idempotent per
        (fund, amount, running count of fundings) through a derived id."""
        if type(amount) is not int or amount <= 0:
            raise InputError(Result.amount_must_not_be_zero, f"insurance funding {amount!r}")
        instrument = self.risk.instruments.get(symbol)
        fund = insurance_id(symbol) if instrument is not None else global_fund_id(symbol)
        if fund not in self.risk.ledger.ledger.accounts:
            raise InputError(Result.instrument_not_found, symbol)
        history = sum(1 for row in self.risk.insurance_history if row.get("funded") == symbol)
        event = Transfer(
            derived_id("insurance-funding", symbol, history),
            capital_account,
            fund,
            amount,
            TransferCode.insurance_funding,
        )
        rows: list[FundRow] = []

        def companion(results: list[Result]) -> tuple[EntryKind, Encoder] | None:
            if results[0] is not Result.ok:
                return None
            # The fund's balance after the funding, as the engine holds it inside the commit
            # (after a head conflict the batch is decided again on the other writers' state).
            rows[:] = [FundRow(0, symbol, amount, 0, self._engine_balance(fund), 0, funding=True)]
            return positions_entry(PositionChanges(funds=(rows[0],)))

        result = self.risk.ledger.submit_joined([event], companion)[0]
        if result is Result.ok:  # the row was journaled with the transfer
            self.risk.insurance_history.append(
                {"round": "", "market": symbol, "funded": symbol, "amount": amount,
                 "balance": rows[0].balance}
            )
        return result

    def insurance_balances(self) -> dict[str, int]:
        return {
            symbol: self.risk.ledger.balance(insurance_id(symbol)).balance
            for symbol in sorted(self.risk.instruments)
        }

    # ------------------------------------------------------------------ the loop

    def liquidate(self, market: MarketData) -> LiquidationOutcome:
        """One round: scan, plan, post, apply."""
        state, plan = self.plan(market)
        return self.apply(plan, candidates=int(candidates(state.result).shape[0]))

    def plan(self, market: MarketData) -> tuple[ScanState, LiquidationPlan]:
        """Scan and plan without changing anything."""
        risk = self.risk
        state = risk.scan(market)
        names = [bucket.name for bucket in state.buckets]
        held: dict[str, list[Position]] = {}
        for (bucket, _), position in sorted(risk.positions.items()):
            held.setdefault(bucket, []).append(position)
        collateral = [risk.ledger.balance(collateral_id(name)).balance for name in names]
        books = buckets_from_scan(
            state.result,
            names,
            [b.settlement for b in state.buckets],
            collateral,
            {name: tuple(positions) for name, positions in held.items()},
            cross=[b.mode is MarginMode.cross for b in state.buckets],
            portfolio=[b.mode is MarginMode.portfolio for b in state.buckets],
        )
        assets = sorted({i.settlement for i in risk.instruments.values()})
        with collector_paused():
            plan = plan_liquidations(
                round_id(risk, market),
                books,
                risk.instruments,
                market.prices,
                insurance=self.insurance_balances(),
                tiers=risk.config.tiers,
                policy=self.policy,
                global_funds={a: risk.ledger.balance(global_fund_id(a)).balance for a in assets},
                option_marks=self._priced_options(state),
                portfolio_maintenance=scan_maintenance(state.table, state.arrays, risk.config),
            )
        return state, plan

    def _priced_options(self, state: ScanState) -> dict[str, int]:
        """Premium marks of the option markets that have a taker for their close orders; a
        bucket holding any other option is deferred (reported), as before options were
        planned, rather than failing the round for want of a taker."""
        marks = option_marks(state.table, state.arrays)
        return {symbol: mark for symbol, mark in marks.items() if symbol in self.risk.takers}

    def apply(self, plan: LiquidationPlan, candidates: int = 0) -> LiquidationOutcome:
        """Post the plan's chains and change the book for every market whose chains all
        committed (a market's money and its positions move together; a refused market is
        planned again at the next scan). A plan already applied posts the same ids again (the
        ledger answers ``exists``) and changes nothing."""
        risk = self.risk
        replay = plan.round_id in risk.liquidation_rounds
        if not replay:
            self._check_takers(plan)
        planned = self._chains(plan)
        events = [event for _, chain in planned for event in chain]
        markets = {p.symbol for p in plan.positions} | {t.market for t in plan.transfers}
        decided: list[_BookAfter] = []
        if not replay and 0 < len(events) <= limits.batch_events_max:
            # One batch: the round's transfers and its book changes commit together.
            def companion(results: list[Result]) -> tuple[EntryKind, Encoder] | None:
                outcomes = _outcomes(planned, results)
                committed = markets - {c.symbol for c in outcomes if not c.result.succeeded}
                if not committed:
                    return None
                decided.append(self._book_after(plan, committed, self._engine_balance))
                return positions_entry(decided[-1].changes)

            chains = _outcomes(planned, risk.ledger.submit_joined(events, companion))
        else:  # several batches: the book changes are journaled once they all committed
            chains = _outcomes(planned, risk.ledger.submit_all(events) if events else [])
            committed = markets - {c.symbol for c in chains if not c.result.succeeded}
            if not replay and committed:
                decided.append(self._book_after(plan, committed, self._ledger_balance))
                journal_positions(risk.ledger, decided[-1].changes)
        refused = {chain.symbol for chain in chains if not chain.result.succeeded}
        applied = False
        if decided:
            self._keep(plan, decided[-1])
            applied = not refused
        return LiquidationOutcome(
            plan.round_id, plan, candidates, tuple(chains), applied, self.insurance_balances()
        )

    def _engine_balance(self, account: int) -> int:
        """A balance as the engine holds it (inside a joined submit: the batch executed,
        its commit under way; ``ledger.balance`` would read the store again)."""
        return self.risk.ledger.ledger.accounts[account].balance

    def _ledger_balance(self, account: int) -> int:
        return self.risk.ledger.balance(account).balance

    def _book_after(
        self, plan: LiquidationPlan, committed: set[str], balance_of: Callable[[int], int]
    ) -> _BookAfter:
        """The book's changes for the committed markets (positions, the round, halted
        markets, the funds' rows), decided on copies: kept only once journaled."""
        risk = self.risk
        positions = dict(risk.positions)
        self._apply_positions(plan, committed, positions)
        rows = self._history_rows(plan, committed, balance_of)
        halted = {m for m in plan.unresolved if m in committed} - risk.halted
        changed = [
            positions.get(key) or replace(position, quantity_lots=0, basis=Fraction(0))
            for key, position in risk.positions.items() if positions.get(key) != position
        ] + [position for key, position in positions.items() if key not in risk.positions]
        changes = PositionChanges(
            tuple(changed), (plan.round_id,), tuple(sorted(halted)),
            tuple(fund_row(row) for row in rows),
        )
        return _BookAfter(positions, rows, halted, changes)

    def _keep(self, plan: LiquidationPlan, book: _BookAfter) -> None:
        risk = self.risk
        risk.positions = book.positions
        risk.insurance_history.extend(book.rows)
        risk.liquidation_rounds.add(plan.round_id)
        risk.halted.update(book.halted)
        risk.last_scan = None

    def _check_takers(self, plan: LiquidationPlan) -> None:
        """Every market with close orders has a taker that can hold the other side."""
        liquidated = set(plan.liquidated)
        for symbol in sorted({order.symbol for order in plan.orders}):
            taker = self.risk.takers.get(symbol)
            bucket = self.risk.buckets.get(taker or "")
            if bucket is None:
                raise InputError(Result.bucket_not_found, f"no taker for {symbol}")
            if taker in liquidated:
                raise InputError(Result.bucket_invalid, f"taker {taker} is being liquidated")
            refused = bucket.admits(self.risk.instruments[symbol])
            if refused is not None:
                raise InputError(refused, f"taker {taker} for {symbol}")

    def _chains(self, plan: LiquidationPlan) -> list[tuple[str, list[Transfer]]]:
        """Each market's linked chains (cut between buckets past a batch), in posting order."""
        by_market: dict[str, list[PlannedTransfer]] = {}
        for transfer in plan.transfers:
            by_market.setdefault(transfer.market, []).append(transfer)
        chains: list[tuple[str, list[Transfer]]] = []
        accounts: dict[str, int] = {}
        for symbol in self._market_order(by_market, accounts):
            for cut in cut_chains(by_market[symbol]):
                last = len(cut) - 1
                chains.append(
                    (symbol, [self._event(p, accounts, k < last) for k, p in enumerate(cut)])
                )
        return chains

    def _market_order(
        self, by_market: Mapping[str, list[PlannedTransfer]], accounts: dict[str, int]
    ) -> list[str]:
        """Markets in an order in which no bucket's collateral dips below zero between chains:
        a cross bucket's gain in one market may pay its loss in another. Greedy over a
        simulation of the balances; whatever cannot be ordered keeps name order (the ledger
        then refuses that chain whole, and nothing of it moves). ``accounts`` caches the
        account ids by name."""
        waiting = sorted(by_market)
        if len(waiting) <= 1:
            return waiting
        touched = {p.debit for ps in by_market.values() for p in ps} | {
            p.credit for ps in by_market.values() for p in ps
        }
        cash = {}
        for name in touched:
            if name.startswith("collateral:"):
                if name not in accounts:
                    accounts[name] = self._account(name)
                cash[name] = self.risk.ledger.balance(accounts[name]).balance
        order = []
        while waiting:
            ready = next((s for s in waiting if keeps_cash(by_market[s], cash)), waiting[0])
            for planned in by_market[ready]:
                for account, sign in ((planned.debit, -1), (planned.credit, 1)):
                    if account in cash:
                        cash[account] += sign * planned.amount
            order.append(ready)
            waiting.remove(ready)
        return order

    def _event(self, planned: PlannedTransfer, accounts: dict[str, int], linked: bool) -> Transfer:
        """The ledger event; ``linked`` on every event of a chain but its last."""
        ids = []
        for name in (planned.debit, planned.credit):
            found = accounts.get(name)
            if found is None:
                found = accounts[name] = self._account(name)
            ids.append(found)
        flags = TransferFlags.linked if linked else TransferFlags.none
        return Transfer(
            planned.id,
            ids[0],
            ids[1],
            planned.amount,
            _codes[planned.code.value],
            flags,
            asset=planned.asset,
        )

    def _account(self, name: str) -> int:
        family, _, rest = name.partition(":")
        if family == "collateral":
            return collateral_id(rest)
        if family == "clearing":
            return clearing_id(rest)
        if family == "insurance":
            return insurance_id(rest)
        assert family == "insurance-global", name
        assets = {i.settlement.lower(): i.settlement for i in self.risk.instruments.values()}
        return global_fund_id(assets[rest])

    def _apply_positions(
        self, plan: LiquidationPlan, markets: set[str],
        positions: dict[tuple[str, str], Position],
    ) -> None:
        risk = self.risk
        for position in plan.positions:
            if position.symbol not in markets:
                continue
            key = (position.bucket, position.symbol)
            if position.quantity_lots == 0 and position.basis == 0:
                positions.pop(key, None)
            else:
                positions[key] = position
        # The takers' side of the close orders, summed per market and price first (a crash
        # fills thousands of orders at one or two prices); the round id stands for their fills.
        taken: dict[tuple[str, int], int] = {}
        for order in plan.orders:
            if order.symbol not in markets:
                continue
            at = (order.symbol, order.price_units)
            taken[at] = taken.get(at, 0) - order.quantity_lots
        for (symbol, price_units), lots in sorted(taken.items()):
            if lots == 0:
                continue
            taker = risk.takers[symbol]
            fill = Fill(
                derived_id("liquidation-fill", plan.round_id, symbol, price_units),
                taker,
                symbol,
                lots,
                price_units,
            )
            held = (taker, symbol)
            positions[held] = apply_fill(positions.get(held), fill, risk.instruments[symbol])

    def _history_rows(
        self, plan: LiquidationPlan, markets: set[str], balance_of: Callable[[int], int]
    ) -> list[dict[str, Any]]:
        """Each touched market's fund after the round, with its fees in and payouts out."""
        rows: list[dict[str, Any]] = []
        flows: dict[str, dict[str, int]] = {}
        for transfer in plan.transfers:
            if transfer.market not in markets:
                continue
            row = flows.setdefault(transfer.market, {"fees_in": 0, "paid_out": 0})
            if transfer.code is LiquidationCode.liquidation_fee:
                row["fees_in"] += transfer.amount
            elif transfer.code is LiquidationCode.insurance_payout:
                row["paid_out"] += transfer.amount
        for symbol, row in sorted(flows.items()):
            rows.append(
                {
                    "round": str(plan.round_id),
                    "market": symbol,
                    **row,
                    "balance": balance_of(insurance_id(symbol)),
                    "unresolved": plan.unresolved.get(symbol, 0),
                }
            )
        return rows


@dataclass(frozen=True, slots=True)
class _BookAfter:
    """A round's book changes, decided before they are journaled."""

    positions: dict[tuple[str, str], Position]
    rows: list[dict[str, Any]]
    halted: set[str]
    changes: PositionChanges


def _outcomes(
    chains: Sequence[tuple[str, Sequence[Transfer]]], results: Sequence[Result]
) -> list[ChainOutcome]:
    """Each chain's outcome from the results of its events (every chain's, in order)."""
    outcomes = []
    start = 0
    for symbol, events in chains:
        size = len(events)
        outcomes.append(ChainOutcome(symbol, size, chain_result(results[start : start + size])))
        start += size
    return outcomes


def round_id(risk: RiskService, market: MarketData) -> int:
    """A u128 id for one liquidation round from what it decides on that the round itself does
    not change through the ledger: the book's positions and the market data. The same book and
    prices give the same id, so a retried round reuses its transfer ids."""
    positions = [
        [p.bucket, p.symbol, p.quantity_lots, str(p.basis)]
        for _, p in sorted(risk.positions.items())
    ]
    document = {
        "now_ns": market.now_ns,
        "prices": sorted(market.prices.items()),
        "positions": positions,
    }
    digest = hashlib.sha256(json.dumps(document, separators=(",", ":")).encode()).digest()
    return int.from_bytes(digest[:16], "big") or 1


def outcome_document(outcome: LiquidationOutcome, assets: Mapping[str, Asset]) -> dict[str, Any]:
    """The round as JSON-able values; ``assets`` maps each market to its settlement asset, in
    which the funds' balances are decimal strings."""
    plan = outcome.plan
    return {
        "ok": outcome.ok,
        "round": str(outcome.round_id),
        "candidates": outcome.candidates,
        "liquidated": len(plan.liquidated),
        "partial": len(plan.partial),
        "full": len(plan.liquidated) - len(plan.partial),
        "deferred": list(plan.deferred),
        "deleveraged": len(plan.deleveraging),
        "transfers": len(plan.transfers),
        "applied": outcome.applied,
        "chains": [
            {"market": c.symbol, "transfers": c.transfers, "result": c.result.value}
            for c in outcome.chains
        ],
        "unresolved": {symbol: str(amount) for symbol, amount in plan.unresolved.items()},
        "insurance": {
            symbol: format_signed_amount(amount, assets[symbol])
            for symbol, amount in outcome.insurance.items()
        },
    }


# ---------------------------------------------------------------------- the CLI's operations


def run_round(
    ledger: LedgerService,
    *,
    prices: Sequence[str] = (),
    takers: Sequence[str] = (),
    partial_ppm: int = 500_000,
    slippage_ppm: int = 5_000,
    fee_ppm: int = 5_000,
    global_fund: bool = False,
) -> dict[str, Any]:
    """Scan, plan, post and apply one round over the book in ``books`` at its market data, or
    at the marks given as ``SYMBOL=PRICE`` (decimal strings); ``takers`` (``SYMBOL=BUCKET``)
    name who takes each market's close orders. Saves the book; returns ``outcome_document``
    (``ringfence liquidation run``)."""
    risk, market = load_book_with_market(ledger)
    market = _with_prices(risk, market, prices)
    for text in takers:
        symbol, bucket = _pair(text)
        if symbol not in risk.instruments:
            raise InputError(Result.instrument_not_found, symbol)
        risk.set_taker(symbol, bucket)
    policy = LiquidationPolicy(partial_ppm, slippage_ppm, fee_ppm, global_fund)
    outcome = LiquidationService(risk, policy).liquidate(market)
    save_book(risk, market)
    return outcome_document(outcome, _market_assets(risk))


def funds(ledger: LedgerService) -> dict[str, Any]:
    """Each market's insurance fund on the ledger, the halted markets and the funds' history
    from the book (``ringfence liquidation funds``)."""
    risk, _ = load_book(ledger)
    assets = _market_assets(risk)
    balances = LiquidationService(risk).insurance_balances()
    return {
        "ok": True,
        "funds": {symbol: format_signed_amount(units, assets[symbol])
                  for symbol, units in balances.items()},
        "halted": sorted(risk.halted),
        "history": risk.insurance_history,
    }


def settlement_assets(ledger: LedgerService) -> dict[str, Asset]:
    """Each market of the book in ``ledger``'s journal and its settlement asset."""
    risk, _ = load_book(ledger)
    return _market_assets(risk)


def _pair(text: str) -> tuple[str, str]:
    symbol, separator, value = text.partition("=")
    if not separator or not symbol or not value:
        raise InputError(Result.line_malformed, f"{text!r}: SYMBOL=VALUE")
    return symbol, value


def _with_prices(risk: RiskService, market: MarketData, prices: Sequence[str]) -> MarketData:
    """The book's market data with the given marks (futures and perpetuals only: an option's
    scan input is the underlying's forward, not a premium)."""
    if not prices:
        return market
    updated = dict(market.prices)
    for text in prices:
        symbol, value = _pair(text)
        instrument = risk.instruments.get(symbol)
        if instrument is None:
            raise InputError(Result.instrument_not_found, symbol)
        if instrument.option_type is not None:
            raise InputError(Result.instrument_invalid, f"{symbol}: set futures' marks only")
        updated[symbol] = parse_price(value, instrument)
    return replace(market, prices=updated)


def _market_assets(risk: RiskService) -> dict[str, Asset]:
    """Each market's settlement asset, in which its fund's balance is written."""
    assets = risk.ledger.ledger.assets
    return {symbol: assets[i.settlement] for symbol, i in risk.instruments.items()}
