"""Possession breaks carried from recorded check to check: first seen kept, aged, closed when
gone, never reopened; their journal records, and a book that refuses a journal this code would
not have written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ringfence.core.ledger.framing import framed, header_bytes, unframed
from ringfence.core.ledger.journal import EntryKind
from ringfence.core.regulatory.possession import PossessionBreak
from ringfence.core.regulatory.possession_breaks import (
    CarriedPossessionBreak,
    PossessionBook,
    carried_breaks,
    decode_possession_check,
    encode_possession_check,
    replay_possession_check,
)

S = 10**9


def short(pool: str, asset: str, unapproved: int = 0, encumbered: int = 0, deficit: int = 0):
    amount = unapproved + encumbered + deficit
    return PossessionBreak(pool, asset, amount, unapproved, encumbered, deficit)


def check(
    book: PossessionBook, at_s: int, *breaks: PossessionBreak
) -> list[CarriedPossessionBreak]:
    snapshots = carried_breaks(book, breaks, at_s * S)
    # Every check goes through the journal's bytes, as a recorded one does.
    replay_possession_check(book, encode_possession_check(7, at_s * S, at_s * S, snapshots))
    return snapshots


def test_a_break_seen_again_keeps_its_first_seen_and_ages_and_one_gone_is_closed() -> None:
    book = PossessionBook()
    (first,) = check(book, 10, short("p1", "BTC", encumbered=30))
    assert (first.id, first.first_seen_ns, first.age_s(10 * S), first.shortfall) == (
        1,
        10 * S,
        0,
        30,
    )
    carried, new = check(book, 70, short("p1", "BTC", deficit=20), short("p2", "ETH", unapproved=5))
    assert (carried.id, carried.first_seen_ns, carried.last_seen_ns) == (1, 10 * S, 70 * S)
    assert (carried.age_s(70 * S), carried.deficit, carried.encumbered, carried.closed) == (
        60, 20, 0, False,
    )  # fmt: skip
    assert (new.id, new.first_seen_ns, new.age_s(70 * S)) == (2, 70 * S, 0)
    closed, kept = check(book, 100, short("p2", "ETH", unapproved=5))
    assert (closed.id, closed.closed, closed.closed_at_ns, closed.last_seen_ns) == (
        1, True, 100 * S, 70 * S,
    )  # fmt: skip
    assert closed.age_s(500 * S) == 90  # its age stops at its close
    assert (kept.id, kept.age_s(100 * S)) == (2, 30)
    # A closed break is never reopened: the same pool and asset short again is a new break.
    again, still = check(book, 200, short("p1", "BTC", deficit=1), short("p2", "ETH", unapproved=5))
    assert {(again.id, again.first_seen_ns), (still.id, still.first_seen_ns)} == {
        (3, 200 * S), (2, 70 * S),
    }  # fmt: skip
    assert sorted(book.active.values()) == [2, 3]
    assert book.breaks[1].closed_at_ns == 100 * S


def test_a_check_with_nothing_open_and_nothing_short_leaves_nothing() -> None:
    book = PossessionBook()
    assert check(book, 10) == []
    assert book.breaks == {}


def test_the_records_round_trip_and_a_malformed_body_is_refused() -> None:
    snapshot = CarriedPossessionBreak(4, "omni-1", "USDC", 5 * S, 9 * S, 0, 2**128 - 1, 0, 7)
    body = encode_possession_check(12, 99, 9 * S, [snapshot])
    assert decode_possession_check(body) == (9 * S, [snapshot])
    with pytest.raises(ValueError, match="torn"):
        decode_possession_check(body[:-128])  # its break record torn off
    _, raws = unframed(body, (EntryKind.possession_checks,), "a possession check")
    with pytest.raises(ValueError, match="announced"):  # the check's count no longer matches
        decode_possession_check(framed(EntryKind.possession_checks, 12, 99, raws[:1]))
    with pytest.raises(ValueError, match="not a break"):
        decode_possession_check(framed(EntryKind.possession_checks, 12, 99, [raws[0], raws[0]]))
    with pytest.raises(ValueError):  # another kind's entry is not a possession check
        decode_possession_check(framed(EntryKind.residual_deadlines, 12, 99, raws))


def test_the_book_refuses_a_journal_this_code_would_not_have_written() -> None:
    book = PossessionBook()
    check(book, 10, short("p1", "BTC", deficit=1))
    moved = CarriedPossessionBreak(1, "p1", "BTC", 5 * S, 20 * S, 0, 0, 0, 1)  # first seen moved
    with pytest.raises(ValueError, match="first seen"):
        book.apply(moved)
    skipped = CarriedPossessionBreak(3, "p9", "BTC", 20 * S, 20 * S, 0, 0, 0, 1)  # id 2 skipped
    with pytest.raises(ValueError, match="out of sequence"):
        book.apply(skipped)
    beside = CarriedPossessionBreak(2, "p1", "BTC", 20 * S, 20 * S, 0, 0, 0, 1)  # p1 is open
    with pytest.raises(ValueError, match="beside"):
        book.apply(beside)
    book.apply(CarriedPossessionBreak(1, "p1", "BTC", 10 * S, 10 * S, 30 * S, 0, 0, 1))
    with pytest.raises(ValueError, match="after its cure"):
        book.apply(CarriedPossessionBreak(1, "p1", "BTC", 10 * S, 40 * S, 0, 0, 0, 1))


GOLDEN = Path(__file__).parents[3] / "data" / "journal" / "golden_regulatory.json"


def test_the_kept_possession_check_decodes_and_encodes_as_it_first_did() -> None:
    kept = bytes.fromhex(json.loads(GOLDEN.read_text())["possession_checks"])
    snapshots = [
        CarriedPossessionBreak(1, "omni-1", "ETH", 5 * S, 9 * S, 0, 7, 30, 2),
        CarriedPossessionBreak(2, "margin", "BTC", 5 * S, 6 * S, 9 * S, 0, 0, 2**128 - 1),
    ]
    assert encode_possession_check(23, 3_000, 9 * S, snapshots) == kept
    assert decode_possession_check(kept) == (9 * S, snapshots)
    assert kept[4] == EntryKind.possession_checks == 24
    assert len(kept) == header_bytes + 128 * (1 + len(snapshots))


def test_a_check_as_of_time_zero_still_closes_what_it_closes() -> None:
    book = PossessionBook()
    check(book, 0, short("p1", "BTC", deficit=1))
    (closed,) = check(book, 0)
    assert (closed.closed, closed.closed_at_ns) == (True, 1)
