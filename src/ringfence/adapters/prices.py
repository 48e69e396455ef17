"""Price sources: a table of saved prices (a closing-price file, a test's fixed prices).

``PriceTable`` implements ``service.ports.PriceSource``: for each asset, the latest price at or
before the time asked; a price with no time (``time_ns`` 0) stands for any time. A market data
feed would be another adapter behind the same port.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from ringfence.core.recon.history import Price


class PriceTable:
    def __init__(self, prices: Iterable[Price]) -> None:
        self._by_asset: dict[str, list[Price]] = {}
        for price in prices:
            self._by_asset.setdefault(price.asset, []).append(price)
        for listed in self._by_asset.values():
            listed.sort(key=lambda price: price.time_ns)

    def prices(self, assets: Collection[str], at_ns: int) -> dict[str, Price]:
        found = {}
        for asset in assets:
            usable = [p for p in self._by_asset.get(asset, ()) if p.time_ns <= at_ns]
            if usable:
                found[asset] = usable[-1]
        return found
