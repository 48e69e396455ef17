"""EWMA volatility per underlying, anti-procyclicality, step limits and the risk score.

RiskMetrics: ``var_t = λ var_{t-1} + (1 - λ) r²_{t-1}`` with λ = 0.94 for daily returns
(half-life about 11 days). EMIR RTS 153/2013 Art. 28 tools, all three applied:

- (b) stressed weight: ``var_apc = (1 - w) var_ewma + w var_stress``;
- (c) a floor at the 10-year volatility: ``var_apc = max(var_apc, var_10y)``;
- (a) a buffer of at least 25% on the calculated range, drawn down while margin rises.

The price scan range is ``z x vol_apc x sqrt(holding_days / days_per_year)``; the posted
range moves towards ``range x (1 + buffer)`` but rises at most ``step_up`` and falls at most
``step_down`` per update, and is never below the calculated range: a limit on how fast
parameters move that never leaves the venue under-margined. The risk score is current over
long-run volatility; it raises initial margin by ``slope x (score - 1)`` above 1, capped.
Volatilities are statistics, not money: float64 throughout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ringfence.core import limits
from ringfence.core.risk.config import VolatilityConfig, ppm

Array = NDArray[np.float64]


def ewma_variance(returns: Array, config: VolatilityConfig, seed: Array | None = None) -> Array:
    """Daily EWMA variance after each observation; ``returns`` is (days x underlyings) of log
    returns, the seed the variance before the first (default: the first return squared)."""
    returns = np.atleast_2d(np.asarray(returns, dtype=np.float64))
    assert returns.shape[0] <= limits.volatility_observations_max
    decay = np.float64(config.lambda_ppm) / ppm
    variance = returns[0] ** 2 if seed is None else np.asarray(seed, dtype=np.float64)
    path = np.empty_like(returns)
    for day in range(returns.shape[0]):
        variance = decay * variance + (1 - decay) * returns[day] ** 2
        path[day] = variance
    return path


@dataclass(frozen=True, slots=True)
class LongRunVariance:
    """The (c) floor's variance, and how much of the 10-year lookback it actually saw."""

    variance: Array  # per underlying
    observations: int  # daily returns used
    shortfall_days: int  # lookback days with no history: 0 once 10 years exist


def long_run_variance(returns: Array, config: VolatilityConfig) -> LongRunVariance:
    """Equal-weight variance over the lookback floor (10 years of daily returns; the
    configuration refuses a shorter lookback). With less history the floor uses what exists
    and reports the shortfall, so the caller can say the floor is not yet a 10-year one."""
    returns = np.atleast_2d(np.asarray(returns, dtype=np.float64))
    assert returns.shape[0] > 0, "a floor needs at least one observation"
    window = returns[-config.lookback_floor_days :]
    variance: Array = np.mean(window**2, axis=0)
    shortfall = max(config.lookback_floor_days - window.shape[0], 0)
    return LongRunVariance(variance, window.shape[0], shortfall)


def stressed_variance(returns: Array, window_days: int = 20) -> Array:
    """The highest mean squared return over any ``window_days`` of the history."""
    returns = np.atleast_2d(np.asarray(returns, dtype=np.float64))
    window = min(window_days, returns.shape[0])
    squares = np.cumsum(np.vstack([np.zeros(returns.shape[1]), returns**2]), axis=0)
    means = (squares[window:] - squares[:-window]) / window
    result: Array = means.max(axis=0)
    return result


def apc_variance(
    ewma: Array, stressed: Array, long_run: Array, config: VolatilityConfig
) -> Array:
    """(b) then (c): stressed weight, floored by the long-run variance."""
    assert 0 < config.stress_weight_ppm <= ppm, "configuration keeps the weight in (0, 1]"
    weight = np.float64(config.stress_weight_ppm) / ppm
    blended = (1 - weight) * np.asarray(ewma) + weight * np.asarray(stressed)
    result: Array = np.maximum(blended, long_run)
    return result


def price_scan_range(variance_daily: Array, config: VolatilityConfig) -> Array:
    """The calculated price scan range (a fraction of price) from a daily variance."""
    z = np.float64(config.confidence_z_ppm) / ppm
    result: Array = z * np.sqrt(np.asarray(variance_daily) * config.holding_days)
    return result


def posted_range(calculated: Array, previous: Array | None, config: VolatilityConfig) -> Array:
    """(a) with step limits: the range the venue posts after this update."""
    calculated = np.asarray(calculated, dtype=np.float64)
    target = calculated * (1 + np.float64(config.buffer_ppm) / ppm)
    if previous is None:
        return target
    previous = np.asarray(previous, dtype=np.float64)
    rise_max = previous * (1 + np.float64(config.step_up_ppm_max) / ppm)
    fall_max = previous * (1 - np.float64(config.step_down_ppm_max) / ppm)
    stepped = np.clip(target, fall_max, rise_max)
    result: Array = np.maximum(stepped, calculated)  # never below the calculated range
    return result


@dataclass(frozen=True, slots=True)
class RiskScore:
    score: Array  # current over long-run volatility, per underlying
    multiplier: Array  # initial-margin multiplier, per underlying


def risk_score(ewma: Array, long_run: Array, config: VolatilityConfig) -> RiskScore:
    current = np.sqrt(np.asarray(ewma, dtype=np.float64))
    baseline = np.sqrt(np.asarray(long_run, dtype=np.float64))
    score = np.where(baseline > 0, current / np.where(baseline > 0, baseline, 1), 1)
    slope = np.float64(config.score_slope_ppm) / ppm
    cap = np.float64(config.score_multiplier_ppm_max) / ppm
    multiplier = np.clip(1 + slope * (score - 1), 1, cap)
    return RiskScore(score, multiplier)
