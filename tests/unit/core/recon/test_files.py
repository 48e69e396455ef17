"""core/recon/files.py: observation, price and settings files parse exactly or are refused
with a named code; nothing is rounded."""

from __future__ import annotations

import json

import pytest

from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import Pool, PoolKind, Terms
from ringfence.core.money import Asset
from ringfence.core.recon.files import (
    observation_line,
    parse_observations,
    parse_prices,
    parse_settings,
)

ASSETS = {"BTC": Asset("BTC", 8, 1, "bitcoin"), "ETH": Asset("ETH", 18, 2, "ethereum")}
POOLS = {"omni": Pool("omni", PoolKind.omnibus, Terms.custody)}
LINE = {"chain": "ethereum", "address": "0xabc", "asset": "ETH", "amount": str(2**100),
        "height": 5, "time_ns": 7, "source": "node"}  # fmt: skip


def lines(*rows: object) -> bytes:
    return "\n".join(json.dumps(row) for row in rows).encode()


def test_observations_round_trip_above_2_64() -> None:
    (observation,) = parse_observations(lines(LINE) + b"\n\n", ASSETS)
    assert observation.amount == 2**100
    assert parse_observations(observation_line(observation).encode(), ASSETS) == [observation]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"amount": 1.5}, Result.amount_must_not_be_float),
        ({"amount": "-1"}, Result.amount_must_not_be_negative),
        ({"asset": "DOGE"}, Result.asset_not_found),
        ({"chain": "solana"}, Result.chain_unknown),
        ({"height": -1}, Result.observation_point_invalid),
        ({"extra": 1}, Result.field_unknown),
    ],
)
def test_bad_observations_are_refused_by_name(change: dict[str, object], code: Result) -> None:
    with pytest.raises(InputError) as raised:
        parse_observations(lines({**LINE, **change}), ASSETS)
    assert raised.value.code is code
    with pytest.raises(InputError) as raised:
        parse_observations(b"{not json", ASSETS)
    assert raised.value.code is Result.line_malformed


def test_prices_are_integers_with_a_scale() -> None:
    row = {"asset": "BTC", "quote": "EUR", "price": "65000.125", "source": "close"}
    (price,) = parse_prices(json.dumps({"prices": [row]}).encode()).values()
    assert (price.units, price.scale, price.quote) == (65_000_125, 3, "EUR")
    assert price.value(150_000_000, ASSETS["BTC"]) == 97_500_187  # 1.5 BTC, rounded down
    for bad in ("65,000", "1e5", "-3", "0", 65000.5):
        with pytest.raises(InputError):
            parse_prices(json.dumps({"prices": [{**row, "price": bad}]}).encode())


def test_settings_targets_in_the_major_unit() -> None:
    text = {"targets": [{"pool": "omni", "asset": "BTC", "target": "0.5"}],
            "excess_tolerance_bps": 25}  # fmt: skip
    settings = parse_settings(json.dumps(text).encode(), ASSETS, POOLS)
    assert settings.targets == {("omni", "BTC"): 50_000_000}
    assert settings.excess_tolerance_bps == 25
    finer = {"targets": [{"pool": "omni", "asset": "BTC", "target": "0.000000001"}]}
    with pytest.raises(InputError) as raised:
        parse_settings(json.dumps(finer).encode(), ASSETS, POOLS)
    assert raised.value.code is Result.amount_finer_than_asset_scale
    unknown = {"targets": [{"pool": "ghost", "asset": "BTC", "target": "1"}]}
    with pytest.raises(InputError) as raised:
        parse_settings(json.dumps(unknown).encode(), ASSETS, POOLS)
    assert raised.value.code is Result.pool_not_found
