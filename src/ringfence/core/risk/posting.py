"""What the volatility model posts, and when: the anti-procyclical price scan range and the
initial-margin multiplier of each underlying, from its daily closes.

``volatility`` holds the statistics (EWMA, the stressed period, the 10-year floor, the
buffer and step limits, the risk score); this module keeps the history they read and decides
when a posting happens. Pure: the shell passes each market data's time and prices in.

- **Closes.** Each underlying has a reference instrument (its first future or perpetual by
  symbol; an option's price, the underlying's forward, only when it has no future), its
  price kept in units of 10^-9 of the quote. The last
  price seen on each UTC day is that day's close; prices from a day before the last close are
  ignored (history is never rewritten). At most ``limits.volatility_observations_max``
  closes are kept (twenty years).
- **Postings.** On the first price of a new day the model posts, from every close up to and
  including that price: ``range = z x vol_apc x sqrt(holding_days)`` with ``vol_apc`` the EWMA
  volatility blended with the stressed one (``stress_weight_ppm``) and floored by the 10-year
  one (``lookback_floor_days``), then the buffer (``buffer_ppm``) and the step limits against
  the previous posting. Ranges and multipliers are rounded up to the ppm (against the client:
  a wider range, a larger multiplier). An underlying with a single close posts nothing yet.
  A posting is a function of the closes and the previous posting only: recomputing it gives
  the same figures.
- **Use.** Every scan takes the posted range and multiplier of each underlying, or the
  market data's own where it gives a larger one (docs/risk.md, "Anti-procyclicality").
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ringfence.core import limits
from ringfence.core.risk.config import VolatilityConfig, ppm
from ringfence.core.risk.volatility import (
    apc_variance,
    ewma_variance,
    long_run_variance,
    posted_range,
    price_scan_range,
    risk_score,
    stressed_variance,
)

nanoseconds_per_day = 24 * 3600 * 10**9


@dataclass(frozen=True, slots=True)
class Posting:
    """One underlying's posted figures on one day (ppm of one, rounded up)."""

    underlying: str
    day: int  # days since the epoch (UTC)
    returns: int  # daily returns the model read
    floor_shortfall_days: int  # days the 10-year floor's lookback lacks (0 after 10 years)
    volatility_ppm: int  # the anti-procyclical daily volatility
    calculated_ppm: int  # the price scan range before the buffer and the step limits
    posted_ppm: int  # the range every scan uses
    multiplier_ppm: int  # the initial-margin multiplier from the risk score


def post(
    underlying: str, day: int, closes: list[int], previous_ppm: int | None,
    config: VolatilityConfig,
) -> Posting | None:
    """The posting of ``day`` from the closes up to it (None with fewer than two)."""
    assert all(close > 0 for close in closes), "a close is a positive price"
    assert len(closes) <= limits.volatility_observations_max + 1
    if len(closes) < 2:
        return None
    prices = np.asarray(closes, dtype=np.float64)  # float-ok: statistics, not money
    returns = np.diff(np.log(prices))[:, None]
    ewma = ewma_variance(returns, config)[-1]
    long_run = long_run_variance(returns, config)
    blended = apc_variance(ewma, stressed_variance(returns), long_run.variance, config)
    calculated = price_scan_range(blended, config)
    previous = None if previous_ppm is None else np.array([previous_ppm]) / ppm
    posted = posted_range(calculated, previous, config)
    score = risk_score(ewma, long_run.variance, config)
    return Posting(
        underlying, day, returns.shape[0], long_run.shortfall_days,
        _ppm_up(np.sqrt(blended[0])), _ppm_up(calculated[0]), max(_ppm_up(posted[0]), 1),
        max(_ppm_up(score.multiplier[0]), ppm),
    )


def _ppm_up(value: np.floating[Any]) -> int:
    """A statistic in ppm, rounded up (a range or multiplier: against the client)."""
    assert np.isfinite(value)
    return math.ceil(value * ppm)


@dataclass(slots=True)
class VolatilityBook:
    """The closes and the postings of every underlying: what the model reads and posted."""

    closes: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # (day, price)
    postings: list[Posting] = field(default_factory=list)  # oldest first
    latest: dict[str, Posting] = field(default_factory=dict)

    def observe(
        self, now_ns: int, prices: Mapping[str, int], config: VolatilityConfig
    ) -> list[Posting]:
        """Record each underlying's price (``prices`` per underlying, in its reference
        instrument's units) as the day's close; post on a new day. Returns the postings."""
        assert now_ns >= 0
        day = now_ns // nanoseconds_per_day
        posted = []
        for underlying, price in sorted(prices.items()):
            closes = self.closes.setdefault(underlying, [])
            if closes and day < closes[-1][0]:
                continue  # an older price never rewrites a close
            if closes and day == closes[-1][0]:
                closes[-1] = (day, price)
                continue
            closes.append((day, price))
            del closes[: -limits.volatility_observations_max]
            previous = self.latest.get(underlying)
            posting = post(underlying, day, [p for _, p in closes],
                           previous.posted_ppm if previous else None, config)
            if posting is not None:
                self._remember(posting)
                posted.append(posting)
        return posted

    def _remember(self, posting: Posting) -> None:
        self.latest[posting.underlying] = posting
        self.postings.append(posting)
        mine = [p for p in self.postings if p.underlying == posting.underlying]
        if len(mine) > limits.volatility_observations_max:
            self.postings.remove(mine[0])

    def ranges_ppm(self, given: Mapping[str, int]) -> dict[str, int]:
        """The range each scan uses per underlying: the posted one, or ``given`` (the market
        data's) where that is larger."""
        return _larger({u: p.posted_ppm for u, p in self.latest.items()}, given)

    def multipliers_ppm(self, given: Mapping[str, int]) -> dict[str, int]:
        return _larger({u: p.multiplier_ppm for u, p in self.latest.items()}, given)

    def to_document(self) -> dict[str, Any]:
        return {
            "closes": {u: [list(c) for c in closes] for u, closes in sorted(self.closes.items())},
            "postings": [asdict(p) for p in self.postings],
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> VolatilityBook:
        """The book's volatility section; a missing section (a book saved before postings
        were kept) is an empty history."""
        book = cls()
        for underlying, closes in document.get("closes", {}).items():
            book.closes[str(underlying)] = [(_whole(d), _whole(p)) for d, p in closes]
        for row in document.get("postings", []):
            posting = Posting(str(row["underlying"]), *(_whole(row[name]) for name in _counts))
            book.postings.append(posting)
            book.latest[posting.underlying] = posting
        return book


_counts = ("day", "returns", "floor_shortfall_days", "volatility_ppm", "calculated_ppm",
           "posted_ppm", "multiplier_ppm")


def _whole(value: object) -> int:
    if type(value) is not int:
        raise TypeError(f"{value!r} is not an integer")
    return value


def _larger(posted: Mapping[str, int], given: Mapping[str, int]) -> dict[str, int]:
    merged = dict(posted)
    for underlying, value in given.items():
        merged[underlying] = max(merged.get(underlying, 0), value)
    return merged


def reference_prices(
    instruments: Iterable[tuple[str, str, bool, int]], prices: Mapping[str, int]
) -> dict[str, int]:
    """Each underlying's price from its reference instrument, in units of 10^-9 (so a close
    does not jump if another instrument becomes the reference): ``instruments`` as (symbol,
    underlying, is option, price scale); futures first, then by symbol."""
    chosen: dict[str, tuple[bool, str, int]] = {}
    for symbol, underlying, option, scale in instruments:
        assert 0 <= scale <= _close_scale
        if symbol in prices and (option, symbol) < chosen.get(underlying, (True, "\uffff"))[:2]:
            chosen[underlying] = (option, symbol, scale)
    return {underlying: prices[symbol] * 10 ** (_close_scale - scale)
            for underlying, (_, symbol, scale) in chosen.items()}


_close_scale = 9  # closes are kept in units of 10^-9 of the quote
