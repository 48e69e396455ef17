"""Proof of reserves, the venue's risk and liquidation read-outs and the regulatory reports as
a principal may use them (see service/access.py for the actor): each one call of the service
function the matching ``ringfence`` command calls.

- Proof-of-reserves rounds are public records (clients verify them): every role lists and
  reads them. A client's inclusion proofs carry its client key, which finds its leaves in
  every round: only that client reads them (another client's name is ``client_not_found``),
  and the auditor, who samples them; no other staff duty needs a client's key.
- The risk scan, the insurance funds and the regulatory reports sum over every client: staff.
  A report's documents (a register, policies, haircuts, prices, observations, settings, margin
  requirements) come in the request body as the exact text of the files the command line
  names (service/access_recon.py, ``documents_of``); nothing is journaled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from ringfence.core.access.roles import Action, Actor, require, sees_client
from ringfence.core.errors import InputError, Result, StorageError
from ringfence.core.ledger.model import check_name
from ringfence.service import liquidation, por, regulatory, risk_book
from ringfence.service.access_recon import Uploads, documents_of
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import RegulatoryFiles, RiskBookStore, RoundStore

__all__ = ["client_proofs", "insurance_funds", "regulatory_report", "reports", "risk_scan",
           "round_of", "rounds"]  # fmt: skip


def rounds(rounds_kept: RoundStore, actor: Actor) -> dict[str, Any]:
    """The rounds kept, newest first: number, id, snapshot and hash of each."""
    require(actor, Action.read_rounds)
    listed = []
    for number in sorted(rounds_kept.numbers(), reverse=True):
        record = rounds_kept.round(number).record()
        listed.append({"round": number, **_round_head(record)})
    return {"items": listed}


def _round_head(record: Any) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise StorageError("a kept round record is not a JSON object")
    keys = ("round_id", "previous_round_hash", "snapshot", "reserves", "journal_head")
    return {key: record.get(key) for key in keys}


def round_of(rounds_kept: RoundStore, actor: Actor, number: str) -> dict[str, Any]:
    """One round's public record, as kept (and signed)."""
    require(actor, Action.read_rounds)
    wanted = _round_number(number)
    if wanted not in rounds_kept.numbers():
        raise InputError(Result.round_not_found, number)
    return {"round": wanted, "record": rounds_kept.round(wanted).record()}


def _round_number(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise InputError(Result.round_not_found, repr(text[:16]))
    return int(text)


def client_proofs(
    ledger: LedgerService, rounds_kept: RoundStore, actor: Actor, client: str, number: str
) -> dict[str, Any]:
    """The client's key and inclusion proofs in round ``number`` (``latest`` for the newest)."""
    require(actor, Action.read_proofs)
    if not sees_client(actor, check_name(client, "client")):
        raise InputError(Result.client_not_found, client)
    wanted = None if number == "latest" else _round_number(number)
    if wanted is not None and wanted not in rounds_kept.numbers():
        raise InputError(Result.round_not_found, number)
    if wanted is None and not rounds_kept.numbers():
        raise InputError(Result.round_not_found, "no round is kept yet")
    return por.client_proofs(ledger, rounds_kept, client, wanted)


def risk_scan(ledger: LedgerService, books: RiskBookStore, actor: Actor) -> dict[str, Any]:
    """Equity, requirements, health and Greeks of every margin bucket (``risk scan``)."""
    require(actor, Action.read_positions)
    return risk_book.scan(ledger, books)


def insurance_funds(ledger: LedgerService, books: RiskBookStore, actor: Actor) -> dict[str, Any]:
    """Each market's insurance fund, the halted markets and the funds' history."""
    require(actor, Action.read_positions)
    return liquidation.funds(ledger, books)


# ---------------------------------------------------------------------- regulatory reports

Report = Callable[..., dict[str, Any]]
# report -> (service function, documents required, documents optional); each document is
# passed under the keyword the function names it by (``requirements`` as ``requirements_file``).
reports: Final[dict[str, tuple[Report, tuple[str, ...], tuple[str, ...]]]] = {
    "possession": (regulatory.possession_and_control, (), ("observations", "register")),
    "residual-deadline": (
        regulatory.residual_interest_deadline, ("requirements",), ("observations", "settings")
    ),
    "collateral": (
        regulatory.weekly_collateral_report, ("haircuts", "prices"), ("observations", "register")
    ),
    "sub-custodians": (regulatory.sub_custodian_register, ("register",), ("observations",)),
    "insurance": (regulatory.insurance, ("policies", "prices"), ("observations",)),
}  # fmt: skip
_keywords: Final = {"requirements": "requirements_file"}


def regulatory_report(
    ledger: LedgerService, actor: Actor, report: str, document: object, uploads: Uploads
) -> dict[str, Any]:
    """One of ``reports`` as of ``as_of`` (default now), from the documents in the body."""
    require(actor, Action.read_positions)
    if report not in reports:
        raise InputError(Result.report_not_found, repr(report[:32]))
    function, required, optional = reports[report]
    plain, uploaded = documents_of(document, (*required, *optional), ("as_of",))
    for name in required:
        if name not in uploaded:
            raise InputError(Result.field_required, name)
    files: RegulatoryFiles = uploads(uploaded)
    chosen: dict[str, Any] = {_keywords.get(name, name): name for name in uploaded}
    return function(ledger, files, as_of=plain.get("as_of"), **chosen)

