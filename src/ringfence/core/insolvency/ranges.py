"""The insolvency simulation in client ranges: the per-client work of each pool in tasks, one
per range of clients, merged exactly into the outcome ``simulate`` gives for the whole book.

A pool's outcome couples its clients in two places only: its total claims (which, against
its holdings, fix what is covered) and the pro rata split of what is covered
(``money.split_pro_rata``: floor shares, then the few units left over to the largest
remainders, ties to the earlier participant in client-name order). So a run has two passes
over the ranges:

1. ``range_totals``: per (pool, asset) the range's claims summed (clients owed nothing left
   out, as ``simulate`` leaves them out); the coordinator adds them and sets what each pool
   covers.
2. ``range_lines``: per pool and client, in name order, the claim, what is held back or set
   off, and the floor share with its remainder, for that cover.

``merge_pools`` then merges each pool's ranges by client name (a client's accounts are all in
one range, so names never repeat), gives the units left over exactly as ``split_pro_rata``
does over the merged remainders, and builds the ``PoolOutcome`` that ``simulate`` builds;
the tallies and the estate's waterfall (``simulate.finish``) follow as for the whole book.
The merged outcome is the whole book's, field for field, whatever the ranges.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ringfence.core.batch import ClientAccountRow
from ringfence.core.insolvency.simulate import (
    Book,
    PoolOutcome,
    Setting,
    Standing,
    _PoolInput,
    adjusted,
    pool_input,
    pool_keys,
    protected_standings,
)

PoolKey = tuple[str, str]  # (pool, asset)
Claims = dict[PoolKey, dict[str, int]]


def range_claims(rows: Iterable[ClientAccountRow]) -> Claims:
    """A range's claims as ``Book.claims`` holds them: per (pool, asset), each client's
    posted balance summed over their accounts there (available and collateral)."""
    claims: Claims = {}
    for row in rows:
        by_client = claims.setdefault((row.pool, row.asset), {})
        by_client[row.name] = by_client.get(row.name, 0) + row.balance
    return claims


def range_totals(claims: Claims) -> dict[PoolKey, int]:
    """Pass 1: per (pool, asset) with a client account in the range, its claims summed."""
    return {key: sum(by_client.values()) for key, by_client in claims.items()}


def add_totals(parts: Iterable[Mapping[PoolKey, int]]) -> dict[PoolKey, int]:
    total: dict[PoolKey, int] = {}
    for part in parts:
        for key, units in part.items():
            total[key] = total.get(key, 0) + units
    return total


@dataclass(frozen=True, slots=True)
class PoolCover:
    """What one pool shares among its clients: ``covered`` of ``total`` claims."""

    total: int
    covered: int
    standing: Standing
    adjusted: bool  # some client's share is held back or set off (the estate shares too)


def pool_covers(
    book: Book, setting: Setting, totals: Mapping[PoolKey, int]
) -> dict[PoolKey, PoolCover]:
    """Per pool, from the ranges' totals: its standing and what its holdings cover."""
    covers = {}
    for key in pool_keys(totals, setting):
        given = pool_input(book, setting, key, {})
        total = totals.get(key, 0)
        covers[key] = PoolCover(total, min(given.holdings, total), given.standing,
                                adjusted(given, setting))
    return covers


@dataclass(frozen=True, slots=True)
class PartLines:
    """One range's clients of one pool, in name order (claims of zero left out)."""

    names: list[str] = field(default_factory=list)
    owed: list[int] = field(default_factory=list)
    held_back: list[int] = field(default_factory=list)
    set_off: list[int] = field(default_factory=list)
    floors: list[int] = field(default_factory=list)  # floor(weight * covered / total)
    remainders: list[int] = field(default_factory=list)


def range_lines(
    claims: Claims, setting: Setting, covers: Mapping[PoolKey, PoolCover]
) -> dict[PoolKey, PartLines]:
    """Pass 2: the range's lines of every pool it has clients in."""
    found = {}
    for key, by_client in claims.items():
        cover = covers[key]
        names = sorted(name for name, units in by_client.items() if units)
        owed = [by_client[name] for name in names]
        zeros = [0] * len(names)
        held_back, set_off = zeros, zeros
        if cover.standing in protected_standings and cover.adjusted:
            pool, asset = key
            held_back = [min(setting.held.get((pool, asset, n), 0), c)
                         for n, c in zip(names, owed, strict=True)]
            if cover.standing is Standing.secured_collateral:
                set_off = [min(setting.loans.get((pool, asset, n), 0), c - h)
                           for n, c, h in zip(names, owed, held_back, strict=True)]
        floors, remainders = zeros, zeros
        if cover.standing in protected_standings and cover.total:
            weights = [c - h - s for c, h, s in zip(owed, held_back, set_off, strict=True)]
            split = [divmod(weight * cover.covered, cover.total) for weight in weights]
            floors = [share for share, _ in split]
            remainders = [remainder for _, remainder in split]
        found[key] = PartLines(names, owed, held_back, set_off, floors, remainders)
    return found


def _merged(parts: Sequence[PartLines]) -> PartLines:
    """The ranges' lines of one pool as one, in name order."""
    columns = heapq.merge(*(zip(p.names, p.owed, p.held_back, p.set_off, p.floors,
                                p.remainders, strict=True) for p in parts))
    merged = PartLines()
    for name, owed, held, set_off, floor, remainder in columns:
        merged.names.append(name)
        merged.owed.append(owed)
        merged.held_back.append(held)
        merged.set_off.append(set_off)
        merged.floors.append(floor)
        merged.remainders.append(remainder)
    assert len(set(merged.names)) == len(merged.names)  # a client is in one range only
    return merged


def _give_left_over(covered: int, floors: list[int], remainders: list[int]) -> list[int]:
    """``split_pro_rata``'s last step: the units the floors leave go one each to the largest
    remainders, ties to the earlier participant."""
    shares = list(floors)
    left = covered - sum(shares)
    assert 0 <= left < max(len(shares), 1)
    if left:
        for index in sorted(range(len(shares)), key=remainders.__getitem__, reverse=True)[:left]:
            shares[index] += 1
    return shares


def merge_pool(given: _PoolInput, cover: PoolCover, parts: Sequence[PartLines]) -> PoolOutcome:
    """One pool's outcome from its ranges' lines: ``simulate``'s ``_pool_outcome`` exactly."""
    pool, asset, standing, reason, holdings, _ = given
    lines = _merged(parts)
    names, owed, total, covered = lines.names, lines.owed, cover.total, cover.covered
    assert sum(owed) == total
    zeros = [0] * len(names)
    if standing not in protected_standings:
        return PoolOutcome(pool, asset, standing, reason, holdings, total, 0, holdings, 0,
                           names, owed, zeros, zeros, zeros, owed)
    if not cover.adjusted:
        shares = _give_left_over(covered, lines.floors, lines.remainders)
        unsecured = [claim - share for claim, share in zip(owed, shares, strict=True)]
        return PoolOutcome(pool, asset, standing, reason, holdings, total, covered,
                           holdings - covered, total - covered, names, owed, zeros, zeros,
                           shares, unsecured)
    # The estate takes part last, for what is held back and set off.
    estate_weight = sum(lines.held_back) + sum(lines.set_off)
    estate_floor, estate_remainder = divmod(estate_weight * covered, total) if total else (0, 0)
    shares = _give_left_over(covered, [*lines.floors, estate_floor],
                             [*lines.remainders, estate_remainder])
    estate_share = shares.pop()
    eligible = [c - h - s for c, h, s in zip(owed, lines.held_back, lines.set_off, strict=True)]
    unsecured = [e - share + h
                 for e, share, h in zip(eligible, shares, lines.held_back, strict=True)]
    return PoolOutcome(pool, asset, standing, reason, holdings, total, covered - estate_share,
                       estate_share + holdings - covered, total - covered, names, owed,
                       lines.held_back, lines.set_off, shares, unsecured)


def merge_pools(
    book: Book, setting: Setting, covers: Mapping[PoolKey, PoolCover],
    parts: Iterable[Mapping[PoolKey, PartLines]],
) -> list[PoolOutcome]:
    """Every pool's outcome, in ``simulate``'s order, from the ranges' lines (in any order)."""
    by_pool: dict[PoolKey, list[PartLines]] = {key: [] for key in covers}
    for part in parts:
        for key, lines in part.items():
            by_pool[key].append(lines)
    return [merge_pool(pool_input(book, setting, key, {}), covers[key], by_pool[key])
            for key in covers]
