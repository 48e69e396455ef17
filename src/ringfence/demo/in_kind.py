"""The in-kind return schedule of the demo's failure (MiCA Art. 75: clients' crypto-assets are
returned in kind), read off the failure scene's simulation (demo/insolvency.py) by
service/in_kind.py, as the report shows it: per pool and asset, what its clients claim, what
comes back in kind, what is set off against loans and what is left as a claim on the estate,
summed over the schedule's rows, beside the pool's own figure for what it returns, so that
the two can be checked against each other; and the simulator's order of steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ringfence.core.money import Asset, format_amount, formatted_units
from ringfence.service.in_kind import in_kind_schedule

parts: Final = ("claim", "held_back", "set_off", "returned_in_kind", "unsecured_claim")


def in_kind_section(simulation: Mapping[str, Any], assets: Mapping[str, Asset]) -> dict[str, Any]:
    """The schedule of ``simulation`` summed per pool and asset, and per asset."""
    schedule = in_kind_schedule(simulation)
    sums: dict[tuple[str, str], list[int]] = {}
    standings: dict[tuple[str, str], str] = {}
    for row in schedule["returns"]:
        key = (row["pool"], row["asset"])
        entry = sums.setdefault(key, [0] * (len(parts) + 1))
        for index, name in enumerate(parts):
            entry[index] += formatted_units(row[name])
        entry[-1] += 1
        standings[key] = row["standing"]
    pools = {(pool["pool"], pool["asset"]): pool for pool in schedule["pools"]}
    rows = []
    per_asset: dict[str, list[int]] = {}
    for (pool, code), entry in sorted(sums.items()):
        asset = assets[code]
        found = pools.get((pool, code))
        pool_returned = formatted_units(found["returned_in_kind"]) if found else 0
        units = dict(zip(parts, entry[:-1], strict=True)) | {"pool_returned_in_kind": pool_returned}
        rows.append({
            "pool": pool, "asset": code, "standing": standings[(pool, code)],
            "positions": entry[-1],
            "recovery_in_kind": found["recovery_in_kind"] if found else None,
            **{name: format_amount(value, asset) for name, value in units.items()},
            "units": units,
        })  # fmt: skip
        totals = per_asset.setdefault(code, [0] * len(parts))
        for index in range(len(parts)):
            totals[index] += entry[index]
    return {
        "petition_date": schedule["petition_date"],
        "payout": schedule["payout"],
        "positions": len(schedule["returns"]),
        "order_of_operations": schedule["order_of_operations"],
        "pools": rows,
        "assets": [
            {"asset": code,
             **{name: format_amount(value, assets[code]) for name, value in zip(parts, totals,
                                                                                strict=True)},
             "units": dict(zip(parts, totals, strict=True))}
            for code, totals in sorted(per_asset.items())
        ],
        "estate_dividends_in_kind": len(schedule["estate_dividends_in_kind"]),
    }  # fmt: skip
