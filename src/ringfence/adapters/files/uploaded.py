"""Documents handed in with a request, by name (``service.ports.RegulatoryFiles``): the REST
API's counterpart of the local files the command line names.

A request carries each document as the exact text of the file the command line would read
(``{"observations": "<JSON lines>", "settings": "<JSON>"}``), so the core parses the same
bytes with the same named errors, and a report names a document by the SHA-256 of the same
bytes whichever way it came in. Bounded as the files are: one byte past the limit is enough to
refuse a document by name.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from ringfence.adapters.prices import PriceTable
from ringfence.core import limits
from ringfence.core.custody.holdings import Observation
from ringfence.core.errors import InputError, Result
from ringfence.core.money import Asset
from ringfence.core.recon.files import parse_observations, parse_prices, parse_settings
from ringfence.core.recon.run import ReconSettings
from ringfence.core.regulatory.files import (
    HaircutSchedule,
    InsuranceSchedule,
    MarginRequirements,
    SubCustodianRegister,
    parse_haircut_schedule,
    parse_insurance_schedule,
    parse_margin_requirements,
    parse_sub_custodian_register,
)


class UploadedFiles:
    """Documents by name; a name not handed in is ``field_required``."""

    def __init__(self, documents: Mapping[str, bytes]) -> None:
        self.documents = dict(documents)

    def _read(self, name: str, bytes_max: int) -> bytes:
        found = self.documents.get(name)
        if found is None:
            raise InputError(Result.field_required, name)
        return found[: bytes_max + 1]

    def observations(self, name: str, assets: Mapping[str, Asset]) -> list[Observation]:
        return parse_observations(self._read(name, limits.recon_file_bytes_max), assets)

    def settings(
        self, name: str, assets: Mapping[str, Asset], pools: Mapping[str, object]
    ) -> ReconSettings:
        return parse_settings(self._read(name, limits.recon_file_bytes_max), assets, pools)

    def prices(self, name: str) -> PriceTable:
        return PriceTable(parse_prices(self._read(name, limits.recon_file_bytes_max)).values())

    def write_observations(self, name: str, observations: Sequence[Observation]) -> None:
        raise InputError(Result.field_unknown, f"{name}: a request's documents are read only")

    def sub_custodian_register(self, name: str, wallets: Collection[str]) -> SubCustodianRegister:
        return parse_sub_custodian_register(self._regulatory(name), wallets)

    def insurance_schedule(self, name: str, wallets: Collection[str]) -> InsuranceSchedule:
        return parse_insurance_schedule(self._regulatory(name), wallets)

    def haircut_schedule(self, name: str, assets: Mapping[str, Asset]) -> HaircutSchedule:
        return parse_haircut_schedule(self._regulatory(name), assets)

    def margin_requirements(
        self,
        name: str,
        assets: Mapping[str, Asset],
        pools: Mapping[str, bool],
        clients: Collection[str],
    ) -> MarginRequirements:
        return parse_margin_requirements(self._regulatory(name), assets, pools, clients)

    def _regulatory(self, name: str) -> bytes:
        return self._read(name, limits.regulatory_file_bytes_max)
