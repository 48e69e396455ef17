"""Every parameter of the risk engine, in one frozen value loadable from a dict or JSON.

Rates are integers in parts per million (ppm) so that configuration holds no binary fraction:
0.5% is ``5_000``. Defaults follow shared/research/margin.md: Binance-style brackets for
linear and inverse perpetuals, Deribit's portfolio-margin grid (±16% in 9 steps x volatility
up/same/down, plus 8 extended moves), CME SPAN's 16 scenarios, RiskMetrics EWMA (λ = 0.94)
and EMIR Art. 28 anti-procyclicality (a 25% buffer, 25% weight on stressed observations, a
10-year floor). Where a venue's rule is unclear or breaks a property we must keep, the choice
is written next to the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum, unique
from typing import Any

from ringfence.core.errors import InputError, Result

ppm = 1_000_000  # one whole, in parts per million
lookback_floor_days_min = 3_650  # EMIR RTS 153/2013 Art. 28 (c): a 10-year lookback


def _only(kind: type, document: object) -> dict[str, Any]:
    if not isinstance(document, Mapping):
        raise InputError(Result.risk_config_invalid, f"{kind.__name__} must be an object")
    known = {item.name for item in fields(kind)}
    unknown = set(document) - known
    if unknown:
        raise InputError(Result.field_unknown, ", ".join(sorted(unknown)))
    return dict(document)


def _check_config_value(value: object, name: str) -> None:
    if isinstance(value, tuple):
        for item in value:
            _check_int(item, name, -ppm, 100 * ppm)
    else:
        _check_int(value, name, 0, 100 * ppm)


def _check_int(value: object, name: str, low: int, high: int | None = None) -> None:
    """Configuration numbers are ints (never floats, never bools) within bounds."""
    if type(value) is not int or value < low or (high is not None and value > high):
        raise InputError(Result.risk_config_invalid, f"{name} = {value!r}")


@unique
class LiquidationConvention(StrEnum):
    """Where maintenance margin is evaluated when solving for the liquidation price.

    ``at_liquidation`` (Binance, Hyperliquid): MM is charged on the notional at the
    liquidation price itself, so the price solves equity(P) = MM(P) exactly. ``at_entry``
    (Bybit's published linear examples): MM is fixed at the entry notional.
    """

    at_liquidation = "at_liquidation"
    at_entry = "at_entry"


@dataclass(frozen=True, slots=True)
class Tier:
    """One bracket: from ``notional_floor`` (whole units of the settlement asset) upwards."""

    notional_floor: int
    maintenance_ppm: int
    initial_ppm: int

    def __post_init__(self) -> None:
        _check_int(self.notional_floor, "notional_floor", 0)
        # Below 100%: at m = 1 an isolated long's liquidation price divides by Q x (m - 1)
        # and a short's equity minus maintenance stops moving with the price.
        _check_int(self.maintenance_ppm, "maintenance_ppm", 1, ppm - 1)
        _check_int(self.initial_ppm, "initial_ppm", 1, ppm)
        if self.initial_ppm < self.maintenance_ppm:
            raise InputError(Result.risk_config_invalid, "initial rate below maintenance rate")


# Binance USD-M BTCUSDT brackets (floors in USDT; maintenance rate; initial = 1/max leverage).
tiers_linear_default: tuple[Tier, ...] = (
    Tier(0, 4_000, 8_000),
    Tier(50_000, 5_000, 10_000),
    Tier(250_000, 10_000, 20_000),
    Tier(1_000_000, 25_000, 50_000),
    Tier(10_000_000, 50_000, 100_000),
    Tier(20_000_000, 100_000, 200_000),
    Tier(50_000_000, 125_000, 250_000),
    Tier(100_000_000, 150_000, 333_334),
    Tier(200_000_000, 250_000, 500_000),
    Tier(300_000_000, 500_000, 1_000_000),
)
# Binance COIN-M BTCUSD brackets (floors in BTC).
tiers_inverse_default: tuple[Tier, ...] = (
    Tier(0, 5_000, 8_000),
    Tier(5, 10_000, 20_000),
    Tier(10, 25_000, 50_000),
    Tier(20, 50_000, 100_000),
    Tier(50, 100_000, 200_000),
    Tier(100, 125_000, 250_000),
    Tier(200, 150_000, 333_334),
    Tier(400, 250_000, 500_000),
    Tier(1_000, 500_000, 1_000_000),
)


@dataclass(frozen=True, slots=True)
class GridConfig:
    """Deribit-style portfolio grid: price moves x volatility shocks, plus extended moves.

    The volatility shock for an option of ``days`` to expiry is
    ``shock x (reference_days / max(floor_days, days)) ** power`` (Paradex's explicit form of
    Deribit's rule), with the short-term power up to ``reference_days`` and the long-term power
    beyond; an upward shock is applied to at least ``shock_up_vol_floor_ppm`` of volatility.
    Extended moves are counted at ``extended_fraction_ppm`` of their loss with volatility up.
    Deribit dampens the extended table by position size; a size-dependent dampener makes the
    requirement super-additive (two halves would owe less than the whole), which breaks the
    hedge property the design asks for, so this engine counts a fixed fraction instead.
    """

    price_moves_ppm: tuple[int, ...] = (
        -160_000, -120_000, -80_000, -40_000, 0, 40_000, 80_000, 120_000, 160_000,
    )
    vol_shock_up_ppm: int = 500_000
    vol_shock_down_ppm: int = 250_000
    shock_up_vol_floor_ppm: int = 500_000
    vega_power_short_ppm: int = 300_000
    vega_power_long_ppm: int = 130_000
    reference_days: int = 30
    floor_days: int = 1
    extended_moves_ppm: tuple[int, ...] = (
        -660_000, -330_000, 500_000, 1_000_000, 2_000_000, 3_000_000, 4_000_000, 5_000_000,
    )
    extended_fraction_ppm: int = 350_000
    # The scan's worst loss is the maintenance figure; IM = MM / mm_factor (Deribit's 0.8,
    # research §2.4 and §3), so initial is 1.25 x maintenance by default.
    maintenance_factor_ppm: int = 800_000


@dataclass(frozen=True, slots=True)
class SpanConfig:
    """CME SPAN's 16 scenarios: price in thirds of the price scan range, volatility ±1 scan
    range, two extreme moves counted at a fraction. The price scan range is the posted one from
    the volatility model when known, else ``price_scan_default_ppm``."""

    price_scan_default_ppm: int = 120_000
    vol_scan_ppm: int = 250_000  # relative to the option's volatility
    extreme_multiple_ppm: int = 2_000_000
    extreme_fraction_ppm: int = 350_000
    maintenance_factor_ppm: int = 800_000  # IM = MM / factor, as in the grid
    # The deepest fall any scenario scans (the grid's deepest extended move): past a 33%
    # range the -2 ranges extreme would reach -66%, past 50% it would cross -100%, where an
    # inverse lot's value is unbounded. Deeper moves stop here, so requirements stay finite
    # and never fall as the range widens.
    move_depth_ppm_max: int = 660_000


@dataclass(frozen=True, slots=True)
class VolatilityConfig:
    """EWMA volatility with EMIR Art. 28 anti-procyclicality and step limits."""

    lambda_ppm: int = 940_000
    buffer_ppm: int = 250_000  # (a): at least 25%, drawn down while margin rises
    stress_weight_ppm: int = 250_000  # (b): weight on stressed observations
    lookback_floor_days: int = 3_650  # (c): never below the 10-year volatility
    step_up_ppm_max: int = 200_000  # a posted range rises at most 20% per update
    step_down_ppm_max: int = 50_000  # and falls at most 5% per update
    confidence_z_ppm: int = 2_575_829  # 99.5% one-sided
    holding_days: int = 2  # margin period of risk
    days_per_year: int = 365
    score_slope_ppm: int = 500_000  # initial-margin add-on per unit of score above 1
    score_multiplier_ppm_max: int = 2_000_000


@dataclass(frozen=True, slots=True)
class OptionConfig:
    """Standard (non-portfolio) margin for options, Deribit-style: a short option needs
    ``max(initial - out_of_the_money, floor)`` of the underlying's value. A long option is
    charged its premium (its value at the mark) as initial and maintenance margin: options
    settle futures-style, no premium is collected at the trade, and equity counts the
    option's value, so without the charge a long could be bought on no collateral and its
    decay owed later. SPAN's short-option minimum applies per short contract in portfolio
    buckets."""

    short_initial_ppm: int = 150_000
    short_floor_ppm: int = 100_000
    short_maintenance_ppm: int = 75_000
    short_option_minimum_ppm: int = 10_000
    discount_rate_ppm: int = 0


@dataclass(frozen=True, slots=True)
class RiskConfig:
    """Everything the engine reads; ``from_dict(to_dict(c)) == c``."""

    tiers: Mapping[str, tuple[Tier, ...]] = field(
        default_factory=lambda: {
            "linear": tiers_linear_default,
            "inverse": tiers_inverse_default,
        }
    )
    liquidation_convention: LiquidationConvention = LiquidationConvention.at_liquidation
    grid: GridConfig = field(default_factory=GridConfig)
    span: SpanConfig = field(default_factory=SpanConfig)
    volatility: VolatilityConfig = field(default_factory=VolatilityConfig)
    option: OptionConfig = field(default_factory=OptionConfig)

    def __post_init__(self) -> None:
        for name, schedule in self.tiers.items():
            floors = [tier.notional_floor for tier in schedule]
            if not schedule or floors[0] != 0 or floors != sorted(set(floors)):
                raise InputError(Result.risk_config_invalid, f"tiers {name}: floors from 0 up")
            rates = [tier.maintenance_ppm for tier in schedule]
            if rates != sorted(rates):
                raise InputError(Result.risk_config_invalid, f"tiers {name}: rates must rise")
        for value in (self.grid, self.span, self.volatility, self.option):
            for item in fields(value):
                _check_config_value(getattr(value, item.name), item.name)
        if not 0 < self.volatility.lambda_ppm < ppm:
            raise InputError(Result.risk_config_invalid, "lambda_ppm must be in (0, 1)")
        if self.volatility.buffer_ppm < 250_000:
            raise InputError(Result.risk_config_invalid, "EMIR Art. 28 buffer is at least 25%")
        if not self.grid.price_moves_ppm or 0 not in self.grid.price_moves_ppm:
            raise InputError(Result.risk_config_invalid, "the grid must hold the zero move")
        self._check_factors()

    def _check_factors(self) -> None:
        """Parameters whose zero or excess would silently remove margin."""
        for name, factor in (
            ("grid.maintenance_factor_ppm", self.grid.maintenance_factor_ppm),
            ("span.maintenance_factor_ppm", self.span.maintenance_factor_ppm),
        ):
            if not 0 < factor <= ppm:  # IM = MM / factor: 0 divides, above 1 lowers IM
                raise InputError(Result.risk_config_invalid, f"{name} must be in (0, 1]")
        if self.span.price_scan_default_ppm <= 0:  # a zero range would move no price
            raise InputError(Result.risk_config_invalid, "price_scan_default_ppm must be > 0")
        if not 0 < self.span.move_depth_ppm_max < ppm:  # a fall of 100% prices at zero
            raise InputError(Result.risk_config_invalid, "move_depth_ppm_max must be in (0, 1)")
        if not any(self.grid.price_moves_ppm):
            raise InputError(Result.risk_config_invalid, "the grid must move the price")
        if min((*self.grid.price_moves_ppm, *self.grid.extended_moves_ppm)) <= -ppm:
            # A move of -100% prices at zero: an inverse lot's value there is unbounded.
            raise InputError(Result.risk_config_invalid, "grid moves must stay above -100%")
        if not 0 < self.volatility.stress_weight_ppm <= ppm:
            raise InputError(Result.risk_config_invalid, "stress_weight_ppm must be in (0, 1]")
        if self.volatility.lookback_floor_days < lookback_floor_days_min:
            raise InputError(
                Result.risk_config_invalid, "EMIR Art. 28 (c): the floor looks back 10 years"
            )

    def to_dict(self) -> dict[str, Any]:
        document = asdict(self)
        document["tiers"] = {
            name: [asdict(tier) for tier in schedule] for name, schedule in self.tiers.items()
        }
        document["liquidation_convention"] = self.liquidation_convention.value
        return document

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> RiskConfig:
        """A configuration from a dict (parsed JSON); unknown keys are refused, missing ones
        take their defaults."""
        known = {item.name for item in fields(cls)}
        unknown = set(document) - known
        if unknown:
            raise InputError(Result.field_unknown, ", ".join(sorted(unknown)))
        values: dict[str, Any] = {}
        if "tiers" in document:
            values["tiers"] = {
                name: tuple(Tier(**_only(Tier, tier)) for tier in schedule)
                for name, schedule in document["tiers"].items()
            }
        if "liquidation_convention" in document:
            try:
                values["liquidation_convention"] = LiquidationConvention(
                    document["liquidation_convention"]
                )
            except ValueError:
                raise InputError(Result.risk_config_invalid, "liquidation_convention") from None
        parts: dict[str, type] = {
            "grid": GridConfig,
            "span": SpanConfig,
            "volatility": VolatilityConfig,
            "option": OptionConfig,
        }
        for name, part in parts.items():
            if name in document:
                given = dict(_only(part, document[name]))
                for key, value in given.items():
                    if isinstance(value, list):
                        given[key] = tuple(value)
                values[name] = part(**given)
        return cls(**values)

