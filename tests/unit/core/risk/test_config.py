"""core/risk/config.py: defaults from the research, a lossless dict form, refusals."""

from __future__ import annotations

import json

import pytest

from ringfence.core.errors import InputError, Result
from ringfence.core.risk.config import GridConfig, RiskConfig, Tier, VolatilityConfig


def test_defaults_follow_the_research() -> None:
    config = RiskConfig()
    assert len(config.grid.price_moves_ppm) == 9
    assert max(config.grid.price_moves_ppm) == 160_000
    assert len(config.grid.extended_moves_ppm) == 8
    assert config.volatility.lambda_ppm == 940_000
    assert config.volatility.buffer_ppm >= 250_000
    assert config.volatility.lookback_floor_days == 3_650


def test_round_trips_through_json() -> None:
    config = RiskConfig()
    assert RiskConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_partial_documents_take_defaults() -> None:
    config = RiskConfig.from_dict({"grid": {"price_moves_ppm": [-100_000, 0, 100_000]}})
    assert config.grid.price_moves_ppm == (-100_000, 0, 100_000)
    assert config.span == RiskConfig().span


@pytest.mark.parametrize(
    ("document", "code"),
    [
        ({"nope": 1}, Result.field_unknown),
        ({"grid": {"nope": 1}}, Result.field_unknown),
        ({"volatility": {"lambda_ppm": 0.94}}, Result.risk_config_invalid),
        ({"volatility": {"buffer_ppm": 100_000}}, Result.risk_config_invalid),
        ({"tiers": {"x": [{"notional_floor": 5, "maintenance_ppm": 1, "initial_ppm": 2}]}},
         Result.risk_config_invalid),
        ({"liquidation_convention": "bybit"}, Result.risk_config_invalid),
        ({"span": {"price_scan_default_ppm": 0}}, Result.risk_config_invalid),
        ({"grid": {"maintenance_factor_ppm": 0}}, Result.risk_config_invalid),
        ({"span": {"maintenance_factor_ppm": 1_200_000}}, Result.risk_config_invalid),
        ({"volatility": {"stress_weight_ppm": 0}}, Result.risk_config_invalid),
        ({"volatility": {"stress_weight_ppm": 1_000_001}}, Result.risk_config_invalid),
        ({"volatility": {"lookback_floor_days": 365}}, Result.risk_config_invalid),
        ({"grid": {"extended_moves_ppm": [-1_000_000]}}, Result.risk_config_invalid),
        ({"grid": {"price_moves_ppm": [-1_200_000, 0, 100_000]}}, Result.risk_config_invalid),
    ],
)
def test_refuses_bad_documents(document: dict[str, object], code: Result) -> None:
    with pytest.raises(InputError) as caught:
        RiskConfig.from_dict(document)
    assert caught.value.code is code


@pytest.mark.parametrize("maintenance_ppm", [1_000_000, 1_000_001, 2_000_000])
def test_refuses_a_maintenance_rate_of_100_percent_or_more(maintenance_ppm: int) -> None:
    # At m = 1 an isolated long's liquidation price divides by Q x (m - 1) = 0, and a
    # short's equity minus maintenance no longer moves with the price.
    with pytest.raises(InputError) as caught:
        Tier(0, maintenance_ppm, max(maintenance_ppm, 1_000_000))
    assert caught.value.code is Result.risk_config_invalid
    document = {"tiers": {"x": [{"notional_floor": 0, "maintenance_ppm": maintenance_ppm,
                                 "initial_ppm": 1_000_000}]}}
    with pytest.raises(InputError) as refused:
        RiskConfig.from_dict(document)
    assert refused.value.code is Result.risk_config_invalid
    assert Tier(0, 999_999, 1_000_000).maintenance_ppm == 999_999


def test_refuses_initial_below_maintenance_and_floats() -> None:
    with pytest.raises(InputError):
        Tier(0, 5_000, 4_000)
    with pytest.raises(InputError):
        RiskConfig(grid=GridConfig(vol_shock_up_ppm=True))
    with pytest.raises(InputError):
        RiskConfig(volatility=VolatilityConfig(lambda_ppm=1_000_000))
