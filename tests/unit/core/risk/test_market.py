"""core/risk/market.py: market data is positive integers only, and the arrays a scan reads:
forwards and volatilities per instrument, posted ranges and multipliers per underlying."""

from __future__ import annotations

import math

import pytest

from ringfence.core.errors import InputError, Result
from ringfence.core.risk.instruments import Instrument, InstrumentKind, OptionType
from ringfence.core.risk.market import MarketData, market_arrays, per_underlying, posted_ranges
from ringfence.core.risk.scenarios import instrument_table

perp = Instrument("btc-perp", InstrumentKind.perpetual, "btc", "USDC", 6, 1, 1, 1, 3)
eth = Instrument("eth-perp", InstrumentKind.perpetual, "eth", "USDC", 6, 2, 1, 1, 2)
call = Instrument("btc-c", InstrumentKind.option, "btc", "BTC", 8, 4, 5, 1, 1, expiry_ns=1,
                  strike_units=65_000, option_type=OptionType.call)
table = instrument_table([perp, eth, call])


def test_forwards_are_in_whole_price_units_and_volatilities_a_fraction_of_one() -> None:
    market = MarketData(0, {"btc-perp": 650_005, "eth-perp": 340_000, "btc-c": 64_000},
                        {"btc-c": 600_000})
    forwards, vols = market_arrays(table, market)
    assert forwards.tolist() == [65_000.5, 3_400.0, 64_000.0]  # the option: strike scale 0
    assert vols.tolist() == [0.0, 0.0, 0.6]


def test_a_missing_mark_or_option_volatility_is_named() -> None:
    with pytest.raises(InputError) as caught:
        market_arrays(table, MarketData(0, {"btc-perp": 1, "btc-c": 1}, {"btc-c": 1}))
    assert caught.value.code is Result.mark_price_missing
    assert caught.value.detail == "eth-perp"
    with pytest.raises(InputError) as caught:
        market_arrays(table, MarketData(0, {"btc-perp": 1, "eth-perp": 1, "btc-c": 1}))
    assert caught.value.code is Result.field_required


@pytest.mark.parametrize(("fields", "code"), [
    ({"prices": {"btc-perp": 0}}, Result.price_invalid),
    ({"prices": {"btc-perp": 650_000.0}}, Result.price_invalid),
    ({"volatilities_ppm": {"btc-c": 0}}, Result.risk_config_invalid),
    ({"price_ranges_ppm": {"btc": 0}}, Result.risk_config_invalid),
    ({"multipliers_ppm": {"btc": 999_999}}, Result.risk_config_invalid),
])
def test_market_data_refuses_zero_floats_and_multipliers_below_one(
    fields: dict[str, dict[str, object]], code: Result
) -> None:
    values: dict[str, dict[str, object]] = {"prices": {"btc-perp": 1}, **fields}
    with pytest.raises(InputError) as caught:
        MarketData(0, **values)  # type: ignore[arg-type]
    assert caught.value.code is code


def test_per_underlying_values_fall_back_to_nan_or_the_default() -> None:
    assert table.underlyings == ("btc", "eth")
    assert posted_ranges(table, {}) is None
    ranges = posted_ranges(table, {"eth": 150_000})
    assert ranges is not None
    assert math.isnan(ranges[0])
    assert ranges[1] == 0.15
    assert per_underlying(table, {}, None) is None
    multipliers = per_underlying(table, {"btc": 1_500_000}, 1)
    assert multipliers is not None
    assert multipliers.tolist() == [1.5, 1.0]
