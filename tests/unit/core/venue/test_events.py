"""The venue's events read from entries, in the core: one event per bucket, each about that
bucket's collateral account only; a liquidated bucket's extent and its funds' payout; a
bucket of the round without transfers of its own (the taker) is no liquidation."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from tests.support import BTC

from ringfence.core.events.venue import fill_events, liquidation_events, venue_transfer_events
from ringfence.core.ledger.model import (
    AccountClass,
    AccountDefinition,
    TransferCode,
    TransferRecord,
)
from ringfence.core.liquidation.records import LiquidationCode, RoundIds
from ringfence.core.risk.instruments import Position
from ringfence.core.risk.settlement import Fill
from ringfence.core.venue.codec import PositionChanges

ROUND = 7
ids = {"a": 11, "b": 12, "taker": 13}
ACCOUNTS = {
    **{
        number: AccountDefinition(
            number, "BTC", AccountClass.client, f"client-{name}", f"collateral:{name}", "margin"
        )
        for name, number in ids.items()
    },
    20: AccountDefinition(20, "BTC", AccountClass.system, "perp", "clearing:perp"),
    21: AccountDefinition(21, "BTC", AccountClass.house, "house", "insurance:perp"),
}
Made = list[tuple[str, dict[str, Any], frozenset[int], frozenset[str]]]


def _adder(made: Made) -> Any:
    return lambda kind, data, accounts, clients: made.append((kind, data, accounts, clients))


def _record(transfer_id: int, debit: int, credit: int, amount: int, code: int) -> TransferRecord:
    return TransferRecord(transfer_id, debit, credit, amount, 0, 0, 1, 0, 0, BTC.number, code, 0)


def test_a_fill_of_a_bucket_the_ledger_does_not_know_is_about_no_account() -> None:
    made: Made = []
    fills = [Fill(1, "a", "perp", 3, 100, 5), Fill(2, "ghost", "perp", -3, 100, 5)]
    collateral = {"a": 11, "ghost": 99}
    fill_events(fills, ACCOUNTS, {"BTC": BTC}, collateral.__getitem__, _adder(made))
    assert [(m[1]["client"], m[2]) for m in made] == [
        ("client-a", frozenset({11})), (None, frozenset()),
    ]  # fmt: skip
    assert made[0][1]["fee"] == "0.00000005"


def test_a_settlement_cycle_is_one_event_per_bucket_each_about_its_own_account() -> None:
    code = TransferCode.pnl_settlement
    records = [_record(1, 11, 20, 300, code), _record(2, 20, 12, 250, code),
               _record(3, 20, 21, 50, TransferCode.clearing_residual)]  # fmt: skip
    made: Made = []
    venue_transfer_events(records, ACCOUNTS, {BTC.number: BTC}, _adder(made))
    assert [(m[1]["bucket"], m[1]["pnl"], m[1]["transfers"], m[2]) for m in made] == [
        ("a", "-0.00000300", ["1"], frozenset({11})),
        ("b", "0.00000250", ["2"], frozenset({12})),
    ]


def test_a_round_names_each_liquidated_bucket_its_extent_fees_and_payout() -> None:
    round_ids = RoundIds(ROUND)
    settle_a, fee_a = round_ids.close("a", "perp")
    settle_b, _ = round_ids.close("b", "perp")
    payout_b = round_ids(LiquidationCode.insurance_payout.value, "b", "perp")
    transfers = {
        settle_a: _record(settle_a, 11, 20, 400, TransferCode.liquidation_settlement),
        fee_a: _record(fee_a, 11, 21, 9, TransferCode.liquidation_fee),
        settle_b: _record(settle_b, 12, 20, 100, TransferCode.liquidation_settlement),
        payout_b: _record(payout_b, 21, 20, 60, TransferCode.insurance_payout),
    }
    changes = PositionChanges(
        (Position("a", "perp", 2, Fraction(5)), Position("b", "perp", 0, Fraction(0)),
         Position("taker", "perp", -4, Fraction(-9))),
        (ROUND,),
    )  # fmt: skip
    made: Made = []
    liquidation_events(
        changes,
        transfers,
        _adder(made),
        accounts=ACCOUNTS,
        collateral_of=ids.__getitem__,
        assets_by_number={BTC.number: BTC},
    )
    found = [(m[1]["bucket"], m[1]["extent"], m[1]["settlement"], m[1]["fees"],
              m[1]["fund_payout"], m[2]) for m in made]  # fmt: skip
    assert found == [
        ("a", "partial", "-0.00000400", "0.00000009", "0.00000000", frozenset({11})),
        ("b", "whole", "-0.00000100", "0.00000000", "0.00000060", frozenset({12})),
    ]
    assert made[1][1]["transfers"] == [str(settle_b), str(payout_b)]
