"""Changes to the venue's book decided but not yet kept: a fill's positions and ids staged over
the book as it stands, so a batch of fills is checked whole and kept only once the fees they
owe are on the ledger (service/risk.py)."""

from __future__ import annotations

from collections.abc import Mapping

from ringfence.core.risk.instruments import Position
from ringfence.core.risk.settlement import Fill


class StagedBook:
    """Changes to the book decided but not yet kept: overlays on the positions and fill ids,
    kept only once the fees they owe are on the ledger."""

    def __init__(
        self, positions: Mapping[tuple[str, str], Position], fills: Mapping[int, Fill]
    ) -> None:
        self.base_positions = positions
        self.base_fills = fills
        self.positions: dict[tuple[str, str], Position] = {}
        self.fills: dict[int, Fill] = {}

    def position(self, key: tuple[str, str]) -> Position | None:
        staged = self.positions.get(key)
        return staged if staged is not None else self.base_positions.get(key)

    def fill(self, fill_id: int) -> Fill | None:
        staged = self.fills.get(fill_id)
        return staged if staged is not None else self.base_fills.get(fill_id)

    def held(self, bucket: str) -> int:
        """Positions the bucket holds (open or awaiting settlement), staged ones included."""
        base = sum(1 for key in self.base_positions if key[0] == bucket)
        new = sum(
            1 for key in self.positions if key[0] == bucket and key not in self.base_positions
        )
        return base + new
