"""Black-76 values and Greeks on the forward, vectorised over NumPy arrays.

Deribit computes implied volatility on the forward, not the index, so options are valued on
the forward F of their underlying::

    d1 = [ln(F/K) + s²T/2] / (s√T),  d2 = d1 - s√T,  D = e^{-rT}
    C = D[F N(d1) - K N(d2)],        P = D[K N(-d2) - F N(-d1)]
    Δ_C = D N(d1),  Δ_P = -D N(-d1),  Γ = D φ(d1) / (F s √T),  vega = D F φ(d1) √T
    Θ = ∂V/∂t = r V - D F φ(d1) s / (2√T)   (calls and puts alike, per year of time passing)

Vega is per 1.00 of volatility (divide by 100 for a volatility point); theta is per year
(divide by 365 for a day) with the forward held. At expiry, or with no volatility, an option
is worth its discounted intrinsic value with a step delta and no gamma or vega, and its theta
is the discount's accrual r V. The normal distribution uses Hart's 1968 double-precision
algorithm (as in Graeme West, "Better approximations to cumulative normal functions", 2005),
accurate to about 1e-15.
These are valuations, not money: the whole module computes in float64.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]

# Hart (1968), algorithm 5666, as printed by West (2005).
_numerator = np.array(  # float-ok: published approximation coefficients, not money
    [
        3.52624965998911e-02,  # float-ok: coefficient
        0.700383064443688,  # float-ok: coefficient
        6.37396220353165,  # float-ok: coefficient
        33.912866078383,  # float-ok: coefficient
        112.079291497871,  # float-ok: coefficient
        221.213596169931,  # float-ok: coefficient
        220.206867912376,  # float-ok: coefficient
    ]
)
_denominator = np.array(
    [
        8.83883476483184e-02,  # float-ok: coefficient
        1.75566716318264,  # float-ok: coefficient
        16.064177579207,  # float-ok: coefficient
        86.7807322029461,  # float-ok: coefficient
        296.564248779674,  # float-ok: coefficient
        637.333633378831,  # float-ok: coefficient
        793.826512519948,  # float-ok: coefficient
        440.413735824752,  # float-ok: coefficient
    ]
)
_tail_switch = 7.07106781186547  # float-ok: 10/sqrt(2), where Hart switches to a fraction
_sqrt_two_pi = np.sqrt(2 * np.pi)


def norm_cdf(x: Array) -> Array:
    """The standard normal distribution function, elementwise (in-place Horner: the scan
    evaluates it a few hundred thousand times per rebuild)."""
    shape = np.shape(x)
    x = np.atleast_1d(np.asarray(x, dtype=np.float64))
    z = np.abs(x)
    numerator = _horner(_numerator, z)
    denominator = _horner(_denominator, z)
    tail = z * z
    tail *= -1 / 2
    np.exp(tail, out=tail)
    tail *= numerator
    tail /= denominator
    far = np.flatnonzero(z >= _tail_switch)
    if far.size:  # beyond ~7 standard deviations: Hart's continued fraction
        zf = z.ravel()[far]
        fraction = zf + 13 / 20
        for k in (4, 3, 2, 1):
            fraction = zf + k / fraction
        tail.ravel()[far] = np.exp(-zf * zf / 2) / fraction / _sqrt_two_pi
    np.subtract(1, tail, out=tail, where=x > 0)
    return tail.reshape(shape)


def _horner(coefficients: Array, z: Array) -> Array:
    result = np.full_like(z, coefficients[0])
    for coefficient in coefficients[1:]:
        result *= z
        result += coefficient
    return result


def norm_pdf(x: Array) -> Array:
    result: Array = np.exp(-np.asarray(x, dtype=np.float64) ** 2 / 2) / _sqrt_two_pi
    return result


@dataclass(frozen=True, slots=True)
class Valuation:
    """Value and Greeks per unit of underlying, in the quote currency (USD)."""

    value: Array
    delta: Array
    gamma: Array
    vega: Array
    theta: Array  # per year of calendar time


def black76(
    forward: Any, strike: Any, years: Any, volatility: Any, *, rate: Any, is_call: Any
) -> Valuation:
    """Value and Greeks of European options on a forward; every argument broadcasts."""
    f = np.asarray(forward, dtype=np.float64)
    k = np.asarray(strike, dtype=np.float64)
    t = np.maximum(np.asarray(years, dtype=np.float64), 0)
    sigma = np.maximum(np.asarray(volatility, dtype=np.float64), 0)
    call = np.asarray(is_call, dtype=bool)
    discount = np.exp(-np.asarray(rate, dtype=np.float64) * t)
    spread = sigma * np.sqrt(t)
    live = spread > 0
    safe = np.where(live, spread, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        d1 = (np.log(f / k) + spread * spread / 2) / safe
    d2 = d1 - spread
    n1, n2 = norm_cdf(d1), norm_cdf(d2)
    call_value = discount * (f * n1 - k * n2)
    value = np.where(call, call_value, call_value - discount * (f - k))  # put-call parity
    delta = np.where(call, discount * n1, -discount * (1 - n1))
    density = norm_pdf(d1)
    gamma = discount * density / (f * safe)
    vega = discount * f * density * np.sqrt(t)
    rate_array = np.asarray(rate, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        decay = discount * f * density * sigma / (2 * np.sqrt(np.where(live, t, 1)))
    intrinsic = discount * np.maximum(np.where(call, f - k, k - f), 0)
    in_the_money = np.where(call, f > k, f < k)
    step = discount * np.where(call, 1, -1) * in_the_money
    worth = np.where(live, value, intrinsic)
    return Valuation(
        worth,
        np.where(live, delta, step),
        np.where(live, gamma, 0),
        np.where(live, vega, 0),
        rate_array * worth - np.where(live, decay, 0),
    )


def black76_value(
    forward: Any, strike: Any, years: Any, volatility: Any, *, rate: Any, is_call: Any
) -> Array:
    """The value alone, as ``black76(...).value``: the scan revalues every option under every
    scenario and needs no Greeks there, so this path skips them (half the work)."""
    f = np.asarray(forward, dtype=np.float64)
    k = np.asarray(strike, dtype=np.float64)
    t = np.maximum(np.asarray(years, dtype=np.float64), 0)
    discount = np.exp(-np.asarray(rate, dtype=np.float64) * t)
    spread = np.maximum(np.asarray(volatility, dtype=np.float64), 0) * np.sqrt(t)
    live = spread > 0
    safe = np.where(live, spread, 1)
    d1 = np.log(f / k) / safe + spread / 2
    both = norm_cdf(np.stack(np.broadcast_arrays(d1, d1 - spread)))
    call_value = discount * (f * both[0] - k * both[1])
    forward_value = discount * (f - k)
    call = np.asarray(is_call, dtype=bool)
    value = np.where(call, call_value, call_value - forward_value)
    intrinsic = np.maximum(np.where(call, forward_value, -forward_value), 0)
    result: Array = np.where(live, value, intrinsic)
    return result


def coin_valuation(valuation: Valuation, forward: Any) -> Valuation:
    """The same option with its premium in coin (V/F), in Deribit's coin-account convention.

    Delta is ``Δ - V/F``: the Black delta less the premium held in coin, i.e. F x ∂(V/F)/∂F,
    the underlying a coin account holds through the option (a call at Δ 0.50 with a premium of
    0.10 coin is 0.40). Vega and theta are the USD figures over F (coin per 1.00 of volatility,
    coin per year). Gamma stays the exact ∂²(V/F)/∂F² = Γ/F - 2(Δ - V/F)/F².
    """
    f = np.asarray(forward, dtype=np.float64)
    value = valuation.value / f
    delta = valuation.delta - value
    gamma = valuation.gamma / f - 2 * delta / (f * f)
    return Valuation(value, delta, gamma, valuation.vega / f, valuation.theta / f)
