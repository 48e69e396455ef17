"""``audit verify`` of the venue's book: the book rebuilt from its journal entries, and every
fill held to the fee it charged.

A fill's fee is a ``fee`` transfer whose id derives from the fill's (service/risk_ledger.py),
journaled in the same store transaction as the fill, in the transfers entry right before the
fills entry. The audit replays each venue entry into a ``VenueBook`` (an entry that does not
decode, or names a market or bucket no earlier entry defined, is ``replay_failed``), and
checks both directions of the pairing:

- every fill charging a fee has that fee on the ledger, with its bucket's collateral account,
  the market's revenue account and the fill's amount (``venue_fee_missing`` otherwise);
- every ``fee`` transfer out of a bucket's collateral account belongs to a journaled fill
  (``venue_fill_missing`` otherwise): no fee was charged for a fill the book does not hold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ringfence.core.ledger.journal import EntryKind, JournalEntry
from ringfence.core.ledger.model import TransferCode, TransferRecord
from ringfence.core.venue.book import VenueBook
from ringfence.service.risk_ledger import collateral_id, fee_id

Problem = Callable[[str, str, str], None]  # ``AuditRun.problem``: kind, where, detail


@dataclass
class VenueAudit:
    """The venue's side of one audit: the book replayed so far and the fees seen."""

    book: VenueBook = field(default_factory=VenueBook)
    previous: list[TransferRecord] = field(default_factory=list)  # the entry before, if transfers
    collateral: dict[int, str] = field(default_factory=dict)  # account id -> bucket
    fees_charged: dict[int, int] = field(default_factory=dict)  # fee id -> seq
    fees_of_fills: set[int] = field(default_factory=set)

    def transfers(self, records: list[TransferRecord], seq: int) -> None:
        """A transfers entry, in journal order: its fees out of collateral are remembered."""
        self.previous = records
        for record in records:
            if record.code == TransferCode.fee and record.debit_account in self.collateral:
                self.fees_charged[record.id] = seq

    def entry(self, entry: JournalEntry, problem: Problem) -> None:
        """A venue entry: applied to the book, its fills' fees checked."""
        book = self.book
        buckets_before = set(book.buckets)
        fills_before = len(book.fills)
        book.apply(entry.body)
        for name in set(book.buckets) - buckets_before:
            self.collateral[collateral_id(name)] = name
        joined = {record.id: record for record in self.previous}
        self.previous = []
        if entry.kind is not EntryKind.fills:
            return
        revenue = dict(book.settings.revenue_accounts) if book.settings else {}
        for fill in list(book.fills.values())[fills_before:]:
            if fill is None or not fill.fee_units:
                continue
            fee = fee_id(fill.id)  # the id the writer gave it (service/risk.py)
            self.fees_of_fills.add(fee)
            record = joined.get(fee)
            settlement = book.instruments[fill.symbol].settlement
            expected = (collateral_id(fill.bucket), revenue.get(settlement), fill.fee_units)
            if fee in self.fees_charged and record is None:
                continue  # charged by an earlier entry (journals older than joined commits)
            if record is None or (
                record.debit_account, record.credit_account, record.amount
            ) != expected:
                problem("venue_fee_missing", f"journal entry {entry.seq}",
                        f"fill {fill.id} charges {fill.fee_units}, and no such fee was "
                        "committed with it")

    def finish(self, problem: Problem) -> None:
        for fee, seq in sorted(self.fees_charged.items(), key=lambda item: item[1]):
            if fee not in self.fees_of_fills:
                problem("venue_fill_missing", f"journal entry {seq}",
                        f"fee transfer {fee} out of a bucket belongs to no journaled fill")

