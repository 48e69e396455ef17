"""The regulatory reports' files on the local file system (``service.ports.RegulatoryFiles``).

Reading only: the formats are the core's (core/regulatory/files.py), which parses the bytes
read here, hashes them and says what is wrong with them. A file is read whole but never more
than one byte past ``limits.regulatory_file_bytes_max``, so an oversized one is refused by name
without being held in memory. The reconciliation's files and the reading of a path come from
``LocalReconFiles``; ``RegulatoryDocuments`` is shared with a request's documents
(adapters/files/uploaded.py).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from ringfence.adapters.files.recon import LocalReconFiles, ReconDocuments
from ringfence.core import limits
from ringfence.core.money import Asset
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


class RegulatoryDocuments(ReconDocuments):
    """The regulatory reports' documents by name, besides the reconciliation's."""

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
        return self.read(name, limits.regulatory_file_bytes_max)


class LocalRegulatoryFiles(RegulatoryDocuments, LocalReconFiles):
    """Files named by their paths (read and written as ``LocalReconFiles`` does)."""
