"""The risk service: buckets on the ledger, fills into positions, settlement, scans.

Gather, decide, apply. Buckets are ledger ``client`` accounts of kind ``collateral:<bucket>``
in the client's margin pool; each market (instrument) has a ``system`` clearing account and a
``house`` insurance account. The service keeps the venue's book (instruments, buckets,
positions, fill ids), lets ``core.risk`` decide, and posts the money through the ledger:

- a fill charges its fee (collateral -> house revenue, ``fee``) and only then updates its
  position: a refused fee leaves no position change, and a retry charges the fee once (the
  fee's id derives from the fill's);
- a settlement cycle pays each position's variation margin at the mark through the market's
  clearing account (``pnl_settlement``): every loss first, then every gain, then the rounding
  residue to the market's insurance fund (``clearing_residual``), all as one linked chain, so
  the ledger commits the market's cycle whole or refuses it whole; positions are reset only
  once it committed; the clearing account is back to zero after every cycle, and the service
  checks it;
- funding for perpetuals moves the same way with ``funding``;
- a scan reads every bucket's collateral balance from the ledger and returns per bucket
  equity, requirements, health and Greeks in exact minor units.

Transfer and account ids are derived from names (SHA-256, ``risk_ledger``), so re-running a
cycle after a crash is idempotent: the ledger answers ``exists``. Every change to the book is
journaled as it is made (``venue_journal``: a fill with its fee, a cycle with its positions, in
one store transaction); ``risk_book`` reads the book back from the journal and holds the
operations the CLI and the API run on it.

Length (over 500 lines, argued): the book's four moving parts (definitions, fills, settlement,
scans) share its state and its journal; splitting them would pass that state between modules
for no reader's benefit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import numpy as np

from ringfence.core import limits
from ringfence.core.errors import InputError, Result, RingfenceError
from ringfence.core.ledger.journal import EntryKind
from ringfence.core.ledger.model import (
    AccountDefinition,
    Transfer,
    TransferCode,
    TransferFlags,
)
from ringfence.core.ledger.segregation import global_fund_qualifier
from ringfence.core.risk.config import RiskConfig
from ringfence.core.risk.instruments import (
    Bucket,
    Instrument,
    MarginMode,
    Position,
)
from ringfence.core.risk.market import MarketData, market_arrays, per_underlying, posted_ranges
from ringfence.core.risk.posting import VolatilityBook, reference_prices
from ringfence.core.risk.ranges import Book, bucket_ranges, joined_scans, scan_bucket_range
from ringfence.core.risk.scan import BookLayout, CheckResult, ScanResult, build_layout, check_orders
from ringfence.core.risk.scan import scan as scan_book
from ringfence.core.risk.scenarios import (
    InstrumentTable,
    Profile,
    RiskArrays,
    build_risk_arrays,
    grid_scenarios,
    instrument_table,
    span_scenarios,
)
from ringfence.core.risk.settlement import (
    CyclePlan,
    Fill,
    apply_fill,
    plan_funding,
    plan_settlement,
)
from ringfence.core.risk.staging import StagedBook
from ringfence.core.venue.book import VenueBook
from ringfence.core.venue.codec import MarketRecord, PositionChanges, Settings
from ringfence.service.ledger import LedgerService, collector_paused
from ringfence.service.ports import Executor
from ringfence.service.risk_ledger import (
    chained,
    clearing_id,
    collateral_account,
    collateral_id,
    cycle_events,
    fee_id,
    global_fund_definition,
    global_fund_id,
    market_accounts,
)
from ringfence.service.venue_journal import (
    Encoder,
    all_committed,
    config_of,
    copy_of,
    fills_entry,
    history_row,
    journal_buckets,
    journal_fills,
    journal_instruments,
    journal_market,
    journal_positions,
    positions_entry,
    read_book,
    seen_fill,
    settings_of,
    volatility_delta,
)

# Stands in for what a liquidation already settled, in a settlement cycle; never a bucket name
# (names start with a letter or digit).
_carry_bucket = "~liquidated"


@dataclass(frozen=True, slots=True)
class CycleOutcome:
    """One market's settlement or funding: the plan and what the ledger made of it. ``ok``
    (or ``exists`` on a retry) when the chain committed; otherwise the refusing event's
    result (``pool_coverage_would_break``, ...) or ``batch_too_large``, and nothing moved."""

    plan: CyclePlan
    result: Result

    @property
    def symbol(self) -> str:
        return self.plan.symbol


@dataclass(frozen=True, slots=True)
class ScanState:
    """What one scan built, kept for pre-trade checks until the next scan."""

    table: InstrumentTable
    arrays: RiskArrays
    layout: BookLayout
    buckets: tuple[Bucket, ...]
    index: dict[str, int]
    result: ScanResult
    multipliers: np.ndarray[Any, Any]


class _ChargedBeforeError(Exception):
    """Some fees of a group were already on the ledger: the book in memory is behind the
    journal (raised inside the ledger's commit, which then writes nothing)."""


class RiskService:
    """The venue's book over one ledger. Not thread-safe: one caller at a time."""

    def __init__(
        self,
        ledger: LedgerService,
        revenue_accounts: Mapping[str, int],
        config: RiskConfig | None = None,
        profile: Profile = Profile.grid,
    ) -> None:
        self.ledger = ledger
        self.config = config or RiskConfig()
        self.profile = profile
        self.revenue_accounts = dict(revenue_accounts)  # settlement asset -> house revenue
        self.instruments: dict[str, Instrument] = {}
        self.buckets: dict[str, Bucket] = {}
        self.positions: dict[tuple[str, str], Position] = {}
        self.fills: dict[int, Fill] = {}
        self.last_scan: ScanState | None = None
        # Liquidation (service/liquidation.py): the bucket that takes each market's close
        # orders, the rounds already applied (a replay changes nothing), the markets halted
        # with loss nobody could absorb, and each fund's balance after every round.
        self.takers: dict[str, str] = {}
        self.liquidation_rounds: set[int] = set()
        self.halted: set[str] = set()
        self.insurance_history: list[dict[str, Any]] = []
        # The volatility model's closes and postings (core/risk/posting.py): every scan
        # observes its market data and uses the posted ranges and multipliers.
        self.volatility = VolatilityBook()
        # What the journal already holds of the settings and of the volatility model: each
        # change journals only what it adds (service/venue_journal.py).
        self.settings_journaled: Settings | None = None
        self.volatility_journaled = VolatilityBook()
        self._collateral_ids: dict[str, int] = {}  # bucket -> its account (a SHA-256 each)
        self._lot_values: dict[tuple[str, int], Fraction] = {}  # (symbol, price): fills repeat

    @classmethod
    def from_journal(cls, ledger: LedgerService) -> tuple[RiskService, MarketData | None]:
        """A service holding the book ``ledger``'s journal holds (empty when none), and the
        market data last journaled (or None)."""
        book = read_book(ledger)
        settings = book.settings
        service = cls(
            ledger,
            {} if settings is None else dict(settings.revenue_accounts),
            None if settings is None else config_of(settings),
            Profile.grid if settings is None else Profile(settings.profile),
        )
        service._take(book)
        return service, book.market

    def _take(self, book: VenueBook) -> None:
        self.settings_journaled = book.settings
        self.instruments = book.instruments
        self.buckets = book.buckets
        self.positions = book.positions
        self.fills = {k: seen_fill if fill is None else fill for k, fill in book.fills.items()}
        self.takers = book.takers
        self.liquidation_rounds = book.rounds
        self.halted = book.halted
        self.insurance_history = [history_row(row) for row in book.funds]
        self.volatility = book.volatility
        self.volatility_journaled = copy_of(book.volatility)
        self.last_scan = None

    def resync(self) -> None:
        """Read the book again from the journal: after a failure whose outcome is unknown
        (a commit whose acknowledgement was lost), memory may be behind what is durable."""
        self._take(read_book(self.ledger))

    # ------------------------------------------------------------------ definitions

    def define_instruments(self, instruments: Iterable[Instrument]) -> list[Result]:
        """Each market with its clearing and insurance accounts on the ledger. A service made
        afresh over a journal that already holds a book (rather than read from it,
        ``from_journal``) is refused (``venue_book_exists``): it would journal a second book
        over the first."""
        if self.settings_journaled is None and not self.instruments and read_book(
            self.ledger
        ).entries:
            raise InputError(Result.venue_book_exists, "read it with RiskService.from_journal")
        results: list[Result] = []
        accounts: list[AccountDefinition] = []
        added: list[Instrument] = []
        for instrument in instruments:
            existing = self.instruments.get(instrument.symbol)
            if existing is not None:
                same = existing == instrument
                different = Result.instrument_exists_with_different_body
                results.append(Result.exists if same else different)
                continue
            if len(instrument.symbol) > limits.instrument_symbol_length_max:
                raise InputError(Result.instrument_invalid, f"symbol {instrument.symbol} too long")
            if instrument.symbol == global_fund_qualifier:  # insurance:global is the global fund
                raise InputError(Result.instrument_invalid, f"symbol {instrument.symbol} reserved")
            if len(self.instruments) >= limits.instruments_max:
                raise InputError(Result.batch_too_large, "too many instruments")
            if len(instrument.tiers.encode()) > limits.tier_schedule_name_length_max:
                raise InputError(Result.instrument_invalid, f"tiers {instrument.tiers!r}")
            self.instruments[instrument.symbol] = instrument
            accounts += market_accounts(instrument)
            added.append(instrument)
            results.append(Result.ok)
        assets = sorted({i.settlement for i in self.instruments.values()})
        accounts += [global_fund_definition(asset) for asset in assets
                     if global_fund_id(asset) not in self.ledger.ledger.accounts]
        try:
            _check_defined(self.ledger.define_accounts(accounts))
            settings = settings_of(self.revenue_accounts, self.profile.value, self.config)
            changed = None if settings == self.settings_journaled else settings
            journal_instruments(self.ledger, added, changed)
        except BaseException:
            for instrument in added:  # memory must not run ahead of the journal
                del self.instruments[instrument.symbol]
            raise
        self.settings_journaled = settings
        return results

    def open_buckets(self, buckets: Iterable[tuple[Bucket, str]]) -> list[Result]:
        """Buckets with their collateral accounts in the given (margin) pools."""
        results: list[Result] = []
        accounts: list[AccountDefinition] = []
        added: list[Bucket] = []
        for bucket, pool in buckets:
            existing = self.buckets.get(bucket.name)
            if existing is not None:
                same = existing == bucket
                results.append(Result.exists if same else Result.bucket_exists_with_different_body)
                continue
            self.buckets[bucket.name] = bucket
            accounts.append(collateral_account(bucket, pool))
            added.append(bucket)
            results.append(Result.ok)
        try:
            _check_defined(self.ledger.define_accounts(accounts))
            journal_buckets(self.ledger, added)
        except BaseException:
            for bucket in added:
                del self.buckets[bucket.name]
            raise
        return results

    def set_taker(self, symbol: str, bucket: str) -> None:
        """The bucket that takes ``symbol``'s close orders in a liquidation, journaled."""
        if symbol not in self.instruments:
            raise InputError(Result.instrument_not_found, symbol)
        if bucket not in self.buckets:
            raise InputError(Result.bucket_not_found, bucket)
        if self.takers.get(symbol) != bucket:
            journal_buckets(self.ledger, (), [(symbol, bucket)])
            self.takers[symbol] = bucket

    # ------------------------------------------------------------------ fills

    def apply_fills(self, fills: Sequence[Fill]) -> list[Result]:
        """Open, change and close positions; charge fees. Same fill id and body: ``exists``.

        Fees are charged before any position changes. A group of fills (at most one ledger
        batch) is decided on a staged copy of the book and its fees posted as one linked
        chain; only when the chain commits is the staged book kept. If the chain is refused,
        nothing was charged, and each fill is then decided, charged and applied on its own:
        one refused fee refuses only its own fill (with the ledger's result). If the store
        fails, ``StorageError`` leaves the book unchanged and a retry charges each fee once
        (its id derives from the fill's id: the ledger answers ``exists``).

        Each group is decided with the cycle collector paused, as a ledger batch is: a group
        allocates a position, a fee and a record per fill and no reference cycles."""
        results: list[Result] = []
        size = limits.batch_events_max
        try:
            for low in range(0, len(fills), size):
                with collector_paused():
                    results += self._apply_group(fills[low : low + size])
        except BaseException:
            with suppress(RingfenceError):
                self.resync()  # what committed before the failure is in the journal
            raise
        return results

    def _apply_group(self, fills: Sequence[Fill], retried: bool = False) -> list[Result]:
        staged = StagedBook(self.positions, self.fills)
        held = Counter(bucket for bucket, _ in self.positions)  # positions per bucket
        results = [self._stage(fill, staged, held) for fill in fills]
        applied = [f for f, r in zip(fills, results, strict=True) if r is Result.ok]
        charging = [fill for fill in applied if fill.fee_units]
        fees = [self._fee(f, k + 1 < len(charging)) for k, f in enumerate(charging)]  # chained
        assert len(fees) <= limits.batch_events_max
        if not fees:
            journal_fills(self.ledger, applied)
        else:
            # The fills are journaled only with fees charged now. A fee charged before was
            # journaled with its fill (one transaction), so this copy of the book is behind
            # the journal: nothing is written, the book is read again and the group decided
            # again (once; then fill by fill).
            def companion(rs: list[Result]) -> tuple[EntryKind, Encoder] | None:
                if all(r is Result.ok for r in rs):
                    return fills_entry(applied)
                if all_committed(rs):
                    raise _ChargedBeforeError
                return None  # the chain is refused: nothing commits

            try:
                charged = self.ledger.submit_joined(fees, companion)
            except _ChargedBeforeError:
                self.resync()
                if retried:
                    return [self._apply_alone(fill) for fill in fills]
                return self._apply_group(fills, retried=True)
            if not all_committed(charged):
                return [self._apply_alone(fill) for fill in fills]
        self._keep(staged)
        return results

    def _apply_alone(self, fill: Fill) -> Result:
        staged = StagedBook(self.positions, self.fills)
        held = Counter(bucket for bucket, _ in self.positions)
        result = self._stage(fill, staged, held)
        if result is Result.ok and not fill.fee_units:
            journal_fills(self.ledger, [fill])
        elif result is Result.ok:
            fee = self._fee(fill)

            def companion(results: list[Result]) -> tuple[EntryKind, Encoder] | None:
                return fills_entry([fill]) if results[0] is Result.ok else None

            charged = self.ledger.submit_joined([fee], companion)[0]
            if charged is Result.exists_with_different_flags and self._fee_charged(fee):
                charged = Result.exists  # committed earlier inside a linked chain
            if charged is not Result.ok:
                if charged.succeeded:  # charged before, with its fill: this book was behind
                    self.resync()
                return charged
        self._keep(staged)
        return result

    def _fee(self, fill: Fill, linked: bool = False) -> Transfer:
        """The fill's fee; ``linked`` to the next event (one chain: ``chained``)."""
        instrument = self.instruments[fill.symbol]
        account = self._collateral_ids.get(fill.bucket)
        if account is None:
            account = self._collateral_ids[fill.bucket] = collateral_id(fill.bucket)
        return Transfer(
            fee_id(fill.id),
            account,
            self.revenue_accounts[instrument.settlement],
            fill.fee_units,
            TransferCode.fee,
            TransferFlags.linked if linked else TransferFlags.none,
        )

    def _fee_charged(self, fee: Transfer) -> bool:
        """The same fee (accounts and amount) is already on the ledger."""
        record = self.ledger.store.transfers([fee.id]).get(fee.id)
        return record is not None and (
            record.debit_account, record.credit_account, record.amount
        ) == (fee.debit_account, fee.credit_account, fee.amount)

    def _keep(self, staged: StagedBook) -> None:
        if staged.positions or staged.fills:
            self.positions.update(staged.positions)
            self.fills.update(staged.fills)
            self.last_scan = None

    def _stage(self, fill: Fill, staged: StagedBook, held: Counter[str]) -> Result:
        """Decide ``fill`` on the staged book; ``held`` counts the positions of each bucket
        (kept and staged), counted once per group rather than per fill. The staged book's
        overlays are read in line: this runs once per fill of a venue's whole flow."""
        seen = staged.fills.get(fill.id)
        if seen is None:
            seen = staged.base_fills.get(fill.id)
        if seen is not None:
            return Result.exists if seen == fill else Result.fill_exists_with_different_body
        bucket = self.buckets.get(fill.bucket)
        if bucket is None:
            return Result.bucket_not_found
        instrument = self.instruments.get(fill.symbol)
        if instrument is None:
            return Result.instrument_not_found
        refused = bucket.admits(instrument)
        if refused is not None:
            return refused
        if fill.price_units % instrument.tick_units:
            return Result.price_finer_than_tick
        key = (fill.bucket, fill.symbol)
        position = staged.positions.get(key)
        if position is None:
            position = staged.base_positions.get(key)
        if position is None and held[fill.bucket] >= _bucket_cap(bucket):
            return Result.positions_per_bucket_exceeded
        at = (fill.symbol, fill.price_units)
        lot_value = self._lot_values.get(at)
        if lot_value is None:
            if len(self._lot_values) >= limits.batch_events_max:
                self._lot_values.clear()
            lot_value = self._lot_values[at] = instrument.lot_value(fill.price_units)
        try:
            staged.positions[key] = apply_fill(position, fill, instrument, lot_value)
        except InputError as error:
            return error.code
        if position is None:
            held[fill.bucket] += 1
        staged.fills[fill.id] = fill
        return Result.ok

    # ------------------------------------------------------------------ settlement

    def settle(
        self, cycle: int, marks: Mapping[str, int], symbols: Iterable[str] | None = None
    ) -> list[CycleOutcome]:
        """Variation margin for every market with positions (or only ``symbols``), at the given
        marks. Each market's cycle is one linked chain: its positions are reset only if the
        chain committed; a refused market keeps its positions and reports the ledger's result
        (``market_halted`` for a market a liquidation left with an unresolved loss)."""
        outcomes = []
        held_symbols = {key[1] for key in self.positions}
        wanted = held_symbols if symbols is None else held_symbols & set(symbols)
        for symbol in sorted(wanted):
            if symbol not in marks:
                raise InputError(Result.mark_price_missing, symbol)
            instrument = self.instruments[symbol]
            held = [p for key, p in sorted(self.positions.items()) if key[1] == symbol]
            plan = self._plan_with_carry(instrument, held, marks[symbol])
            result = Result.market_halted
            if plan is not None:
                kept = {p.bucket for p in plan.positions}
                closed = tuple(replace(p, quantity_lots=0, basis=Fraction(0))
                               for p in held if p.bucket not in kept)
                changes = PositionChanges(closed + plan.positions)
                result = self._post(cycle, "settle", plan, TransferCode.pnl_settlement, changes)
            else:
                plan = CyclePlan(symbol, (), 0, tuple(held))
            if result.succeeded:
                for position in held:
                    del self.positions[(position.bucket, symbol)]
                for position in plan.positions:
                    self.positions[(position.bucket, symbol)] = position
                self.last_scan = None
            outcomes.append(CycleOutcome(plan, result))
        return outcomes

    def _plan_with_carry(
        self, instrument: Instrument, held: list[Position], mark_units: int
    ) -> CyclePlan | None:
        """The cycle's plan when a liquidation settled some positions early: their realised
        value is already in the clearing account (the positions' bases no longer sum to zero),
        so a stand-in position carries it and the clearing balance pays it. ``None`` when the
        market is halted or clearing holds less than it owes (an unresolved loss)."""
        symbol = instrument.symbol
        carry = -sum((p.basis for p in held), Fraction(0))
        if symbol in self.halted:
            return None
        if carry == 0:
            return plan_settlement(instrument, held, mark_units)
        stand_in = Position(_carry_bucket, symbol, 0, carry)
        plan = plan_settlement(instrument, [*held, stand_in], mark_units)
        payments = tuple(p for p in plan.payments if p.bucket != _carry_bucket)
        clearing = self.ledger.balance(clearing_id(symbol)).balance
        residual = clearing - sum(p.amount for p in payments)
        if residual < 0:
            return None
        return CyclePlan(symbol, payments, residual, plan.positions)

    def pay_funding(
        self, cycle: int, symbol: str, mark_units: int, rate: Fraction
    ) -> CycleOutcome:
        """One funding interval of a perpetual: longs pay shorts when the rate is positive."""
        instrument = self.instruments.get(symbol)
        if instrument is None:
            raise InputError(Result.instrument_not_found, symbol)
        held = [p for key, p in sorted(self.positions.items()) if key[1] == symbol]
        plan = plan_funding(instrument, held, mark_units, rate)
        return CycleOutcome(plan, self._post(cycle, "funding", plan, TransferCode.funding))

    def _post(
        self, cycle: int, kind: str, plan: CyclePlan, code: TransferCode,
        changes: PositionChanges | None = None,
    ) -> Result:
        """Losses, then gains, then the residue, as one linked chain through the market's
        clearing account: committed whole (``ok``, or ``exists`` on a retry) or refused whole
        (the refusing event's result). A market whose cycle does not fit one batch is refused
        with ``batch_too_large`` before anything is sent: splitting it would leave some
        positions paid and others not. Either way the clearing account ends at zero.
        ``changes`` (the positions a settlement resets) commit with the chain, in one store
        transaction, or not at all."""
        clearing = clearing_id(plan.symbol)
        for payment in plan.payments:
            if payment.amount < 0:
                balance = self.ledger.balance(collateral_id(payment.bucket)).balance
                if balance < -payment.amount:
                    raise InputError(
                        Result.settlement_exceeds_collateral,
                        f"{payment.bucket} owes {-payment.amount} in {plan.symbol}, holds "
                        f"{balance}: liquidate before settling",
                    )
        carried = self.ledger.balance(clearing).balance
        events = cycle_events(cycle, kind, plan, code, carried)
        if len(events) > limits.batch_events_max:
            return Result.batch_too_large
        if not events:
            if changes is not None:
                journal_positions(self.ledger, changes)
            return Result.ok
        results = self.ledger.submit_joined(
            chained(events),
            lambda rs: None if changes is None or not all_committed(rs)
            else positions_entry(changes),
        )
        refused = [r for r in results if not r.succeeded and r is not Result.linked_event_failed]
        outcome = Result.ok
        if refused:
            outcome = refused[0]
        elif any(not r.succeeded for r in results):
            outcome = Result.linked_event_failed
        elif all(r is Result.exists for r in results):
            outcome = Result.exists
        clearing_balance = self.ledger.balance(clearing).balance
        assert clearing_balance == 0, f"clearing {plan.symbol} holds {clearing_balance}"
        return outcome

    # ------------------------------------------------------------------ market data

    def record_market(self, market: MarketData) -> None:
        """Journal the market data the book was last scanned at, with the closes and postings
        the volatility model kept since its last market data entry."""
        closes, postings = volatility_delta(self.volatility, self.volatility_journaled)
        journal_market(self.ledger, MarketRecord(market, closes, postings))
        self.volatility_journaled = copy_of(self.volatility)

    # ------------------------------------------------------------------ scans

    def scan(
        self, market: MarketData, executor: Executor | None = None,
        buckets_per_range: int = limits.batch_range_buckets_default,
    ) -> ScanState:
        """Revalue every instrument once and scan every bucket against its collateral; with
        an ``executor``, the buckets in ranges, as tasks on it (the same result, bit for
        bit: ``core/risk/ranges.py``)."""
        instruments = list(self.instruments.values())
        table = instrument_table(instruments)
        forwards, vols = market_arrays(table, market)
        scenarios = (
            grid_scenarios(self.config.grid)
            if self.profile is Profile.grid
            else span_scenarios(self.config.span)
        )
        self.volatility.observe(market.now_ns, reference_prices(
            ((i.symbol, i.underlying, i.option_type is not None,
              i.strike_scale if i.option_type else i.price_scale) for i in instruments),
            market.prices), self.config.volatility)
        ranges = posted_ranges(table, self.volatility.ranges_ppm(market.price_ranges_ppm))
        arrays = build_risk_arrays(
            table, forwards, vols, now_ns=market.now_ns, scenarios=scenarios,
            config=self.config, price_ranges=ranges,
        )
        buckets = tuple(sorted(self.buckets.values(), key=lambda b: b.name))
        index = {bucket.name: k for k, bucket in enumerate(buckets)}
        book = self._book(table, buckets, index)
        layout = build_layout(book.modes, position_bucket=book.position_bucket,
                              position_row=book.position_row, position_lots=book.position_lots,
                              position_basis=book.position_basis, zero_row=table.count)
        multipliers = per_underlying(table, self.volatility.multipliers_ppm(
            market.multipliers_ppm), 1)
        assert multipliers is not None
        if executor is None:
            result = scan_book(layout, arrays, table, collateral=book.collateral,
                               config=self.config, underlying_multiplier=multipliers)
        else:
            parts = bucket_ranges(book, arrays, table, self.config, multipliers,
                                  buckets_per_range=buckets_per_range)
            result = joined_scans(executor.map(scan_bucket_range, parts))
        self.last_scan = ScanState(table, arrays, layout, buckets, index, result, multipliers)
        return self.last_scan

    def _book(
        self, table: InstrumentTable, buckets: Sequence[Bucket], index: Mapping[str, int]
    ) -> Book:
        # Closed positions whose realised P&L awaits the next cycle stay in: their basis is
        # owed (a loss) or owed to them (a gain) exactly as an open position's P&L is.
        held = [p for p in self.positions.values() if p.quantity_lots or p.basis]
        collateral = [self.ledger.balance(collateral_id(b.name)).balance for b in buckets]
        return Book(
            [bucket.mode for bucket in buckets],
            position_bucket=[index[p.bucket] for p in held],
            position_row=[table.index[p.symbol] for p in held],
            position_lots=[p.quantity_lots for p in held],
            position_basis=[float(p.basis) for p in held],  # float-ok: scan valuation
            collateral=np.array(collateral, dtype=object) if max(collateral, default=0) >= 2**62
            else np.array(collateral, dtype=np.int64),
        )

    def check(self, bucket: str, orders: Sequence[tuple[str, int, int]]) -> CheckResult:
        """Pre-trade check of (symbol, lots, price units) orders against the last scan."""
        state = self.last_scan
        if state is None:
            raise InputError(Result.mark_price_missing, "scan before checking orders")
        if bucket not in state.index:
            raise InputError(Result.bucket_not_found, bucket)
        owner = self.buckets[bucket]
        rows = []
        for symbol, lots, price_units in orders:
            instrument = self.instruments.get(symbol)
            if instrument is None or symbol not in state.table.index:
                raise InputError(Result.instrument_not_found, symbol)
            refused = owner.admits(instrument)
            if refused is not None:
                raise InputError(refused, f"{symbol} in {bucket}")
            value = float(instrument.lot_value(price_units))  # float-ok: scan valuation
            rows.append((state.table.index[symbol], lots, value))
        k = state.index[bucket]
        return check_orders(
            state.layout, state.arrays, state.table, config=self.config, bucket=k,
            collateral=self.ledger.balance(collateral_id(bucket)).balance, orders=rows,
            multiplier=state.result.risk_multiplier[k],
        )


def _bucket_cap(bucket: Bucket) -> int:
    return 1 if bucket.mode is MarginMode.isolated else limits.positions_per_bucket_max


def _check_defined(results: Sequence[Result]) -> None:
    for result in results:
        if not result.succeeded:
            raise InputError(result, "defining risk accounts")
