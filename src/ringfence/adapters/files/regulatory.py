"""The regulatory reports' files on the local file system (``service.ports.RegulatoryFiles``).

Reading only: the formats are the core's (core/regulatory/files.py), which parses the bytes
read here, hashes them and says what is wrong with them. A file is read whole but never more
than one byte past ``limits.regulatory_file_bytes_max``, so an oversized one is refused by name
without being held in memory. The reconciliation's files come from ``LocalReconFiles``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path

from ringfence.adapters.files.recon import LocalReconFiles
from ringfence.core import limits
from ringfence.core.errors import InputError, Result
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


class LocalRegulatoryFiles(LocalReconFiles):
    """Files named by their paths."""

    def sub_custodian_register(self, name: str, wallets: Collection[str]) -> SubCustodianRegister:
        return parse_sub_custodian_register(_read(name), wallets)

    def insurance_schedule(self, name: str, wallets: Collection[str]) -> InsuranceSchedule:
        return parse_insurance_schedule(_read(name), wallets)

    def haircut_schedule(self, name: str, assets: Mapping[str, Asset]) -> HaircutSchedule:
        return parse_haircut_schedule(_read(name), assets)

    def margin_requirements(
        self,
        name: str,
        assets: Mapping[str, Asset],
        pools: Mapping[str, bool],
        clients: Collection[str],
    ) -> MarginRequirements:
        return parse_margin_requirements(_read(name), assets, pools, clients)


def _read(name: str) -> bytes:
    try:
        with Path(name).open("rb") as handle:
            return handle.read(limits.regulatory_file_bytes_max + 1)
    except FileNotFoundError:
        raise InputError(Result.file_not_found, f"no file at {name}") from None
    except OSError as error:
        raise InputError(Result.field_required, f"{name}: {error.strerror}") from None
