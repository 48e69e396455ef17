"""The reconciliation's files on the local file system (``service.ports.ReconFiles``).

Reading and writing only: the formats are the core's (core/recon/files.py), which parses the
bytes read here and says what is wrong with them, line by line. A file is read whole but never
more than one byte past ``limits.recon_file_bytes_max``, so an oversized one is refused by
name without being held in memory.

``ReconDocuments`` hands the bytes of a named document to the core's parsers whatever holds
them: a local file here, a request's documents in adapters/files/uploaded.py.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
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


class ReconDocuments(ABC):
    """The reconciliation's documents by name, parsed by the core from the bytes ``read``
    gives: at most one byte past the bound, so that the parser refuses an oversized one."""

    @abstractmethod
    def read(self, name: str, bytes_max: int) -> bytes:
        """The document's first ``bytes_max + 1`` bytes; an ``InputError`` naming it when
        there is none."""

    def observations(self, name: str, assets: Mapping[str, Asset]) -> list[Observation]:
        return parse_observations(self.read(name, limits.recon_file_bytes_max), assets)

    def settings(
        self, name: str, assets: Mapping[str, Asset], pools: Mapping[str, object]
    ) -> ReconSettings:
        return parse_settings(self.read(name, limits.recon_file_bytes_max), assets, pools)

    def prices(self, name: str) -> PriceTable:
        return PriceTable(parse_prices(self.read(name, limits.recon_file_bytes_max)).values())


class LocalReconFiles(ReconDocuments):
    """Files named by their paths."""

    def read(self, name: str, bytes_max: int) -> bytes:
        try:
            with Path(name).open("rb") as handle:
                return handle.read(bytes_max + 1)
        except FileNotFoundError:
            raise InputError(Result.file_not_found, f"no file at {name}") from None
        except OSError as error:
            raise InputError(Result.field_required, f"{name}: {error.strerror}") from None

    def write_observations(self, name: str, observations: Sequence[Observation]) -> None:
        text = "".join(observation_line(observation) + "\n" for observation in observations)
        try:
            Path(name).write_text(text, encoding="utf-8")
        except OSError as error:
            raise InputError(Result.field_required, f"{name}: {error.strerror}") from None
