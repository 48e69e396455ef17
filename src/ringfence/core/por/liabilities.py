"""What clients are owed, and the same in proof units.

A client liability is what a client-class account is owed (credits posted minus debits
posted), summed per client and asset over every pool the client has accounts in; pending
transfers count once posted. Title-transfer pools are included: the firm owes those clients
too, and leaving them out would understate what is owed.

A proof counts in the asset's proof unit (10^-9 of the major unit at the finest, so gwei for
ETH and sats for BTC), rounding up, so nothing owed is understated; every leaf and every node
sum must stay below 2^64 (attack 3).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import cast

import numpy as np

from ringfence.core import limits
from ringfence.core.batch import ClientAccountRow, engine_rows
from ringfence.core.errors import InputError, IntegrityError, Result
from ringfence.core.ledger.engine import Ledger
from ringfence.core.ledger.model import AccountClass
from ringfence.core.money import Asset, check_units, mul_div_ceil
from ringfence.core.por.hashes import U64

Liabilities = list[tuple[Asset, dict[str, int]]]
# One range's share: asset code -> client -> minor units owed, in client number order.
PartialLiabilities = dict[str, dict[str, int]]


def client_liabilities(ledger: Ledger) -> Liabilities:
    """Per asset (every asset defined), client -> minor units owed, in client number order:
    the same answer a batch run merges from a store's cut (``merge_liabilities``)."""
    return merge_liabilities(ledger.assets, [partial_liabilities(engine_rows(ledger))])


def partial_liabilities(rows: Iterable[ClientAccountRow]) -> PartialLiabilities:
    """What a range's clients are owed: per asset, client -> minor units summed over their
    accounts (every pool, every kind), in client number order (``rows`` come in it).
    ``IntegrityError`` for a balance below zero: a cut is read straight from the store, and
    no client account may ever be below zero (guarantee 2)."""
    owed: PartialLiabilities = {}
    last = -1
    for row in rows:
        assert row.client >= last  # a cut's rows come in client number order
        last = row.client
        if row.balance < 0:
            raise IntegrityError(f"a client account of {row.name} in {row.asset} is below zero")
        per_client = owed.get(row.asset)
        if per_client is None:
            per_client = owed[row.asset] = {}
        per_client[row.name] = per_client.get(row.name, 0) + row.balance
    return owed


def merge_liabilities(
    assets: Mapping[str, Asset], parts: Iterable[PartialLiabilities]
) -> Liabilities:
    """The ranges' partial liabilities (in range order) as one list per asset defined: a
    client is in one range only, so the merge only appends, and its order is the client
    numbers' whatever the ranges were."""
    owed: dict[str, dict[str, int]] = {code: {} for code in assets}
    for part in parts:
        for code, per_client in part.items():
            if code not in owed:
                raise IntegrityError(f"a client account is in asset {code}, which is not defined")
            merged = owed[code]
            before = len(merged)
            merged.update(per_client)
            assert len(merged) == before + len(per_client)  # no client in two ranges
    return [(assets[code], owed[code]) for code in assets]


def pool_liabilities(ledger: Ledger) -> dict[str, dict[str, int]]:
    """Per asset code, pool -> what the pool owes its clients in proof units, each client's
    balance in the pool rounded up: the pools' total is never below the tree's, which rounds
    each client's balance over all pools once."""
    owed: dict[tuple[str, str, str], int] = {}
    for account in ledger.accounts.values():
        definition = account.definition
        if definition.account_class is AccountClass.client:
            key = (definition.asset, definition.pool, definition.owner)
            owed[key] = owed.get(key, 0) + account.credits_posted - account.debits_posted
    found: dict[str, dict[str, int]] = {}
    for (code, pool, _), balance in sorted(owed.items()):
        per_pool = found.setdefault(code, {})
        per_pool[pool] = per_pool.get(pool, 0) + to_proof_units(balance, ledger.assets[code])
    return found


# ---------------------------------------------------------------------- proof units


def proof_unit_exponent(asset: Asset) -> int:
    """Decimals of the minor unit dropped in proofs: 9 for ETH (wei to gwei), 0 for BTC."""
    return max(0, asset.scale - limits.proof_unit_decimals_max)


def to_proof_units(balance: int, asset: Asset) -> int:
    """A balance in minor units, in proof units, rounded up (nothing owed is understated)."""
    assert type(balance) is int
    assert balance >= 0
    return mul_div_ceil(balance, 1, 10 ** proof_unit_exponent(asset))


def proof_units_of(balances: Iterable[object], asset: Asset) -> U64:
    """Every balance (minor units) in proof units, rounded up, as u64; refuses what is not an
    amount or reaches 2^64 proof units, naming the first such balance."""
    values = list(balances)
    divisor = 10 ** proof_unit_exponent(asset)
    if set(map(type, values)) <= {int}:  # the fast path: plain integers
        integers = cast(list[int], values)
        units = integers if divisor == 1 else list(
            map(mul_div_ceil, integers, itertools.repeat(1), itertools.repeat(divisor)))
        try:
            return np.array(units, dtype=np.uint64).reshape(-1)
        except OverflowError:
            pass  # negative or too large: the slow path below names it
    checked = []
    for position, value in enumerate(values):
        units_one = to_proof_units(check_units(value), asset)
        if units_one > limits.proof_value_max:
            raise InputError(
                Result.overflows_balance, f"balance {position} is 2^64 proof units or more")
        checked.append(units_one)
    return np.array(checked, dtype=np.uint64).reshape(-1)


def total_of(values: U64) -> int:
    """The exact sum of u64 values (numpy's own sum would wrap at 2^64)."""
    high = int(np.sum(values >> np.uint64(32), dtype=np.uint64))
    low = int(np.sum(values & np.uint64(0xFFFFFFFF), dtype=np.uint64))
    assert len(values) < 2**32  # neither partial sum can wrap
    return (high << 32) + low

