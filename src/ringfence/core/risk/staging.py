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
