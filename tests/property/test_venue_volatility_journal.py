"""The volatility model's history, journaled as deltas (service/venue_journal.py
``volatility_delta``) with market data entries whenever the book is saved, replays
(core/venue/book.py) to exactly the history the model kept: closes and postings alike,
whatever the prices, the days (repeated, skipped, going backwards) and the save points."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ringfence.core.risk.config import VolatilityConfig
from ringfence.core.risk.market import MarketData
from ringfence.core.risk.posting import VolatilityBook, nanoseconds_per_day
from ringfence.core.venue.book import VenueBook
from ringfence.core.venue.codec import MarketRecord, encode_market
from ringfence.service.venue_journal import copy_of, volatility_delta

observations = st.lists(
    st.tuples(
        st.integers(0, 40),  # day
        st.dictionaries(st.sampled_from(["btc", "eth"]), st.integers(1, 10**12), min_size=1),
        st.booleans(),  # saved after this observation
    ),
    max_size=30,
)


@given(observations)
@settings(max_examples=60, deadline=None)
def test_replayed_history_is_the_history_observed(
    steps: list[tuple[int, dict[str, int], bool]],
) -> None:
    config = VolatilityConfig()
    model = VolatilityBook()
    journaled = VolatilityBook()
    replayed = VenueBook()
    seq = 0
    for day, prices, saved in [*steps, (0, {}, True)]:
        if prices:
            model.observe(day * nanoseconds_per_day, prices, config)
        if saved:
            closes, postings = volatility_delta(model, journaled)
            seq += 1
            replayed.apply(encode_market(seq, seq, MarketRecord(MarketData(0, {}), closes,
                                                                postings)))
            journaled = copy_of(model)
    assert replayed.volatility.closes == {u: c for u, c in model.closes.items() if c}
    assert replayed.volatility.postings == model.postings
    assert replayed.volatility.latest == model.latest
