"""The one door from float64 risk values to integer minor units: always against the client.

Requirements round up and collateral values (equity, unrealised gains) round down. A float
carries a relative error of about 1e-16 per operation, and the error of a sum scales with its
*operands*, not with the result: a bucket's value minus its basis, or a hedged book's
scenario P&L, can cancel to almost nothing while the error stays the size of the terms. So
before rounding each value is pushed, in the direction that disfavours the client, by a guard
of ``2^-40 x (|value| + magnitude)`` where ``magnitude`` bounds the sum of the absolute
operands (the scan passes Σ |lots| x the largest per-lot figure, plus Σ |basis|). With at most
1,024 positions per bucket a sum's error is below ``2^-42`` of its operands, four times under
the guard: a value computed a hair too low can never round a requirement down, nor a hair too
high round equity up. An exact integer therefore costs the client one minor unit of
collateral value: conservative by design.

Exact values (``Fraction``) round with ``ceil_exact`` / ``floor_exact``, no guard needed.
Results are int64 arrays while every value fits, otherwise arrays of Python ints (18-decimal
assets such as ETH pass 2^63 minor units at about 9.2 ETH).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
from numpy.typing import NDArray

_guard_relative = np.ldexp(1, -40)  # float-ok: a rounding guard, not money
_int64_safe = 2**62


def requirement_units(values: Any, magnitude: Any = 0) -> NDArray[Any]:
    """Requirements (margins, losses) in minor units, rounded up; ``magnitude`` bounds the
    absolute operands the value was summed from."""
    x = np.asarray(values, dtype=np.float64)
    assert not np.isnan(x).any(), "a requirement is never NaN"
    operands = np.asarray(magnitude, dtype=np.float64)
    assert (operands >= 0).all(), "a magnitude is never negative"
    guarded = x + (np.abs(x) + operands) * _guard_relative
    return _to_integers(np.ceil(guarded))


def collateral_units(values: Any, magnitude: Any = 0) -> NDArray[Any]:
    """Collateral values (equity, unrealised P&L) in minor units, rounded down;
    ``magnitude`` bounds the absolute operands the value was summed from."""
    x = np.asarray(values, dtype=np.float64)
    assert not np.isnan(x).any(), "a collateral value is never NaN"
    operands = np.asarray(magnitude, dtype=np.float64)
    assert (operands >= 0).all(), "a magnitude is never negative"
    guarded = x - (np.abs(x) + operands) * _guard_relative
    return _to_integers(np.floor(guarded))


def _to_integers(whole: NDArray[np.float64]) -> NDArray[Any]:
    assert np.isfinite(whole).all(), "risk values must be finite"
    if whole.size == 0 or np.abs(whole).max() < _int64_safe:
        return whole.astype(np.int64)
    result = np.empty(whole.shape, dtype=object)
    result.ravel()[:] = [int(value) for value in whole.ravel().tolist()]
    return result


def ceil_exact(value: Fraction | int) -> int:
    """An exact amount owed by the client, rounded up."""
    return math.ceil(value)


def floor_exact(value: Fraction | int) -> int:
    """An exact amount owed to the client, rounded down."""
    return math.floor(value)


def against_client(value: Fraction | int) -> int:
    """A signed exact amount for the client (positive: paid to them): gains down, losses up."""
    return math.floor(value)
