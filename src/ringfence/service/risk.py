"""The risk service: buckets on the ledger, fills into positions, settlement, scans.

Gather, decide, apply. Buckets are ledger ``client`` accounts of kind ``collateral:<bucket>``
in the client's margin pool; each market (instrument) has a ``system`` clearing account and a
``house`` insurance account. The service keeps the venue's book (instruments, buckets,
positions, fill ids), lets ``core.risk`` decide, and posts the money through the ledger:

- a fill updates its position and charges its fee (collateral -> house revenue, ``fee``);
- a settlement cycle pays each position's variation margin at the mark through the market's
  clearing account (``pnl_settlement``): every loss first, then every gain, then the rounding
  residue to the market's insurance fund (``clearing_residual``); the clearing account is back
  to zero after every cycle, and the service checks it;
- funding for perpetuals moves the same way with ``funding``;
- a scan reads every bucket's collateral balance from the ledger and returns per bucket
  equity, requirements, health and Greeks in exact minor units.

Transfer and account ids are derived from names (SHA-256), so re-running a cycle after a crash
is idempotent: the ledger answers ``exists``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from ringfence.core import limits
from ringfence.core.errors import InputError, Result, StorageError
from ringfence.core.model import AccountClass, AccountDefinition, Transfer, TransferCode
from ringfence.core.risk.config import RiskConfig, ppm
from ringfence.core.risk.instruments import (
    Bucket,
    Instrument,
    InstrumentKind,
    MarginMode,
    OptionType,
    Position,
)
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
from ringfence.service.ledger_service import LedgerService

# Market accounts are named ``clearing:<symbol>`` and ``insurance:<symbol>`` (32 at most).
_symbol_length_max = limits.name_length_max - len("insurance:")


def derived_id(*parts: object) -> int:
    """A u128 id from a name: stable across runs, so retries are idempotent."""
    digest = hashlib.sha256(":".join(str(p) for p in ("ringfence-risk", *parts)).encode())
    return int.from_bytes(digest.digest()[:16], "big") or 1


@dataclass(frozen=True, slots=True)
class MarketData:
    """Prices for one scan: per instrument its price (futures: mark; options: the forward of
    the underlying) in price units of the instrument, and option volatilities in ppm."""

    now_ns: int
    prices: Mapping[str, int]
    volatilities_ppm: Mapping[str, int] = field(default_factory=dict)
    price_ranges_ppm: Mapping[str, int] = field(default_factory=dict)  # per underlying
    multipliers_ppm: Mapping[str, int] = field(default_factory=dict)  # per underlying


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

    # ------------------------------------------------------------------ definitions

    def define_instruments(self, instruments: Iterable[Instrument]) -> list[Result]:
        """Each market with its clearing and insurance accounts on the ledger."""
        results: list[Result] = []
        accounts: list[AccountDefinition] = []
        for instrument in instruments:
            existing = self.instruments.get(instrument.symbol)
            if existing is not None:
                same = existing == instrument
                different = Result.instrument_exists_with_different_body
                results.append(Result.exists if same else different)
                continue
            if len(instrument.symbol) > _symbol_length_max:
                raise InputError(Result.instrument_invalid, f"symbol {instrument.symbol} too long")
            if len(self.instruments) >= limits.instruments_max:
                raise InputError(Result.batch_too_large, "too many instruments")
            self.instruments[instrument.symbol] = instrument
            accounts += market_accounts(instrument)
            results.append(Result.ok)
        _check_defined(self.ledger.define_accounts(accounts))
        return results

    def open_buckets(self, buckets: Iterable[tuple[Bucket, str]]) -> list[Result]:
        """Buckets with their collateral accounts in the given (margin) pools."""
        results: list[Result] = []
        accounts: list[AccountDefinition] = []
        for bucket, pool in buckets:
            existing = self.buckets.get(bucket.name)
            if existing is not None:
                same = existing == bucket
                results.append(Result.exists if same else Result.bucket_exists_with_different_body)
                continue
            self.buckets[bucket.name] = bucket
            accounts.append(collateral_account(bucket, pool))
            results.append(Result.ok)
        _check_defined(self.ledger.define_accounts(accounts))
        return results

    # ------------------------------------------------------------------ fills

    def apply_fills(self, fills: Sequence[Fill]) -> list[Result]:
        """Open, change and close positions; charge fees. Same fill id and body: ``exists``."""
        results: list[Result] = []
        fees: list[Transfer] = []
        for fill in fills:
            result = self._apply_fill(fill)
            results.append(result)
            if result is Result.ok and fill.fee_units:
                instrument = self.instruments[fill.symbol]
                fees.append(
                    Transfer(
                        derived_id("fee", fill.id),
                        collateral_id(fill.bucket),
                        self.revenue_accounts[instrument.settlement],
                        fill.fee_units,
                        TransferCode.fee,
                    )
                )
        if fees:
            for index, outcome in enumerate(self.ledger.submit_all(fees)):
                if not outcome.succeeded:
                    raise StorageError(f"fee of fill {fees[index].id} refused: {outcome.value}")
        return results

    def _apply_fill(self, fill: Fill) -> Result:
        seen = self.fills.get(fill.id)
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
        if key not in self.positions and self._positions_held(fill.bucket) >= _bucket_cap(bucket):
            return Result.positions_per_bucket_exceeded
        try:
            self.positions[key] = apply_fill(self.positions.get(key), fill, instrument)
        except InputError as error:
            return error.code
        self.fills[fill.id] = fill
        self.last_scan = None
        return Result.ok

    def _positions_held(self, bucket: str) -> int:
        return sum(1 for key in self.positions if key[0] == bucket)

    # ------------------------------------------------------------------ settlement

    def settle(self, cycle: int, marks: Mapping[str, int]) -> list[CyclePlan]:
        """Variation margin for every market with positions, at the given marks."""
        plans = []
        for symbol in sorted({key[1] for key in self.positions}):
            if symbol not in marks:
                raise InputError(Result.mark_price_missing, symbol)
            instrument = self.instruments[symbol]
            held = [p for key, p in sorted(self.positions.items()) if key[1] == symbol]
            plan = plan_settlement(instrument, held, marks[symbol])
            self._post(cycle, "settle", plan, TransferCode.pnl_settlement)
            for position in held:
                del self.positions[(position.bucket, symbol)]
            for position in plan.positions:
                self.positions[(position.bucket, symbol)] = position
            plans.append(plan)
        self.last_scan = None
        return plans

    def pay_funding(self, cycle: int, symbol: str, mark_units: int, rate: Fraction) -> CyclePlan:
        """One funding interval of a perpetual: longs pay shorts when the rate is positive."""
        instrument = self.instruments.get(symbol)
        if instrument is None:
            raise InputError(Result.instrument_not_found, symbol)
        held = [p for key, p in sorted(self.positions.items()) if key[1] == symbol]
        plan = plan_funding(instrument, held, mark_units, rate)
        self._post(cycle, "funding", plan, TransferCode.funding)
        return plan

    def _post(self, cycle: int, kind: str, plan: CyclePlan, code: TransferCode) -> None:
        """Losses, then gains, then the residue: the clearing account ends at zero."""
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
        events = []
        for payment in sorted(plan.payments, key=lambda p: (p.amount > 0, p.bucket)):
            account = collateral_id(payment.bucket)
            ids = (kind, cycle, plan.symbol, payment.bucket)
            if payment.amount < 0:
                events.append(Transfer(derived_id(*ids), account, clearing, -payment.amount, code))
            else:
                events.append(Transfer(derived_id(*ids), clearing, account, payment.amount, code))
        if plan.residual:
            events.append(
                Transfer(
                    derived_id(kind, cycle, plan.symbol, "residual"),
                    clearing,
                    insurance_id(plan.symbol),
                    plan.residual,
                    TransferCode.clearing_residual,
                )
            )
        results = self.ledger.submit_all(events) if events else []
        refused = [r for r in results if not r.succeeded]
        if refused:
            raise StorageError(f"{kind} of {plan.symbol} cycle {cycle}: {refused[0].value}")
        clearing_balance = self.ledger.balance(clearing).balance
        assert clearing_balance == 0, f"clearing {plan.symbol} holds {clearing_balance}"

    # ------------------------------------------------------------------ scans

    def scan(self, market: MarketData) -> ScanState:
        """Revalue every instrument once and scan every bucket against its collateral."""
        instruments = list(self.instruments.values())
        table = instrument_table(instruments)
        forwards, vols = self._market_arrays(table, market)
        scenarios = (
            grid_scenarios(self.config.grid)
            if self.profile is Profile.grid
            else span_scenarios(self.config.span)
        )
        ranges = _per_underlying(table, market.price_ranges_ppm, None)
        arrays = build_risk_arrays(
            table, forwards, vols, now_ns=market.now_ns, scenarios=scenarios,
            config=self.config, price_ranges=ranges,
        )
        buckets = tuple(sorted(self.buckets.values(), key=lambda b: b.name))
        index = {bucket.name: k for k, bucket in enumerate(buckets)}
        layout = self._layout(table, buckets, index)
        collateral = [self.ledger.balance(collateral_id(b.name)).balance for b in buckets]
        multipliers = _per_underlying(table, market.multipliers_ppm, 1)
        assert multipliers is not None
        result = scan_book(
            layout, arrays, table, collateral=np.array(collateral, dtype=object)
            if max(collateral, default=0) >= 2**62 else np.array(collateral, dtype=np.int64),
            config=self.config, underlying_multiplier=multipliers,
        )
        self.last_scan = ScanState(table, arrays, layout, buckets, index, result, multipliers)
        return self.last_scan

    def _market_arrays(
        self, table: InstrumentTable, market: MarketData
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        forwards = np.empty(table.count)
        vols = np.zeros(table.count)
        for k, instrument in enumerate(table.instruments):
            price = market.prices.get(instrument.symbol)
            if price is None:
                raise InputError(Result.mark_price_missing, instrument.symbol)
            scale = instrument.strike_scale if instrument.option_type else instrument.price_scale
            forwards[k] = price / 10**scale
            if instrument.option_type is not None:
                vols[k] = market.volatilities_ppm.get(instrument.symbol, 0) / ppm
        return forwards, vols

    def _layout(
        self, table: InstrumentTable, buckets: Sequence[Bucket], index: Mapping[str, int]
    ) -> BookLayout:
        held = [p for p in self.positions.values() if p.quantity_lots]
        return build_layout(
            [bucket.mode for bucket in buckets],
            position_bucket=[index[p.bucket] for p in held],
            position_row=[table.index[p.symbol] for p in held],
            position_lots=[p.quantity_lots for p in held],
            position_basis=[float(p.basis) for p in held],  # float-ok: scan valuation
            zero_row=table.count,
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


def market_accounts(instrument: Instrument) -> list[AccountDefinition]:
    symbol = instrument.symbol
    return [
        AccountDefinition(
            clearing_id(symbol), instrument.settlement, AccountClass.system, symbol,
            f"clearing:{symbol}",
        ),
        AccountDefinition(
            insurance_id(symbol), instrument.settlement, AccountClass.house, "house",
            f"insurance:{symbol}",
        ),
    ]


def collateral_account(bucket: Bucket, pool: str) -> AccountDefinition:
    return AccountDefinition(
        collateral_id(bucket.name), bucket.settlement, AccountClass.client, bucket.client,
        bucket.account_kind, pool,
    )


def collateral_id(bucket: str) -> int:
    return derived_id("collateral", bucket)


def clearing_id(symbol: str) -> int:
    return derived_id("clearing", symbol)


def insurance_id(symbol: str) -> int:
    return derived_id("insurance", symbol)


def _bucket_cap(bucket: Bucket) -> int:
    return 1 if bucket.mode is MarginMode.isolated else limits.positions_per_bucket_max


def _check_defined(results: Sequence[Result]) -> None:
    for result in results:
        if not result.succeeded:
            raise InputError(result, "defining risk accounts")


def _per_underlying(
    table: InstrumentTable, values_ppm: Mapping[str, int], default: int | None
) -> np.ndarray[Any, Any] | None:
    if not values_ppm and default is None:
        return None
    base = np.float64(default or 0)
    return np.array(
        [values_ppm[u] / ppm if u in values_ppm else base for u in table.underlyings],
        dtype=np.float64,
    )


# ---------------------------------------------------------------------- the book as a document


def book_document(service: RiskService, market: MarketData | None) -> dict[str, Any]:
    """The venue's book as JSON-able values: what the CLI keeps between commands.

    Positions carry their exact basis as a ``"numerator/denominator"`` string.
    """
    pools = {
        name: service.ledger.ledger.accounts[collateral_id(name)].definition.pool
        for name in service.buckets
    }
    document: dict[str, Any] = {
        "config": service.config.to_dict(),
        "profile": service.profile.value,
        "revenue_accounts": {k: str(v) for k, v in service.revenue_accounts.items()},
        "instruments": [_instrument_document(i) for i in service.instruments.values()],
        "buckets": [
            {"name": b.name, "client": b.client, "mode": b.mode.value,
             "settlement": b.settlement, "scope": b.scope, "pool": pools[b.name]}
            for b in service.buckets.values()
        ],
        "positions": [
            {"bucket": p.bucket, "symbol": p.symbol, "lots": p.quantity_lots,
             "basis": f"{p.basis.numerator}/{p.basis.denominator}"}
            for p in service.positions.values()
        ],
        "fills": sorted(str(fill_id) for fill_id in service.fills),
    }
    if market is not None:
        document["market"] = {
            "now_ns": market.now_ns,
            "prices": dict(market.prices),
            "volatilities_ppm": dict(market.volatilities_ppm),
        }
    return document


def load_book(ledger: LedgerService, document: Mapping[str, Any]) -> tuple[RiskService, Any]:
    """A service over ``ledger`` from a book document; returns it and the market (or None).

    Fill ids already applied are remembered by id only: a repeated id answers ``exists``.
    """
    try:
        service = RiskService(
            ledger,
            {k: int(v) for k, v in document["revenue_accounts"].items()},
            RiskConfig.from_dict(document.get("config", {})),
            Profile(document.get("profile", "grid")),
        )
        instruments = [_instrument_of(i) for i in document["instruments"]]
        service.define_instruments(instruments)
        service.open_buckets(
            (Bucket(b["name"], b["client"], MarginMode(b["mode"]), b["settlement"],
                    b["scope"]), b["pool"])
            for b in document["buckets"]
        )
        for row in document["positions"]:
            numerator, denominator = row["basis"].split("/")
            position = Position(row["bucket"], row["symbol"], int(row["lots"]),
                                Fraction(int(numerator), int(denominator)))
            service.positions[(position.bucket, position.symbol)] = position
        for fill_id in document.get("fills", []):
            service.fills[int(fill_id)] = _seen
        raw = document.get("market")
        market = None if raw is None else MarketData(
            int(raw["now_ns"]), {k: int(v) for k, v in raw["prices"].items()},
            {k: int(v) for k, v in raw.get("volatilities_ppm", {}).items()},
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise InputError(Result.line_malformed, f"risk book: {error!r}") from None
    return service, market


# Stands in for a fill known only by id (from a saved book): any body compares unequal.
_seen = Fill(1, "seen", "seen", 1, 1)


def _instrument_document(instrument: Instrument) -> dict[str, Any]:
    document = {
        "symbol": instrument.symbol, "kind": instrument.kind.value,
        "underlying": instrument.underlying, "settlement": instrument.settlement,
        "settlement_scale": instrument.settlement_scale, "price_scale": instrument.price_scale,
        "tick_units": instrument.tick_units, "size_units": instrument.size_units,
        "size_scale": instrument.size_scale, "inverse": instrument.inverse,
        "tiers": instrument.tiers, "expiry_ns": instrument.expiry_ns,
        "strike_units": instrument.strike_units, "strike_scale": instrument.strike_scale,
    }
    if instrument.option_type is not None:
        document["option_type"] = instrument.option_type.value
    return document


def _instrument_of(document: Mapping[str, Any]) -> Instrument:
    values = dict(document)
    values["kind"] = InstrumentKind(values["kind"])
    if "option_type" in values:
        values["option_type"] = OptionType(values["option_type"])
    return Instrument(**values)
