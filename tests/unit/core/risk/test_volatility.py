"""core/risk/volatility.py: EWMA, EMIR Art. 28 tools, step limits and the risk score."""

from __future__ import annotations

import numpy as np
import pytest

from ringfence.core.risk.config import VolatilityConfig
from ringfence.core.risk.volatility import (
    apc_variance,
    ewma_variance,
    long_run_variance,
    posted_range,
    price_scan_range,
    risk_score,
    stressed_variance,
)

config = VolatilityConfig()


def test_ewma_recursion_with_lambda_094() -> None:
    returns = np.array([[0.01], [0.02], [-0.03]])  # float-ok: test returns
    path = ewma_variance(returns, config, seed=np.array([0.0001]))  # float-ok: test seed
    expected = 0.0001  # float-ok: test seed
    for r in (0.01, 0.02, -0.03):  # float-ok: test returns
        expected = 0.94 * expected + 0.06 * r * r  # float-ok: RiskMetrics
        assert path[[0.01, 0.02, -0.03].index(r), 0] == pytest.approx(expected)  # float-ok


def test_half_life_is_about_eleven_days() -> None:
    # RiskMetrics' λ = 0.94 halves a shock's weight in about 11.2 days: measured on the code.
    returns = np.zeros((13, 1))
    returns[0] = 1
    path = ewma_variance(returns, config, seed=np.array([0.0]))  # float-ok: test seed
    assert path[12, 0] / path[0, 0] < 0.5 < path[11, 0] / path[0, 0]  # 11 < 11.2 < 12


def test_apc_applies_stress_weight_then_the_ten_year_floor() -> None:
    blended = apc_variance(np.array([1.0]), np.array([9.0]), np.array([0.0]), config)  # float-ok
    assert blended[0] == pytest.approx(0.75 * 1 + 0.25 * 9)  # float-ok: EMIR weights
    floored = apc_variance(np.array([1.0]), np.array([1.0]), np.array([4.0]), config)  # float-ok
    assert floored[0] == 4


def test_posted_range_keeps_the_buffer_and_moves_in_limited_steps() -> None:
    first = posted_range(np.array([0.1]), None, config)  # float-ok: test range
    assert first[0] == pytest.approx(0.125)  # float-ok: 25% buffer
    calm = posted_range(np.array([0.01]), first, config)  # float-ok: test range
    assert calm[0] == pytest.approx(0.125 * 0.95)  # float-ok: falls at most 5%
    storm = posted_range(np.array([0.5]), first, config)  # float-ok: test range
    assert storm[0] == pytest.approx(0.5)  # never below calculated, buffer drawn down
    mild = posted_range(np.array([0.11]), first, config)  # float-ok: test range
    assert mild[0] == pytest.approx(0.1375)  # float-ok: target within the step limit


def test_long_run_stressed_and_scan_range() -> None:
    rng = np.random.default_rng(3)
    returns = rng.normal(0, 0.02, (4_000, 2))  # float-ok: synthetic returns
    returns[1_000:1_020] *= 5
    long_run = long_run_variance(returns, config)
    assert long_run.variance.shape == (2,)
    assert long_run.observations == 3_650
    assert long_run.shortfall_days == 0
    assert (stressed_variance(returns) > long_run.variance).all()
    psr = price_scan_range(np.array([0.0004]), config)  # float-ok: 2% daily vol
    assert psr[0] == pytest.approx(2.575829 * 0.02 * np.sqrt(2))  # float-ok: z sigma sqrt(h)


def test_risk_score_raises_initial_margin_when_volatility_runs_hot() -> None:
    score = risk_score(np.array([4.0, 1.0, 0.25]), np.array([1.0, 1.0, 1.0]), config)  # float-ok
    assert score.score.tolist() == [2, 1, 0.5]
    assert score.multiplier.tolist() == [1.5, 1, 1]


def test_a_short_history_floor_reports_its_shortfall() -> None:
    returns = np.full((1_000, 1), 0.01)  # float-ok: synthetic returns
    long_run = long_run_variance(returns, config)
    assert long_run.observations == 1_000
    assert long_run.shortfall_days == 2_650
    assert long_run.variance[0] == pytest.approx(0.0001)  # float-ok: 1% squared
