"""The residual-interest deadline, computed by hand.

In pool ``margin`` alice must post 30 BTC and holds 20 (undermargined 10); bob must post 5
and has a deficit of -3 (undermargined 5: his deficit is already in the requirement); carol
must post 4 and holds 9 (none). Σ undermargined = 15 over two accounts.
"""

from __future__ import annotations

from ringfence.core.recon.segregation_statement import StatementLine
from ringfence.core.regulatory.residual import (
    DeadlineStatus,
    alert_breach,
    deadline_lines,
    status,
    undermargined_amounts,
)

REQUIRED = {
    ("margin", "BTC", "alice"): 30,
    ("margin", "BTC", "bob"): 5,
    ("margin", "BTC", "carol"): 4,
}
EQUITIES = {
    ("margin", "BTC", "alice"): 20,
    ("margin", "BTC", "bob"): -3,
    ("margin", "BTC", "carol"): 9,
}


def line(funds: int, requirement: int, *, segregated: bool = True) -> StatementLine:
    return StatementLine(
        "margin",
        "omnibus",
        "custody",
        "margin_collateral",
        "BTC",
        segregated,
        3,
        1,
        26,
        3,
        requirement,
        funds,
        0,
        funds,
        2,
        funds,
        26,
        1,
        {},
        (),
        0,
        0,
        0,
    )


def test_undermargined_amounts_by_hand() -> None:
    assert undermargined_amounts(REQUIRED, EQUITIES) == {("margin", "BTC"): (15, 2)}


def test_a_client_with_no_account_counts_its_whole_requirement() -> None:
    assert undermargined_amounts({("m", "BTC", "zed"): 7}, {}) == {("m", "BTC"): (7, 1)}


def test_statuses_either_side_of_the_deadline() -> None:
    assert status(15, 15, 10, 5) is DeadlineStatus.met
    assert status(14, 15, 4, 5) is DeadlineStatus.due
    assert status(14, 15, 5, 5) is DeadlineStatus.breach
    assert status(-1, 0, 0, 5) is DeadlineStatus.due


def test_deadline_lines_carry_target_shortfall_and_alert() -> None:
    short = undermargined_amounts(REQUIRED, EQUITIES)
    # residual interest = funds 36 - requirement 29 = 7, below the 15 undermargined
    (after,) = deadline_lines([line(36, 29)], short, as_of_ns=100, deadline_ns=50)
    assert (after.residual_interest, after.targeted_residual_interest) == (7, 2)
    assert (after.undermargined, after.cover_shortfall) == (15, 8)
    assert (after.status, after.alert) == (DeadlineStatus.breach, alert_breach)
    (before,) = deadline_lines([line(36, 29)], short, as_of_ns=10, deadline_ns=50)
    assert (before.status, before.alert) == (DeadlineStatus.due, "none")
    (met,) = deadline_lines([line(44, 29)], short, as_of_ns=100, deadline_ns=50)
    assert (met.status, met.cover_shortfall) == (DeadlineStatus.met, 0)


def test_title_transfer_lines_are_left_out() -> None:
    assert deadline_lines([line(1, 2, segregated=False)], {}, 0, 0) == []
