"""Fills in whole numbers: the integer path of ``apply_fill``, the fee ids derived directly and
the staging read in line give, field for field, what the general ``Fraction`` formulas give.

The reference here is the formula as it stood before the integer path: the basis grows by
``lots x lot_value(price)`` in ``Fraction`` arithmetic and the position is the old one with
its lots and basis replaced. Random instruments cover whole lot values (linear contracts
whose settlement scale covers size and price scales) and fractional ones (inverse contracts,
coarse settlement scales); settlements between fills reset the bases, as the venue does."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support import journal_signer

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.risk.instruments import Bucket, Instrument, InstrumentKind, MarginMode, Position
from ringfence.core.risk.settlement import Fill, apply_fill, plan_settlement
from ringfence.demo.venue import fund_buckets, set_up_venue, venue_instruments
from ringfence.service.ledger import LedgerService
from ringfence.service.risk import RiskService
from ringfence.service.risk_ledger import derived_id, fee_id


def reference_fill(position: Position | None, fill: Fill, instrument: Instrument) -> Position:
    """``apply_fill`` as the general ``Fraction`` formula computes it."""
    value = fill.quantity_lots * instrument.lot_value(fill.price_units)
    if position is None:
        return Position(fill.bucket, fill.symbol, fill.quantity_lots, value)
    lots = position.quantity_lots + fill.quantity_lots
    if abs(lots) > limits.quantity_lots_max:
        raise InputError(Result.quantity_invalid, f"{fill.bucket} {fill.symbol} {lots}")
    return replace(position, quantity_lots=lots, basis=position.basis + value)


def fields(position: Position) -> tuple[object, ...]:
    basis = position.basis
    return (position.bucket, position.symbol, position.quantity_lots, type(basis),
            basis.numerator, basis.denominator)


instruments = st.one_of(
    st.builds(
        lambda settlement, price, size, units: Instrument(
            "lin", InstrumentKind.perpetual, "btc", "USDC", settlement, price, 1, units, size),
        st.integers(0, 8), st.integers(0, 4), st.integers(0, 6), st.integers(1, 10**6)),
    st.builds(
        lambda settlement, price, face: Instrument(
            "inv", InstrumentKind.perpetual, "btc", "BTC", settlement, price, 1, face,
            inverse=True, tiers="inverse"),
        st.integers(0, 8), st.integers(0, 2), st.integers(1, 1_000)),
)
lots = st.integers(-limits.quantity_lots_max, limits.quantity_lots_max).filter(bool)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("fill"), st.integers(0, 3), st.one_of(lots, st.integers(-50, 50)
                  .filter(bool)), st.integers(1, 10**9)),
        st.tuples(st.just("settle"), st.integers(1, 10**9)),
    ),
    min_size=1, max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(instruments, steps)
def test_every_position_and_payment_is_the_fraction_formulas(instrument, script) -> None:  # type: ignore[no-untyped-def]
    fast: dict[str, Position] = {}
    slow: dict[str, Position] = {}
    for fill_id, step in enumerate(script, start=1):
        if step[0] == "settle":
            # The two books are equal, so are their settlements; both go on from the plan.
            # Only balanced books settle: mirror every position on a counterparty first.
            mark = step[1]
            held = [*slow.values(), *(_mirror(p) for p in slow.values())]
            fast_held = [*fast.values(), *(_mirror(p) for p in fast.values())]
            assert plan_settlement(instrument, fast_held, mark) == plan_settlement(
                instrument, held, mark)
            after = plan_settlement(instrument, held, mark).positions
            slow = {p.bucket: p for p in after if not p.bucket.startswith("m")}
            fast = dict(slow)
            continue
        _, who, quantity, price = step
        fill = Fill(fill_id, f"b{who}", instrument.symbol, quantity, price)
        lot_value = instrument.lot_value(price)
        try:
            expected = reference_fill(slow.get(fill.bucket), fill, instrument)
        except InputError as refused:
            with pytest.raises(InputError) as raised:
                apply_fill(fast.get(fill.bucket), fill, instrument, lot_value)
            assert raised.value.code is refused.code
            continue
        for given_value in (None, lot_value):
            got = apply_fill(fast.get(fill.bucket), fill, instrument, given_value)
            assert got == expected
            assert fields(got) == fields(expected)
        slow[fill.bucket] = expected
        fast[fill.bucket] = got


def _mirror(position: Position) -> Position:
    return Position("m" + position.bucket, position.symbol, -position.quantity_lots,
                    -position.basis)


@settings(max_examples=500, deadline=None)
@given(st.integers(1, limits.id_max))
def test_a_fee_id_is_the_derived_name_of_its_fill(fill_id: int) -> None:
    assert fee_id(fill_id) == derived_id("fee", fill_id)


buckets = [
    Bucket("alice-x", "alice", MarginMode.cross, "USDC", "USDC"),
    Bucket("bob-iso", "bob", MarginMode.isolated, "USDC", "btc-usdc-perp"),
    Bucket("carol-pm", "carol", MarginMode.portfolio, "BTC", "btc"),
]
service_fill = st.tuples(
    st.integers(1, 12),  # fill ids repeat: ``exists`` or a different body
    st.sampled_from(["alice-x", "bob-iso", "carol-pm", "nobody"]),
    st.sampled_from(["btc-usdc-perp", "eth-usdc-perp", "btc-usd-perp", "btc-7d-65k-c"]),
    st.one_of(st.integers(-3_000, 3_000).filter(bool),
              st.sampled_from([limits.quantity_lots_max, -limits.quantity_lots_max])),
    st.integers(1, 20_000).map(lambda p: p * 50),
    st.integers(0, 5),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(service_fill, min_size=1, max_size=12), min_size=1, max_size=3))
def test_the_service_keeps_the_positions_the_fraction_formulas_give(groups) -> None:  # type: ignore[no-untyped-def]
    ledger = LedgerService(MemoryStore(), ManualClock(), journal_signer())
    venue = RiskService(ledger, set_up_venue(ledger, ["alice", "bob", "carol"]))
    venue.define_instruments(venue_instruments(ledger.clock.now_ns()))
    pools = {"USDC": "venue-usdc", "BTC": "venue-btc"}
    venue.open_buckets([(b, pools[b.settlement]) for b in buckets])
    fund_buckets(ledger, buckets, {"USDC": 10**12, "BTC": 10**12})
    expected: dict[tuple[str, str], Position] = {}
    for group in groups:
        fills = [Fill(*row) for row in group]
        results = venue.apply_fills(fills)
        for fill, result in zip(fills, results, strict=True):
            if result is Result.ok:
                key = (fill.bucket, fill.symbol)
                instrument = venue.instruments[fill.symbol]
                expected[key] = reference_fill(expected.get(key), fill, instrument)
        assert venue.positions == expected
        assert {k: fields(p) for k, p in venue.positions.items()} == {
            k: fields(p) for k, p in expected.items()}
    read, _ = RiskService.from_journal(ledger)
    assert read.positions == expected
