"""Observation, price and settings files, parsed from text the shell has read.

Observations (JSON lines, one holding per line; ``ringfence reconcile --observations``)::

    {"chain": "bitcoin", "address": "bc1q...", "asset": "BTC", "amount": "150000000",
     "height": 871002, "time_ns": 0, "source": "utxo-snapshot-3f2a"}

``amount`` is in minor units (a decimal string of digits, or a JSON integer). Prices (JSON)::

    {"prices": [{"asset": "BTC", "quote": "USD", "price": "65000.25",
                 "source": "close-2026-11-20", "time_ns": 1795132800000000000}]}

Settings (JSON; ``--settings``): targets in the asset's major unit, and the tolerance above the
target, in basis points of the requirement, beyond which house assets count as commingled::

    {"targets": [{"pool": "main", "asset": "BTC", "target": "0.5"}],
     "excess_tolerance_bps": 100}

Every defect is an ``InputError`` naming the line or field; nothing is guessed or rounded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ringfence.core import limits
from ringfence.core.custody.holdings import Observation
from ringfence.core.custody.registry import Chain
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import check_name
from ringfence.core.ledger.wire import check_json_depth
from ringfence.core.money import Asset, check_units, parse_amount
from ringfence.core.recon.history import Price
from ringfence.core.recon.run import ReconSettings, excess_tolerance_bps_default
from ringfence.core.recon.segregation_statement import PoolAsset

_observation_fields = frozenset(
    {"chain", "address", "asset", "amount", "height", "time_ns", "source"}
)


def _document(text: bytes, what: str) -> Any:
    if len(text) > limits.recon_file_bytes_max:
        raise InputError(
            Result.line_too_long, f"{what} is larger than {limits.recon_file_bytes_max}"
        )
    check_json_depth(text)
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(Result.line_malformed, f"{what}: {error}") from None


def _integer(value: object, what: str) -> int:
    if type(value) is not int or value < 0:
        raise InputError(Result.observation_point_invalid, f"{what} {value!r}")
    return value


def parse_observations(text: bytes, assets: Mapping[str, Asset]) -> list[Observation]:
    """One ``Observation`` per non-blank line; the asset must be one the ledger defines, on
    the line's chain, and each (chain, address, asset) may appear once (a line given twice
    would count its holding twice)."""
    if len(text) > limits.recon_file_bytes_max:
        raise InputError(Result.line_too_long, "observations file too large")
    found = []
    seen: set[tuple[Chain, str, str]] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        row = _document(line, f"observations line {number}")
        if not isinstance(row, dict):
            raise InputError(Result.line_malformed, f"observations line {number}: not an object")
        unknown = set(row) - _observation_fields
        if unknown:
            raise InputError(Result.field_unknown, f"line {number}: {sorted(unknown)[0]}")
        try:
            chain = Chain(str(row.get("chain")))
        except ValueError:
            raise InputError(Result.chain_unknown, f"line {number}: {row.get('chain')!r}") from None
        asset = row.get("asset")
        if asset not in assets:
            raise InputError(Result.asset_not_found, f"line {number}: {asset!r}")
        if assets[str(asset)].chain != chain.value:
            raise InputError(Result.asset_wrong_chain, f"line {number}: {asset} on {chain.value}")
        key = (chain, str(row.get("address")), str(asset))
        if key in seen:
            raise InputError(Result.observation_duplicate, f"line {number}: {key[2]} at {key[1]}")
        seen.add(key)
        source = row.get("source", "file")
        if not isinstance(source, str) or not 0 < len(source) <= 64 or not source.isascii():
            raise InputError(Result.name_invalid, f"line {number}: source {source!r}")
        found.append(
            Observation(
                chain,
                str(row.get("address")),  # checked by Observation
                str(asset),
                check_units(row.get("amount")),
                _integer(row.get("height", 0), f"line {number}: height"),
                _integer(row.get("time_ns", 0), f"line {number}: time_ns"),
                source,
            )
        )
    return found


def observation_line(observation: Observation) -> str:
    """The JSON line ``parse_observations`` reads back (a saved holdings file)."""
    return json.dumps(
        {
            "chain": observation.chain.value,
            "address": observation.address,
            "asset": observation.asset,
            "amount": str(observation.amount),
            "height": observation.height,
            "time_ns": observation.time_ns,
            "source": observation.source,
        }
    )


def parse_price_text(text: object, what: str) -> tuple[int, int]:
    """A positive decimal string as (units, scale): "65000.25" -> (6500025, 2)."""
    if not isinstance(text, str) or text.count(".") > 1:
        raise InputError(Result.price_invalid_for_statement, f"{what} {text!r}")
    whole, _, fraction = text.partition(".")
    if not (whole.isdigit() and (fraction.isdigit() or fraction == "")) or not text.isascii():
        raise InputError(Result.price_invalid_for_statement, f"{what} {text!r}")
    if len(fraction) > limits.price_scale_max:
        raise InputError(Result.price_invalid_for_statement, f"{what} finer than 10^-18")
    units = int(whole + fraction)
    if units <= 0 or units > limits.amount_units_max:
        raise InputError(Result.price_invalid_for_statement, f"{what} {text!r}")
    return units, len(fraction)


def parse_prices(text: bytes) -> dict[str, Price]:
    document = _document(text, "prices")
    rows = document.get("prices") if isinstance(document, dict) else None
    if not isinstance(rows, list):
        raise InputError(Result.field_required, 'prices: a list under "prices"')
    prices: dict[str, Price] = {}
    for index, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise InputError(Result.line_malformed, f"price {index}: not an object")
        asset, quote, source = row.get("asset"), row.get("quote", "USD"), row.get("source", "")
        for value, name in ((asset, "asset"), (quote, "quote"), (source, "source")):
            if not isinstance(value, str) or not 0 < len(value) <= 64 or not value.isascii():
                raise InputError(Result.price_invalid_for_statement, f"price {index}: {name}")
        assert isinstance(asset, str) and isinstance(quote, str) and isinstance(source, str)
        units, scale = parse_price_text(row.get("price"), f"price {index}")
        time_ns = row.get("time_ns", 0)
        if type(time_ns) is not int or not 0 <= time_ns <= limits.timestamp_ns_max:
            raise InputError(Result.price_invalid_for_statement, f"price {index}: time_ns")
        prices[asset] = Price(asset, quote, units, scale, source, time_ns)
    return prices


def parse_settings(
    text: bytes, assets: Mapping[str, Asset], pools: Mapping[str, object]
) -> ReconSettings:
    document = _document(text, "settings")
    if not isinstance(document, dict):
        raise InputError(Result.recon_settings_invalid, "settings: not an object")
    unknown = set(document) - {"targets", "excess_tolerance_bps"}
    if unknown:
        raise InputError(Result.field_unknown, f"settings: {sorted(unknown)[0]}")
    tolerance = document.get("excess_tolerance_bps", excess_tolerance_bps_default)
    if type(tolerance) is not int or not 0 <= tolerance <= 10_000:
        raise InputError(Result.recon_settings_invalid, f"excess_tolerance_bps {tolerance!r}")
    rows = document.get("targets", [])
    if not isinstance(rows, list):
        raise InputError(Result.recon_settings_invalid, "targets: not a list")
    targets: dict[PoolAsset, int] = {}
    for index, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or set(row) != {"pool", "asset", "target"}:
            raise InputError(Result.recon_settings_invalid, f"target {index}: pool, asset, target")
        pool = check_name(row["pool"], "pool")
        if pool not in pools:
            raise InputError(Result.pool_not_found, f"target {index}: {pool}")
        asset = assets.get(row["asset"])
        if asset is None:
            raise InputError(Result.asset_not_found, f"target {index}: {row['asset']!r}")
        targets[(pool, asset.code)] = parse_amount(row["target"], asset)
    return ReconSettings(targets, tolerance)
