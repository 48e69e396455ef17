"""The regulatory files of the resolution pack: who holds clients' assets on the firm's behalf
(the sub-custodian register, NYDFS custody guidance 2025) and what insures them (the insurance
schedule), as ``ringfence regulatory sub-custodians`` and ``insurance`` report them as of the
pack, so a practitioner finds both beside the wallets they name.

Each is included when the operator names its file; the insurance schedule values holdings, so
it needs prices too, and naming one without the other is refused before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ringfence.core.errors import InputError, Result
from ringfence.service import regulatory
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import RegulatoryFiles


@dataclass(frozen=True, slots=True)
class PackDocument:
    """One JSON file of the pack: its name in the zip, its content, and what it holds."""

    name: str
    document: Any
    about: str


@dataclass(frozen=True, slots=True)
class RegulatoryInputs:
    """The operator's files the pack's regulatory documents are computed from."""

    files: RegulatoryFiles
    register: str | None = None
    policies: str | None = None
    prices: str | None = None

    def check(self) -> None:
        if self.policies is not None and self.prices is None:
            raise InputError(Result.field_required, "the insurance schedule needs --prices")
        if self.prices is not None and self.policies is None:
            raise InputError(
                Result.field_required, "--prices values the insurance schedule: name its --policies"
            )


def regulatory_documents(ledger: LedgerService, inputs: RegulatoryInputs) -> list[PackDocument]:
    """The register and the insurance schedule, those named, as of now on the book basis (the
    time the reports take by default, each document stating it)."""
    inputs.check()
    as_of = None
    documents: list[PackDocument] = []
    if inputs.register is not None:
        register = regulatory.sub_custodian_register(
            ledger, inputs.files, register=inputs.register, as_of=as_of
        )
        findings = len(register["findings"])
        documents.append(
            PackDocument(
                "regulatory/sub_custodians.json",
                register,
                f"sub-custodian register: approval, due diligence, wallets and holdings "
                f"({findings} findings)",
            )
        )
    if inputs.policies is not None and inputs.prices is not None:
        cover = regulatory.insurance(
            ledger, inputs.files, policies=inputs.policies, prices=inputs.prices, as_of=as_of
        )
        alerts = ", ".join(cover["alerts"]) or "no alerts"
        documents.append(
            PackDocument(
                "regulatory/insurance.json",
                cover,
                f"insurance schedule: covered and uncovered holdings per asset and tier ({alerts})",
            )
        )
    return documents
