"""core/risk/scenarios.py: the Greek columns of the risk arrays, per lot, in the settlement
asset's convention (docs/risk.md, "Greeks"). Expected values are closed forms at d1 = 0."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ringfence.core.risk.config import OptionConfig, RiskConfig
from ringfence.core.risk.instruments import Instrument, InstrumentKind, OptionType
from ringfence.core.risk.scenarios import (
    build_risk_arrays,
    grid_scenarios,
    instrument_table,
    nanoseconds_per_year,
)

strike = 65_000
sigma = 0.5  # float-ok: test volatility
years = 2
forward = strike * math.exp(-sigma * sigma * years / 2)  # float-ok: puts d1 at 0
density = 1 / math.sqrt(2 * math.pi)  # float-ok: phi(0)


def normal_tail(x: float) -> float:  # float-ok: N(-x) in closed form
    return math.erfc(x / math.sqrt(2)) / 2


def option(settlement: str, kind: OptionType) -> Instrument:
    return Instrument(f"btc-{settlement.lower()}-{kind.value}", InstrumentKind.option, "btc",
                      settlement, 8, 0, 1, 1, expiry_ns=years * nanoseconds_per_year,
                      strike_units=strike, option_type=kind)


def greek_rows(rate_ppm: int) -> tuple[np.ndarray, dict[str, int]]:  # type: ignore[type-arg]
    instruments = [option(asset, kind) for asset in ("BTC", "USDC") for kind in OptionType]
    table = instrument_table(instruments)
    config = RiskConfig(option=OptionConfig(discount_rate_ppm=rate_ppm))
    arrays = build_risk_arrays(table, np.full(table.count, forward), np.full(table.count, sigma),
                               now_ns=0, scenarios=grid_scenarios(config.grid), config=config)
    count = arrays.scenarios.count
    return arrays.columns[: table.count, count:], table.index


@pytest.mark.parametrize("rate_ppm", [0, 50_000])
def test_coin_settled_options_report_deribit_coin_account_delta_and_coin_vega(
    rate_ppm: int,
) -> None:
    rows, index = greek_rows(rate_ppm)
    discount = math.exp(-rate_ppm / 10**6 * years)
    spread = sigma * math.sqrt(years)
    # At d1 = 0: N(d1) = 1/2, N(d2) = N(-s sqrt T), K / F = e^(s² T / 2).
    call_coin = discount * (0.5 - math.exp(spread * spread / 2) * normal_tail(spread))
    put_coin = call_coin - discount * (1 - strike / forward)
    call, put = rows[index["btc-btc-call"]], rows[index["btc-btc-put"]]
    assert call[0] == pytest.approx(call_coin * 10**8, rel=1e-12)  # value per lot, satoshi
    # Deribit's coin-account delta: Black delta less the premium in coin, Δ - V/F.
    assert call[1] == pytest.approx(discount / 2 - call_coin, rel=1e-12)
    assert put[1] == pytest.approx(-discount / 2 - put_coin, rel=1e-12)
    # Vega in coin per 1.00 of volatility: D φ(d1) √T (the USD vega D F φ √T over F).
    assert call[3] == pytest.approx(discount * density * math.sqrt(years), rel=1e-12)
    assert put[3] == pytest.approx(discount * density * math.sqrt(years), rel=1e-12)
    # USDC-settled: Black delta and vega in USD, unchanged.
    usd_call = rows[index["btc-usdc-call"]]
    assert usd_call[1] == pytest.approx(discount / 2, rel=1e-12)
    assert usd_call[3] == pytest.approx(discount * forward * density * math.sqrt(years),
                                        rel=1e-12)


@pytest.mark.parametrize("rate_ppm", [0, 50_000])
def test_theta_is_the_closed_form_and_the_time_derivative_of_the_value(rate_ppm: int) -> None:
    rows, index = greek_rows(rate_ppm)
    rate = rate_ppm / 10**6
    discount = math.exp(-rate * years)
    spread = sigma * math.sqrt(years)
    call_coin = discount * (0.5 - math.exp(spread * spread / 2) * normal_tail(spread))
    # Θ/F = r V/F - D φ(d1) s / (2√T): coin per year for a coin-settled call.
    expected = rate * call_coin - discount * density * sigma / (2 * math.sqrt(years))
    assert rows[index["btc-btc-call"]][4] == pytest.approx(expected, rel=1e-12)
    # Every option's theta against the value column a day earlier and a day later.
    instruments = [option(asset, kind) for asset in ("BTC", "USDC") for kind in OptionType]
    table = instrument_table(instruments)
    config = RiskConfig(option=OptionConfig(discount_rate_ppm=rate_ppm))
    day_ns = nanoseconds_per_year // 365

    def values(now_ns: int) -> np.ndarray:  # type: ignore[type-arg]
        arrays = build_risk_arrays(
            table, np.full(table.count, forward), np.full(table.count, sigma), now_ns=now_ns,
            scenarios=grid_scenarios(config.grid), config=config,
        )
        return arrays.columns[: table.count, arrays.scenarios.count] / 10**8  # major units

    per_year = (values(day_ns) - values(-day_ns)) / 2 * 365
    for symbol, row in index.items():
        assert rows[row][4] == pytest.approx(per_year[row], rel=1e-5), symbol
        assert rows[row][4] < 0, symbol  # a long option loses value as time passes
