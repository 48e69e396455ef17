"""The reconciliation's files on the local file system (``service.ports.ReconFiles``).

Reading and writing only: the formats are the core's (core/recon/files.py), which parses the
bytes read here and says what is wrong with them, line by line. A file is read whole but never
more than one byte past ``limits.recon_file_bytes_max``, so an oversized one is refused by
name without being held in memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ringfence.adapters.prices import PriceTable
from ringfence.core import limits
from ringfence.core.custody.holdings import Observation
from ringfence.core.errors import InputError, Result
from ringfence.core.money import Asset
from ringfence.core.recon.files import (
    observation_line,
    parse_observations,
    parse_prices,
    parse_settings,
)
from ringfence.core.recon.run import ReconSettings


class LocalReconFiles:
    """Files named by their paths."""

    def observations(self, name: str, assets: Mapping[str, Asset]) -> list[Observation]:
        return parse_observations(_read(name), assets)

    def settings(
        self, name: str, assets: Mapping[str, Asset], pools: Mapping[str, object]
    ) -> ReconSettings:
        return parse_settings(_read(name), assets, pools)

    def prices(self, name: str) -> PriceTable:
        return PriceTable(parse_prices(_read(name)).values())

    def write_observations(self, name: str, observations: Sequence[Observation]) -> None:
        text = "".join(observation_line(observation) + "\n" for observation in observations)
        try:
            Path(name).write_text(text, encoding="utf-8")
        except OSError as error:
            raise InputError(Result.field_required, f"{name}: {error.strerror}") from None


def _read(name: str) -> bytes:
    try:
        with Path(name).open("rb") as handle:
            return handle.read(limits.recon_file_bytes_max + 1)
    except FileNotFoundError:
        raise InputError(Result.file_not_found, f"no file at {name}") from None
    except OSError as error:
        raise InputError(Result.field_required, f"{name}: {error.strerror}") from None
