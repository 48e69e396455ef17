"""Settlement properties: whatever the fills and marks, a market's clearing account nets to
zero each cycle, the residue is never negative, and no client gains from rounding."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from ringfence.core.risk.instruments import Instrument, InstrumentKind
from ringfence.core.risk.settlement import Fill, apply_fill, plan_funding, plan_settlement

markets = [
    Instrument("lin", InstrumentKind.perpetual, "btc", "USDC", 6, 1, 1, 1, 3),
    Instrument("inv", InstrumentKind.perpetual, "btc", "BTC", 8, 1, 5, 100, inverse=True,
               tiers="inverse"),
]
price = st.integers(100_000, 2_000_000).map(lambda p: p // 5 * 5)
trade = st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(1, 1_000), price)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(markets), st.lists(st.lists(trade, max_size=8), min_size=1, max_size=4),
       st.lists(price, min_size=4, max_size=4), st.integers(-100, 100))
def test_every_cycle_nets_to_zero(instrument, cycles, marks, rate) -> None:  # type: ignore[no-untyped-def]
    positions: dict[str, object] = {}
    fill_id = 1
    for cycle, trades in enumerate(cycles):
        for buyer, seller, lots, at in trades:
            if buyer == seller:
                continue
            for bucket, signed in ((f"b{buyer}", lots), (f"b{seller}", -lots)):
                fill = Fill(fill_id, bucket, instrument.symbol, signed, at)
                positions[bucket] = apply_fill(positions.get(bucket), fill, instrument)  # type: ignore[arg-type]
                fill_id += 1
        held = list(positions.values())
        plan = plan_settlement(instrument, held, marks[cycle])  # type: ignore[arg-type]
        assert plan.paid_in == plan.paid_out + plan.residual
        assert plan.residual >= 0
        for payment in plan.payments:
            assert payment.amount <= payment.exact
        positions = {p.bucket: p for p in plan.positions}
        funding = plan_funding(instrument, list(positions.values()), marks[cycle],  # type: ignore[arg-type]
                               Fraction(rate, 100_000))
        assert funding.paid_in == funding.paid_out + funding.residual
        assert funding.residual >= 0
