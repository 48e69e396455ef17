"""core/risk/black76.py: reference values, Greeks against finite differences, parity."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ringfence.core.risk.black76 import black76, coin_valuation, norm_cdf


def test_normal_distribution_matches_erfc_to_double_precision() -> None:
    x = np.linspace(-38, 38, 20_001)
    reference = np.array([math.erfc(-v / math.sqrt(2)) / 2 for v in x])
    assert np.abs(norm_cdf(x) - reference).max() < 1e-15
    assert norm_cdf(np.array([0.0]))[0] == 0.5  # float-ok: test value


def test_haug_black76_reference_value() -> None:
    # Haug, The Complete Guide to Option Pricing Formulas: F = K = 19, T = 0.75, r = 10%,
    # vol 28%: call = put = 1.7011.
    call = black76(19, 19, 0.75, 0.28, rate=0.10, is_call=True)  # float-ok: test inputs
    put = black76(19, 19, 0.75, 0.28, rate=0.10, is_call=False)  # float-ok: test inputs
    assert float(call.value) == pytest.approx(1.7011, abs=5e-5)
    assert float(put.value) == pytest.approx(1.7011, abs=5e-5)


def test_reference_greeks() -> None:
    # F = 100, K = 100, T = 1, r = 0, vol 20%: C = 100 (2 N(0.1) - 1) = 7.965567,
    # delta N(0.1) = 0.539828, gamma phi(0.1)/20 = 0.019848, vega 100 phi(0.1) = 39.695255.
    v = black76(100, 100, 1, 0.2, rate=0, is_call=True)  # float-ok: test inputs
    assert float(v.value) == pytest.approx(7.965567455, rel=1e-9)
    assert float(v.delta) == pytest.approx(0.539827837, rel=1e-9)
    assert float(v.gamma) == pytest.approx(0.01984762737, rel=1e-9)
    assert float(v.vega) == pytest.approx(39.695254747, rel=1e-9)


@pytest.mark.parametrize("strike", [60_000, 65_000, 80_000])
def test_greeks_match_finite_differences(strike: int) -> None:
    f, t, s, r = 65_000.0, 0.1, 0.6, 0.03  # float-ok: test inputs
    v = black76(f, strike, t, s, rate=r, is_call=True)
    h = 1.0  # float-ok: bump
    up = black76(f + h, strike, t, s, rate=r, is_call=True)
    down = black76(f - h, strike, t, s, rate=r, is_call=True)
    assert float(v.delta) == pytest.approx(float(up.value - down.value) / (2 * h), rel=1e-6)
    assert float(v.gamma) == pytest.approx(
        float(up.value - 2 * v.value + down.value) / h**2, rel=1e-3
    )
    bump = 1e-5  # float-ok: bump
    vega = (
        black76(f, strike, t, s + bump, rate=r, is_call=True).value
        - black76(f, strike, t, s - bump, rate=r, is_call=True).value
    ) / (2 * bump)
    assert float(v.vega) == pytest.approx(float(vega), rel=1e-6)


def test_put_call_parity_over_a_grid() -> None:
    f = np.array([50.0, 100, 150])[:, None, None]  # float-ok: test inputs
    k = np.array([80.0, 100, 120])[None, :, None]  # float-ok: test inputs
    t = np.array([0.01, 0.5, 2])[None, None, :]  # float-ok: test inputs
    r = 0.05  # float-ok: test rate
    call = black76(f, k, t, 0.4, rate=r, is_call=True)  # float-ok: test vol
    put = black76(f, k, t, 0.4, rate=r, is_call=False)  # float-ok: test vol
    assert np.allclose(call.value - put.value, np.exp(-r * t) * (f - k), atol=1e-10)
    assert np.allclose(call.delta - put.delta, np.exp(-r * t), atol=1e-12)
    assert np.allclose(call.gamma, put.gamma)
    assert np.allclose(call.vega, put.vega)


def test_expired_options_are_worth_intrinsic_value() -> None:
    v = black76(np.array([90.0, 110]), 100, 0, 0.5, rate=0, is_call=True)  # float-ok: test
    assert list(v.value) == [0, 10]
    assert list(v.delta) == [0, 1]
    assert list(v.gamma) == [0, 0]


def test_deribit_coin_delta_example() -> None:
    # Deribit's FAQ (research/margin.md §2.5): buying a 0.50-delta call for 0.10 BTC raises the
    # account's delta by 0.40. With r = 0 a 0.50 delta puts d1 = 0, and a coin premium of 0.10
    # then fixes sigma sqrt(T) = s with e^(s²/2) N(-s) = 0.40, solved here by bisection.
    low, high = 0.0, 5.0  # float-ok: bisection bounds
    for _ in range(200):
        s = (low + high) / 2
        premium = 0.5 - math.exp(s * s / 2) * float(norm_cdf(np.array([-s]))[0])  # float-ok
        low, high = (s, high) if premium < 0.1 else (low, s)  # float-ok: target premium
    f = 65_000.0  # float-ok: test forward
    strike = f * math.exp(s * s / 2)  # float-ok: d1 = 0
    usd = black76(f, strike, 1.0, s, rate=0, is_call=True)  # float-ok: T = 1, vol = s
    coin = coin_valuation(usd, f)
    assert float(usd.delta) == pytest.approx(0.50, abs=1e-9)
    assert float(coin.value) == pytest.approx(0.10, abs=1e-9)
    assert float(coin.delta) == pytest.approx(0.40, abs=1e-9)  # per unit of underlying


def test_coin_delta_matches_finite_differences() -> None:
    f = 65_000.0  # float-ok: test forward
    coin = coin_valuation(black76(f, 65_000, 0.05, 0.98, rate=0, is_call=True), f)  # float-ok
    h = 1.0  # float-ok: bump
    up = black76(f + h, 65_000, 0.05, 0.98, rate=0, is_call=True).value / (f + h)  # float-ok
    down = black76(f - h, 65_000, 0.05, 0.98, rate=0, is_call=True).value / (f - h)  # float-ok
    # Deribit's coin-account delta is F x the derivative of the coin premium.
    assert float(coin.delta) == pytest.approx(f * float(up - down) / (2 * h), rel=1e-5)


@pytest.mark.parametrize("strike", [40_000, 65_000, 90_000])
@pytest.mark.parametrize("is_call", [True, False])
def test_theta_is_minus_the_derivative_in_time_to_expiry(strike: int, is_call: bool) -> None:
    f, years, vol, rate = 65_000.0, 0.25, 0.7, 0.04  # float-ok: test inputs
    theta = black76(f, strike, years, vol, rate=rate, is_call=is_call).theta
    h = 1e-5  # float-ok: bump in years
    later = black76(f, strike, years - h, vol, rate=rate, is_call=is_call).value
    earlier = black76(f, strike, years + h, vol, rate=rate, is_call=is_call).value
    assert float(theta) == pytest.approx(float(later - earlier) / (2 * h), rel=1e-6)
    # Coin premium: theta over F, coin per year.
    coin = coin_valuation(black76(f, strike, years, vol, rate=rate, is_call=is_call), f)
    assert float(coin.theta) == pytest.approx(float(theta) / f, rel=1e-12)


def test_theta_with_no_volatility_is_the_discount_accrual() -> None:
    valuation = black76(65_000.0, 60_000, 0.5, 0.0, rate=0.04, is_call=True)  # float-ok
    assert float(valuation.theta) == pytest.approx(0.04 * float(valuation.value), rel=1e-12)
