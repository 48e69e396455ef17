"""core/recon/breaks.py: breaks open on a difference, carry over and age, and are cured only
when corrected, made good where clients were short, and no difference remains."""

from __future__ import annotations

import pytest

from ringfence.core.errors import Result
from ringfence.core.ledger.model import (
    AccountClass,
    AccountDefinition,
    TransferCode,
    TransferRecord,
)
from ringfence.core.recon.breaks import (
    BreakBook,
    BreakState,
    Cause,
    ExternalLine,
    correct,
    explain,
    make_good,
    run_breaks,
)

DAY = 86_400 * 10**9
ACCOUNTS = {
    1: AccountDefinition(1, "BTC", AccountClass.custody, "omni-hot", "hot", "omni"),
    2: AccountDefinition(2, "BTC", AccountClass.custody, "house-hot", "hot"),
}


def line(book: int, observed: int, wallet: str = "omni-hot", pool: str = "omni") -> ExternalLine:
    return ExternalLine(wallet, pool, "hot", "BTC", book, observed, 1, True, ("t",), 5)


def record(
    code: TransferCode, amount: int, debit: int = 1, credit: int = 2, at: int = 2 * DAY
) -> TransferRecord:
    return TransferRecord(9, debit, credit, amount, 0, 0, at, 0, 0, 1, int(code), 0)


def opened(book: BreakBook, at: int, *lines: ExternalLine) -> None:
    for snapshot in run_breaks(book, lines, at):
        book.apply(snapshot)


def test_a_difference_opens_a_break_that_carries_over_and_ages() -> None:
    book = BreakBook()
    opened(book, DAY, line(100, 90), line(50, 50, "omni-cold"))
    (broken,) = book.open_breaks()
    assert (broken.id, broken.difference, broken.cause) == (1, -10, Cause.unrecorded_outflow)
    opened(book, 3 * DAY, line(100, 95))
    (aged,) = book.open_breaks()
    assert (aged.id, aged.first_seen_ns, aged.shortfall_max) == (1, DAY, 10)
    assert aged.age_s(3 * DAY) == 2 * 86_400
    assert aged.difference == -5


def test_corrected_but_not_made_good_stays_open() -> None:
    book = BreakBook()
    opened(book, DAY, line(100, 90))
    opened(book, 2 * DAY, line(90, 90))  # the book now says what the chain says
    (broken,) = book.open_breaks()
    result, after = correct(broken, "network fee booked", 2 * DAY, owes_clients=True)
    assert (result, after.state, after.corrected) == (
        Result.break_not_made_good,
        BreakState.open,
        True,
    )
    result, short = make_good(after, record(TransferCode.house_top_up, 9), ACCOUNTS, "omni", DAY)
    assert (result, short.made_good) == (Result.make_good_transfer_invalid, False)  # 9 < 10
    result, _ = make_good(after, record(TransferCode.sweep, 10), ACCOUNTS, "omni", DAY)
    assert result is Result.make_good_transfer_invalid
    top_up = record(TransferCode.house_top_up, 10)
    used = make_good(after, top_up, ACCOUNTS, "omni", DAY, used={top_up.id})
    assert used[0] is Result.make_good_transfer_used  # it already cured another break
    result, cured = make_good(after, top_up, ACCOUNTS, "omni", DAY)
    assert (result, cured.state, cured.resolved_at_ns) == (Result.ok, BreakState.cured, DAY)
    assert explain(cured, Cause.loss, "x")[0] is Result.break_already_cured


def test_a_surplus_needs_no_make_good_and_a_cured_break_never_reopens() -> None:
    book = BreakBook()
    opened(book, DAY, line(100, 110))
    result, after = explain(book.open_breaks()[0], Cause.deposit_not_booked, "post it")
    book.apply(after)
    assert (result, after.state) == (Result.ok, BreakState.explained)
    result, corrected = correct(after, "deposit 77", DAY, owes_clients=True)
    assert result is Result.break_difference_remains
    book.apply(corrected)
    opened(book, 2 * DAY, line(110, 110))  # the run that sees it gone cures it
    assert book.breaks[1].state is BreakState.cured
    opened(book, 3 * DAY, line(110, 100))
    assert [b.id for b in book.open_breaks()] == [2]
    with pytest.raises(ValueError, match="after its cure"):
        book.apply(book.breaks[1])


def test_a_house_wallet_owes_clients_no_make_good() -> None:
    book = BreakBook()
    opened(book, DAY, line(100, 90, "house-hot", ""))
    opened(book, 2 * DAY, line(90, 90, "house-hot", ""))
    result, after = correct(book.open_breaks()[0], "fee booked", 2 * DAY, owes_clients=False)
    assert (result, after.state) == (Result.ok, BreakState.cured)


def unregistered(book: int) -> ExternalLine:
    # A custody account whose wallet is not in the registry: nothing can be observed for it.
    return ExternalLine("omni-hot", "", "hot", "BTC", book, 0, 0, False, (), 0)


def test_an_unregistered_wallet_break_is_cured_once_registered_and_in_agreement() -> None:
    book = BreakBook()
    opened(book, DAY, unregistered(100))
    (broken,) = book.open_breaks()
    assert (broken.cause, broken.shortfall_max) == (Cause.wallet_not_registered, 100)
    opened(book, 2 * DAY, line(100, 100))  # registered and scanned: it holds what the book says
    assert book.open_breaks() == []
    cured = book.breaks[broken.id]
    assert (cured.state, cured.resolved_at_ns) == (BreakState.cured, 2 * DAY)
    assert cured.shortfall_max == 0


def test_an_unregistered_wallet_break_takes_the_cause_now_measured() -> None:
    book = BreakBook()
    opened(book, DAY, unregistered(100))
    opened(book, 2 * DAY, line(100, 97))  # registered: 3 short, measured for the first time
    (broken,) = book.open_breaks()
    assert (broken.cause, broken.shortfall_max) == (Cause.unrecorded_outflow, 3)
    explained = explain(broken, Cause.network_fee_not_booked, "book the fee")[1]
    book.apply(explained)
    opened(book, 3 * DAY, line(100, 96))
    (kept,) = book.open_breaks()
    assert kept.cause is Cause.network_fee_not_booked  # an operator's explanation stays
