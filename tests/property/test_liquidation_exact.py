"""The planner's shortcuts against the formulas they replace, on random inputs: the exact
BitMEX score multiplied out in integers, the lots a counterparty can bear as an integer floor,
the counterparty ranking sorted twice, the round's ids hashed from a copied prefix, and the
book split in one pass. Each reference below is the code as it stood before the shortcut; a
shortcut must give the very same values (equal, and equal in type and form)."""

from __future__ import annotations

import hashlib
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from ringfence.core.liquidation.deleveraging import _exact_rank, _lots_bearable, _ranking
from ringfence.core.liquidation.plan import _open_buckets
from ringfence.core.liquidation.records import BucketState, LiquidationPolicy, RoundIds
from ringfence.core.liquidation.rounds import PlanningRound, sign
from ringfence.core.risk.config import Tier
from ringfence.core.risk.instruments import Instrument, InstrumentKind, Position
from ringfence.core.risk.rounding import floor_exact

markets = {
    "lin": Instrument("lin", InstrumentKind.perpetual, "btc", "USDC", 6, 1, 1, 1, 3),
    "fine": Instrument("fine", InstrumentKind.perpetual, "btc", "USDC", 2, 3, 1, 7, 4),
    "inv": Instrument("inv", InstrumentKind.perpetual, "btc", "BTC", 8, 1, 5, 100,
                      inverse=True, tiers="inverse"),
}
tiers = {"linear": (Tier(0, 5_000, 20_000),), "inverse": (Tier(0, 5_000, 20_000),)}
fractions = st.builds(Fraction, st.integers(-10**30, 10**30), st.integers(1, 10**12))
positive = st.builds(Fraction, st.integers(1, 10**30), st.integers(1, 10**12))
lots = st.integers(-10**9, 10**9)


def planning(marks: dict[str, int], counterparties: dict[str, BucketState]) -> PlanningRound:
    state = PlanningRound(7, markets, marks, LiquidationPolicy(), tiers, {}, {}, counterparties)
    state.find_holders()
    return state


def reference_rank(state: PlanningRound, name: str, held: Position) -> Fraction:
    value = held.quantity_lots * state.value(held.symbol, state.marks[held.symbol])
    cost = abs(held.basis) or abs(value)
    equity = state.equity_left[name]
    if equity <= 0 or cost == 0:
        return Fraction(0)
    return (value - held.basis) / cost * abs(value) / equity


def same(a: Fraction, b: Fraction) -> bool:
    return type(a) is type(b) and (a.numerator, a.denominator) == (b.numerator, b.denominator)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(sorted(markets)), st.integers(1, 10**7).map(lambda p: p * 5), lots,
       fractions, fractions)
def test_the_exact_rank_is_the_four_fraction_steps(symbol, mark, quantity, basis, equity) -> None:  # type: ignore[no-untyped-def]
    state = planning({symbol: mark}, {})
    state.equity_left["c"] = equity
    held = Position("c", symbol, quantity, basis)
    assert same(_exact_rank(state, "c", held), reference_rank(state, "c", held))


@settings(max_examples=400, deadline=None)
@given(fractions, positive)
def test_the_lots_bearable_are_the_floor_of_equity_over_gap(equity, gap) -> None:  # type: ignore[no-untyped-def]
    assert _lots_bearable(equity, gap) == floor_exact(equity / gap)


def reference_ranking(state: PlanningRound, symbol: str, side: int) -> list[tuple[float, str]]:
    mark_value = float(state.value(symbol, state.marks[symbol]))
    ranked = []
    for name in state.holders.get(symbol, ()):
        bucket = state.counterparties[name]
        held = state.lots_left.get((name, symbol)) or next(
            (p for p in bucket.positions if p.symbol == symbol), None)
        if held is None or sign(held.quantity_lots) != side or held.quantity_lots == 0:
            continue
        equity = float(state.equity_left.get(name, bucket.equity))
        value = held.quantity_lots * mark_value
        basis = float(held.basis)
        profit = value - basis
        if profit <= 0 or equity <= 0:
            continue
        cost = abs(basis) or abs(value)
        ranked.append((profit / cost * abs(value) / equity, name))
        state.lots_left.setdefault((name, symbol), held)
    ranked.sort(key=lambda entry: (-entry[0], entry[1]))
    return ranked


holding = st.tuples(
    st.sampled_from(["lin", "fine", "inv"]), st.integers(-50, 50), fractions.map(lambda f: f / 7),
)
bucket_rows = st.lists(
    st.tuples(st.integers(-10**12, 10**12), st.lists(holding, max_size=3,
              unique_by=lambda h: h[0]), st.booleans()),
    max_size=30,
)


def book_of(rows: list[tuple[int, list[tuple[str, int, Fraction]], bool]]) -> dict[
        str, BucketState]:
    # Equal keys are common: a bucket may repeat the one before it (equity and positions),
    # so that ties are broken by name.
    book = {}
    for k, (own_equity, held, repeat) in enumerate(rows):
        equity, source = (rows[k - 1][0], rows[k - 1][1]) if repeat and k else (own_equity, held)
        positions = tuple(Position(f"c{k:03d}", s, q, b) for s, q, b in source)
        book[f"c{k:03d}"] = BucketState(f"c{k:03d}", "USDC", 0, equity, 0, positions)
    return book


market = st.tuples(st.sampled_from(["lin", "fine", "inv"]), st.sampled_from([1, -1]),
                  st.integers(1, 10**6).map(lambda p: p * 5))


@settings(max_examples=300, deadline=None)
@given(bucket_rows, market, st.dictionaries(
           st.integers(0, 29).map(lambda k: f"c{k:03d}"), fractions, max_size=5),
       st.randoms(use_true_random=False))
def test_the_ranking_is_the_one_sorted_by_key_tuples(rows, at, left, rng) -> None:  # type: ignore[no-untyped-def]
    symbol, side, mark = at
    book = book_of(rows)
    ours, theirs = planning({symbol: mark}, book), planning({symbol: mark}, book)
    holders = ours.holders.get(symbol, [])
    rng.shuffle(holders)  # any order of holders: ties still go by name
    for state in (ours, theirs):
        state.holders[symbol] = list(holders)
        state.equity_left.update({k: v for k, v in left.items() if k in book})
    assert _ranking(ours, symbol, side) == reference_ranking(theirs, symbol, side)
    assert ours.lots_left == theirs.lots_left


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**64), st.text("abz-019", min_size=1, max_size=22),
       st.text("abz-019", min_size=1, max_size=22), st.integers(0, 50))
def test_round_ids_are_the_hash_of_the_whole_text(round_id, bucket, symbol, code) -> None:  # type: ignore[no-untyped-def]
    ids = RoundIds(round_id)

    def whole(text: str) -> bytes:
        return hashlib.sha256(f"ringfence-liquidation:{round_id}:{text}".encode()).digest()

    digest = whole(f"close:{bucket}:{symbol}")
    assert ids.close(bucket, symbol) == (int.from_bytes(digest[:16], "big") or 1,
                                         int.from_bytes(digest[16:], "big") or 1)
    assert ids(code, bucket, symbol) == (
        int.from_bytes(whole(f"{code}:{bucket}:{symbol}")[:16], "big") or 1)
    # The prefix is copied, never fed: a second call gives the same ids.
    assert ids.close(bucket, symbol) == ids.close(bucket, symbol)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(-10, 10), st.integers(-10, 10),
                          st.lists(st.integers(-2, 2), max_size=3)), max_size=30))
def test_the_book_splits_as_the_two_filters_did(rows) -> None:  # type: ignore[no-untyped-def]
    book = [
        BucketState(f"b{k:03d}", "USDC", 0, equity, maintenance,
                    tuple(Position(f"b{k:03d}", f"m{j}", q, Fraction(0))
                          for j, q in enumerate(held)))
        for k, (equity, maintenance, held) in enumerate(rows)
    ]
    liquidatable = [b for b in book if b.equity < b.maintenance and b.open]
    names = {b.name for b in liquidatable}
    counterparties = {b.name: b for b in book if b.name not in names and b.open}
    assert _open_buckets(book) == (liquidatable, counterparties)
