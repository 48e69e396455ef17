"""The venue's book rebuilt from its journal entries, in journal order.

``VenueBook`` holds what the entries of kinds 17-21 say (core/venue/codec.py): instruments
and the book's settings, buckets and takers, every fill by id with the positions they made,
positions set by settlements and liquidations, liquidation rounds, halted markets, the funds'
history, the last market data and the volatility model's closes and postings. ``apply`` takes
one entry's body; a body that is not a venue entry, or refers to a market or a bucket no
earlier entry defined, raises ``ValueError`` (stored bytes are input: a tampered journal is
reported by ``audit verify``, never applied).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ringfence.core import limits
from ringfence.core.ledger.journal import EntryKind, decode_header
from ringfence.core.risk.instruments import Bucket, Instrument, Position
from ringfence.core.risk.market import MarketData
from ringfence.core.risk.posting import VolatilityBook
from ringfence.core.risk.settlement import Fill, apply_fill
from ringfence.core.venue.codec import (
    FundRow,
    PositionChanges,
    Settings,
    decode_buckets,
    decode_fills,
    decode_instruments,
    decode_market,
    decode_positions,
)


@dataclass(slots=True)
class VenueBook:
    """The book as its journal entries left it."""

    settings: Settings | None = None
    instruments: dict[str, Instrument] = field(default_factory=dict)
    buckets: dict[str, Bucket] = field(default_factory=dict)
    takers: dict[str, str] = field(default_factory=dict)
    positions: dict[tuple[str, str], Position] = field(default_factory=dict)
    fills: dict[int, Fill | None] = field(default_factory=dict)  # None: known by id only
    rounds: set[int] = field(default_factory=set)
    halted: set[str] = field(default_factory=set)
    funds: list[FundRow] = field(default_factory=list)
    market: MarketData | None = None
    volatility: VolatilityBook = field(default_factory=VolatilityBook)
    entries: int = 0

    def apply(self, body: bytes) -> None:
        kind = decode_header(body).kind
        if kind is EntryKind.instruments:
            instruments, settings = decode_instruments(body)
            for instrument in instruments:
                if instrument.symbol in self.instruments:
                    raise ValueError(f"instrument {instrument.symbol} defined twice")
                self.instruments[instrument.symbol] = instrument
            if settings is not None:
                self.settings = settings
        elif kind is EntryKind.buckets:
            self._apply_buckets(body)
        elif kind is EntryKind.fills:
            for fill in decode_fills(body):
                self.apply_fill(fill)
        elif kind is EntryKind.positions:
            self.apply_changes(decode_positions(body))
        elif kind is EntryKind.market_data:
            record = decode_market(body)
            self.market = record.market
            for underlying, day, close in record.closes:
                _set_close(self.volatility, underlying, day, close)
            for posting in record.postings:
                self.volatility.latest[posting.underlying] = posting
                self.volatility.postings.append(posting)
                mine = [p for p in self.volatility.postings if p.underlying == posting.underlying]
                if len(mine) > limits.volatility_observations_max:
                    self.volatility.postings.remove(mine[0])
        else:
            raise ValueError(f"a {kind.name} entry is not the venue's")
        self.entries += 1

    def _apply_buckets(self, body: bytes) -> None:
        buckets, takers = decode_buckets(body)
        for bucket in buckets:
            if bucket.name in self.buckets:
                raise ValueError(f"bucket {bucket.name} opened twice")
            self.buckets[bucket.name] = bucket
        for symbol, bucket_name in takers:
            if symbol not in self.instruments or bucket_name not in self.buckets:
                raise ValueError(f"taker {bucket_name} of {symbol}: no such market or bucket")
            self.takers[symbol] = bucket_name

    def apply_fill(self, fill: Fill) -> None:
        """A journaled fill: its position grows as it did when it was applied."""
        instrument = self.instruments.get(fill.symbol)
        if instrument is None or fill.bucket not in self.buckets:
            raise ValueError(f"fill {fill.id}: no market {fill.symbol} or bucket {fill.bucket}")
        if fill.id in self.fills:
            raise ValueError(f"fill {fill.id} applied twice")
        key = (fill.bucket, fill.symbol)
        self.positions[key] = apply_fill(self.positions.get(key), fill, instrument)
        self.fills[fill.id] = fill

    def apply_changes(self, changes: PositionChanges) -> None:
        for position in changes.positions:
            if position.symbol not in self.instruments or position.bucket not in self.buckets:
                raise ValueError(f"position {position.bucket} {position.symbol}: unknown")
            key = (position.bucket, position.symbol)
            if position.quantity_lots == 0 and position.basis == 0:
                self.positions.pop(key, None)
            else:
                self.positions[key] = position
        self.rounds.update(changes.rounds)
        self.halted.update(changes.halted)
        self.funds.extend(changes.funds)
        for fill_id in changes.fill_ids:
            self.fills.setdefault(fill_id, None)


def _set_close(book: VolatilityBook, underlying: str, day: int, close: int) -> None:
    """A close as ``VolatilityBook.observe`` keeps it: that day's replaced, or appended."""
    closes = book.closes.setdefault(underlying, [])
    if closes and day < closes[-1][0]:
        raise ValueError(f"a close of {underlying} before its last")
    if closes and day == closes[-1][0]:
        closes[-1] = (day, close)
        return
    closes.append((day, close))
    del closes[: -limits.volatility_observations_max]
