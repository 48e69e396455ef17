"""core/risk/posting.py: the volatility model posts once a day from the closes, with the
config's buffer, stress weight and floor; the history round-trips through its document."""

from __future__ import annotations

import math

import pytest

from ringfence.core.risk.config import VolatilityConfig, ppm
from ringfence.core.risk.posting import (
    Posting,
    VolatilityBook,
    nanoseconds_per_day,
    post,
    reference_prices,
)

config = VolatilityConfig()


def test_a_posting_is_the_buffered_anti_procyclical_range() -> None:
    # One return of +10%: EWMA, stressed and long-run variance are all r², so vol_apc = |r|,
    # the range z x |r| x sqrt(2), posted with the 25% buffer.
    posting = post("btc", 3, [100_000, 110_000], None, config)
    assert posting is not None
    r = math.log(1.1)
    calculated = 2.575829 * r * math.sqrt(2)
    assert posting.calculated_ppm == pytest.approx(calculated * ppm, abs=1)
    assert posting.posted_ppm == pytest.approx(calculated * 1.25 * ppm, abs=1)
    assert posting.posted_ppm >= calculated * 1.25 * ppm  # rounded up: against the client
    assert posting.returns == 1
    assert posting.floor_shortfall_days == 3_649
    assert post("btc", 3, [100_000], None, config) is None  # no return yet


def test_the_buffer_and_the_stress_weight_come_from_the_config() -> None:
    # A year of quiet days (0.1% moves) with one 30% jump and its reversal in the middle.
    closes = [100_000 + 100 * (k % 2) for k in range(365)]
    closes[200] = 130_000
    base = post("btc", 1, closes, None, config)
    wider = post("btc", 1, closes, None, VolatilityConfig(buffer_ppm=500_000))
    calmer = post("btc", 1, closes, None, VolatilityConfig(stress_weight_ppm=1))
    assert base is not None and wider is not None and calmer is not None
    assert wider.posted_ppm > base.posted_ppm
    assert wider.calculated_ppm == base.calculated_ppm
    # The stressed window (the jump) weighs 25% of the variance: without it the range falls
    # to the long-run floor, which spreads the jump over the whole year.
    assert calmer.calculated_ppm < base.calculated_ppm


def test_a_posted_range_rises_at_most_the_step_but_never_below_the_calculated() -> None:
    quiet = post("btc", 1, [100_000, 100_100], None, config)
    assert quiet is not None
    jump = post("btc", 2, [100_000, 100_100, 80_000], quiet.posted_ppm, config)
    assert jump is not None
    assert jump.posted_ppm >= jump.calculated_ppm  # the step limit never under-margins


def test_the_book_posts_on_the_first_price_of_each_day_only() -> None:
    book = VolatilityBook()
    day = nanoseconds_per_day
    assert book.observe(10 * day, {"btc": 100_000}, config) == []
    assert book.observe(10 * day + 5, {"btc": 120_000}, config) == []  # the day's close moves
    (first,) = book.observe(11 * day, {"btc": 90_000}, config)
    assert first.day == 11
    assert book.closes["btc"] == [(10, 120_000), (11, 90_000)]
    assert book.observe(11 * day + 1, {"btc": 95_000}, config) == []
    assert book.observe(9 * day, {"btc": 1}, config) == []  # older data rewrites nothing
    assert book.closes["btc"][-1] == (11, 95_000)
    (second,) = book.observe(12 * day, {"btc": 96_000}, config)
    assert book.postings == [first, second]
    assert book.ranges_ppm({}) == {"btc": second.posted_ppm}
    # Market data that gives a wider range (or another underlying's) wins.
    assert book.ranges_ppm({"btc": 10**7, "eth": 5}) == {"btc": 10**7, "eth": 5}
    assert book.multipliers_ppm({}) == {"btc": second.multiplier_ppm}
    again = VolatilityBook.from_document(book.to_document())
    assert again == book
    assert VolatilityBook.from_document({}) == VolatilityBook()


def test_reference_prices_take_the_first_future_in_common_units() -> None:
    instruments = [("btc-c", "btc", True, 0), ("btc-z", "btc", False, 1),
                   ("btc-a", "btc", False, 0), ("eth-c", "eth", True, 2)]
    prices = {"btc-c": 7, "btc-z": 650_000, "btc-a": 65_000, "eth-c": 340_000}
    assert reference_prices(instruments, prices) == {"btc": 65_000 * 10**9, "eth": 3_400 * 10**9}
    assert reference_prices(instruments, {"btc-z": 650_000}) == {"btc": 65_000 * 10**9}


def test_a_posting_from_a_document_must_hold_integers() -> None:
    posting = Posting("btc", 1, 1, 0, 1, 1, 1, ppm)
    document = VolatilityBook(postings=[posting]).to_document()
    assert VolatilityBook.from_document(document).latest == {"btc": posting}
    with pytest.raises(TypeError):
        VolatilityBook.from_document({"closes": {"btc": [[1, 1.5]]}})
