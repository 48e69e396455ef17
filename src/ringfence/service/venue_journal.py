"""The venue's book in the journal: each change to it appended as an entry of kinds 17-21
(core/venue/codec.py), and the book read back by replaying them (core/venue/book.py).

A change that moves money is journaled with the transfers that move it, in one store
transaction (``LedgerService.submit_joined``): a fill with the fee it charges, a settlement
cycle with the positions it resets, an insurance fund's capital with the history row it
adds. So no crash can leave a fee charged without its position change, or a position reset
without its payments. Changes that move no money (instruments, buckets, takers, market
data) are entries of their own, after the ledger accounts they need.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ringfence.core.errors import Result
from ringfence.core.ledger.journal import EntryKind, venue_kinds
from ringfence.core.risk.config import RiskConfig
from ringfence.core.risk.instruments import Bucket, Instrument
from ringfence.core.risk.posting import Posting, VolatilityBook
from ringfence.core.risk.settlement import Fill
from ringfence.core.venue.book import VenueBook
from ringfence.core.venue.codec import (
    FundRow,
    MarketRecord,
    PositionChanges,
    Settings,
    encode_buckets,
    encode_fills,
    encode_instruments,
    encode_market,
    encode_positions,
)
from ringfence.service.ledger import LedgerService

Encoder = Callable[[int, int], bytes]


def settings_of(revenue_accounts: dict[str, int], profile: str, config: RiskConfig) -> Settings:
    text = json.dumps(config.to_dict(), sort_keys=True, separators=(",", ":"))
    return Settings(tuple(sorted(revenue_accounts.items())), profile, text.encode("ascii"))


def config_of(settings: Settings) -> RiskConfig:
    return RiskConfig.from_dict(json.loads(settings.config_json))


def read_book(ledger: LedgerService) -> VenueBook:
    """The book as the journal of ``ledger`` holds it."""
    book = VenueBook()
    for entry in ledger.store.entries(kinds=venue_kinds):
        book.apply(entry.body)
    return book


def _append(ledger: LedgerService, kind: EntryKind, encode: Encoder) -> None:
    timestamp = ledger.next_timestamp()
    ledger.append_entry(kind, timestamp, lambda seq: encode(seq, timestamp))


def journal_instruments(
    ledger: LedgerService, instruments: Sequence[Instrument], settings: Settings | None
) -> None:
    if instruments or settings is not None:
        _append(ledger, EntryKind.instruments,
                lambda seq, at: encode_instruments(seq, at, instruments, settings))


def journal_buckets(
    ledger: LedgerService, buckets: Sequence[Bucket], takers: Sequence[tuple[str, str]] = ()
) -> None:
    if buckets or takers:
        _append(ledger, EntryKind.buckets, lambda seq, at: encode_buckets(seq, at, buckets, takers))


def journal_positions(ledger: LedgerService, changes: PositionChanges) -> None:
    if changes == PositionChanges():
        return  # nothing changed: no entry
    _append(ledger, EntryKind.positions, lambda seq, at: encode_positions(seq, at, changes))


def journal_market(ledger: LedgerService, record: MarketRecord) -> None:
    _append(ledger, EntryKind.market_data, lambda seq, at: encode_market(seq, at, record))


def fills_entry(fills: Sequence[Fill]) -> tuple[EntryKind, Encoder]:
    return EntryKind.fills, lambda seq, at: encode_fills(seq, at, fills)


def positions_entry(changes: PositionChanges) -> tuple[EntryKind, Encoder]:
    return EntryKind.positions, lambda seq, at: encode_positions(seq, at, changes)


def journal_fills(ledger: LedgerService, fills: Sequence[Fill]) -> None:
    """Fills that charge no fee: an entry of their own."""
    if fills:
        _append(ledger, *fills_entry(fills))


def all_committed(results: Sequence[Result]) -> bool:
    return all(result.succeeded for result in results)


def volatility_delta(
    book: VolatilityBook, journaled: VolatilityBook
) -> tuple[tuple[tuple[str, int, int], ...], tuple[Posting, ...]]:
    """What the volatility model kept since ``journaled``: the closes set (a day appended,
    or the last day's replaced) and the postings made, in the order it made them."""
    closes: list[tuple[str, int, int]] = []
    for underlying, kept in sorted(book.closes.items()):
        before = journaled.closes.get(underlying, [])
        last = before[-1] if before else None
        for day, close in kept:
            if last is None or day > last[0] or (day == last[0] and close != last[1]):
                closes.append((underlying, day, close))
    seen = {(p.underlying, p.day) for p in journaled.postings}
    postings = tuple(p for p in book.postings if (p.underlying, p.day) not in seen)
    return tuple(closes), postings


def copy_of(book: VolatilityBook) -> VolatilityBook:
    return VolatilityBook(
        {u: list(closes) for u, closes in book.closes.items()}, list(book.postings),
        dict(book.latest),
    )


# Stands in for a fill known only by id (a book imported from a file): any body compares
# unequal, so a repeated id is refused with ``fill_exists_with_different_body``.
seen_fill = Fill(1, "seen", "seen", 1, 1)


def history_row(row: FundRow) -> dict[str, Any]:
    """A journaled fund row as ``RiskService.insurance_history`` holds it."""
    if row.funding:
        return {"round": "", "market": row.market, "funded": row.market, "amount": row.amount,
                "balance": row.balance}
    return {"round": str(row.round_id), "market": row.market, "fees_in": row.amount,
            "paid_out": row.paid_out, "balance": row.balance, "unresolved": row.unresolved}


def fund_row(row: Mapping[str, Any]) -> FundRow:
    """A history row of ``RiskService.insurance_history`` as the journal keeps it."""
    if row.get("funded"):
        return FundRow(0, str(row["market"]), int(row["amount"]), 0, int(row["balance"]), 0,
                       True)
    return FundRow(int(row["round"]), str(row["market"]), int(row["fees_in"]),
                   int(row["paid_out"]), int(row["balance"]), int(row["unresolved"]), False)
