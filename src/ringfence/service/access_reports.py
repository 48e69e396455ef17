"""Proof of reserves, the venue's risk and liquidation read-outs and the regulatory reports as
a principal may use them (see service/access.py for the actor): each one call of the service
function the matching ``ringfence`` command calls. The REST API, the operator console
(rounds) and the client portal (its round and proofs) call these same functions.

- Proof-of-reserves rounds are public records (clients verify them): every role lists and
  reads them, each with whether its signature checks and, per asset, the liabilities (the
  root's sum), the reserves attested and the coverage. A client's inclusion proofs carry its
  client key, which finds its leaves in every round: only that client reads them (another
  client's name is ``client_not_found``), and the auditor, who samples them; no other staff
  duty needs a client's key.
- The risk scan, the insurance funds and the regulatory reports sum over every client: staff.
  A report's documents (a register, policies, haircuts, prices, observations, settings, margin
  requirements) come in the request body as the exact text of the files the command line
  names (service/access_recon.py, ``documents_of``); nothing is journaled.
- The in-kind return schedule of a simulated failure shows what every client would get back:
  compliance and auditors (``read_resolution``); its scenario is the request's JSON body.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from ringfence.core.access.roles import Action, Actor, require
from ringfence.core.errors import InputError, Result, StorageError
from ringfence.core.ledger.model import check_name
from ringfence.core.money import format_signed_units
from ringfence.core.por.round import round_hash, verify_round_signature
from ringfence.service import in_kind, insolvency, liquidation, por, regulatory, risk_book
from ringfence.service.access import check_client
from ringfence.service.access_recon import Uploads, documents_of
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import (
    Executor,
    RegulatoryFiles,
    ResolutionPackFiles,
    RoundStore,
)
from ringfence.service.recon_documents import iso
from ringfence.service.resolution_pack import write_pack_of
from ringfence.service.resolution_pack_regulatory import RegulatoryInputs

# A journal sequence's digits: a u64.
_snapshot_digits_max: Final = 20

__all__ = ["build_round", "client_proofs", "in_kind_returns", "insolvency_simulation",
           "insurance_funds", "regulatory_report", "reports", "resolution_pack", "risk_scan",
           "round_of", "round_summary", "rounds"]  # fmt: skip


# ---------------------------------------------------------------------- proof of reserves


def rounds(ledger: LedgerService, rounds_kept: RoundStore | None, actor: Actor) -> dict[str, Any]:
    """The rounds kept (none when no store is configured), newest first: each one's number,
    id, snapshot and time, hashes, signature check and per-asset coverage (``round_summary``)."""
    require(actor, Action.read_rounds)
    if rounds_kept is None:
        return {"ok": True, "items": []}
    numbers = sorted(rounds_kept.numbers(), reverse=True)
    return {"ok": True, "items": [round_summary(ledger, rounds_kept, n) for n in numbers]}


def round_summary(ledger: LedgerService, rounds_kept: RoundStore, number: int) -> dict[str, Any]:
    """One kept round as every caller shows it: its public record's head, when its snapshot
    was taken, whether its signature checks, and each asset's line. A record that is not one
    (edited by hand) is a storage error naming the round, not a crash."""
    record = rounds_kept.round(number).record()
    try:
        return _summary(ledger, number, record)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise StorageError(f"round {number}: its kept record is malformed ({error!r})") from None


def _summary(ledger: LedgerService, number: int, record: Any) -> dict[str, Any]:
    snapshot = record["snapshot"]
    at_ns = por.snapshot_time_ns(ledger.store, snapshot) if snapshot <= ledger.seq else 0
    head = ("round_id", "previous_round_hash", "reserves", "journal_head")
    return {
        "round": number,
        **{key: record.get(key) for key in head},
        "round_hash": round_hash(record).hex(),
        "snapshot": snapshot,
        "snapshot_time": iso(at_ns) if at_ns else None,
        "public_key": record["public_key"],
        "signature_valid": verify_round_signature(record),
        "reserves_status": record["reserves"]["status"],
        "assets": [_round_asset(ledger, entry) for entry in record["assets"]],
    }


def _round_asset(ledger: LedgerService, entry: dict[str, Any]) -> dict[str, Any]:
    """An asset's line of a round: proof units written at their own scale (the asset's
    scale less the decimals proofs drop), so they read as the asset's major unit."""
    asset = ledger.ledger.assets.get(entry["asset"])
    scale = max(0, (asset.scale if asset else 0) - entry["unit_exponent"])
    liabilities = int(entry["root"]["sum"])
    reserves = entry["reserves"]
    line: dict[str, Any] = {
        "asset": entry["asset"],
        "scale": scale,
        "liabilities": format_signed_units(liabilities, scale),
        "liabilities_units": str(liabilities),
        "attested": reserves is not None,
        "reserves": None,
        "reserves_units": None,
        "covered": None,
        "coverage_bp": None,
        "shortfall": None,
    }
    if reserves is not None:
        total = int(reserves["total"])
        line.update(
            reserves=format_signed_units(total, scale),
            reserves_units=str(total),
            covered=bool(reserves["covered"]),
            coverage_bp=reserves["coverage_net_bp"],
            shortfall=format_signed_units(max(liabilities - total, 0), scale),
        )
    return line


def round_of(rounds_kept: RoundStore, actor: Actor, number: str) -> dict[str, Any]:
    """One round's public record, as kept (and signed)."""
    require(actor, Action.read_rounds)
    wanted = _round_number(number)
    if wanted not in rounds_kept.numbers():
        raise InputError(Result.round_not_found, number)
    return {"round": wanted, "record": rounds_kept.round(wanted).record()}


def build_round(
    ledger: LedgerService,
    rounds_kept: RoundStore,
    actor: Actor,
    document: object,
    executor: Executor,
) -> dict[str, Any]:
    """``por build`` of the round named in ``{"round": "N", "snapshot", "holdings", "control",
    "private"}``: the number is the next round's, so that a request sent twice builds once.
    A round already kept answers with its summary and ``built`` false; a number past the next
    is ``round_not_found``. ``holdings`` and ``control`` are the exact text of the files the
    command line reads; ``snapshot`` (a journal sequence, default the head) as a string."""
    require(actor, Action.build_rounds)
    plain, files = documents_of(
        _without(document, "private"), ("holdings", "control"), ("round", "snapshot")
    )
    if "round" not in plain:
        raise InputError(Result.field_required, "round")
    number = _round_number(plain["round"])
    snapshot = plain.get("snapshot")
    if snapshot is not None and not (snapshot.isascii() and snapshot.isdigit()
                                     and len(snapshot) <= _snapshot_digits_max):  # fmt: skip
        raise InputError(Result.field_unknown, f"snapshot {snapshot[:24]!r}: a sequence number")
    if number in rounds_kept.numbers():
        _check_same_round(rounds_kept.round(number).record(), number, snapshot,
                          _private(document), "holdings" in files)  # fmt: skip
        return {"ok": True, "built": False, **round_summary(ledger, rounds_kept, number)}
    following = max(rounds_kept.numbers(), default=0) + 1
    if number != following:
        raise InputError(Result.round_not_found, f"round {number}: the next is {following}")
    if "control" in files and "holdings" not in files:
        raise InputError(Result.field_required, "holdings (with control)")
    if "holdings" in files:
        _check_announced(rounds_kept, number)
    por.build_and_keep_round(
        ledger, rounds_kept, snapshot=None if snapshot is None else int(snapshot),
        holdings=files.get("holdings"), control=files.get("control"), executor=executor,
        private=_private(document), expected_round=number,
    )  # fmt: skip
    return {"ok": True, "built": True, **round_summary(ledger, rounds_kept, number)}


def _check_same_round(
    record: Mapping[str, Any], number: int, snapshot: str | None, private: bool, attested: bool
) -> None:
    """A round asked for again is answered only if the request is the one that built it."""
    differs = [
        name for name, same in (
            ("snapshot", snapshot is None or int(snapshot) == record["snapshot"]),
            ("private", private == any(e.get("mode") == "private" for e in record["assets"])),
            ("holdings", attested == (record["reserves"]["status"] == "attested")),
        ) if not same
    ]  # fmt: skip
    if differs:
        raise InputError(Result.round_exists_with_different_body,
                         f"round {number} was built with another {', '.join(differs)}")


def _check_announced(rounds_kept: RoundStore, number: int) -> None:
    """Reserves are attested only for a round ``por challenges`` announced (its snapshot and
    blocks are pinned): a round none was announced for is the request's fault, named, where
    the command line reports the missing file."""
    try:
        pending = rounds_kept.pending()
    except StorageError:
        pending = None
    if not isinstance(pending, dict) or pending.get("round") != number:
        raise InputError(
            Result.control_round_mismatch, f"round {number} was not announced (por challenges)"
        )


def _without(document: object, field: str) -> object:
    if isinstance(document, dict) and field in document:
        return {key: value for key, value in document.items() if key != field}
    return document


def _private(document: object) -> bool:
    chosen = document.get("private", False) if isinstance(document, dict) else False
    if not isinstance(chosen, bool):
        raise InputError(Result.field_unknown, "private: true or false")
    return chosen


def _round_number(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise InputError(Result.round_not_found, repr(text[:16]))
    return int(text)


def client_proofs(
    ledger: LedgerService, rounds_kept: RoundStore, actor: Actor, client: str, number: str
) -> dict[str, Any]:
    """The client's key and inclusion proofs in round ``number`` (``latest`` for the newest)."""
    require(actor, Action.read_proofs)
    check_client(ledger.ledger, actor, check_name(client, "client"))
    wanted = None if number == "latest" else _round_number(number)
    if wanted is not None and wanted not in rounds_kept.numbers():
        raise InputError(Result.round_not_found, number)
    if wanted is None and not rounds_kept.numbers():
        raise InputError(Result.round_not_found, "no round is kept yet")
    return por.client_proofs(ledger, rounds_kept, client, wanted)


def risk_scan(ledger: LedgerService, actor: Actor) -> dict[str, Any]:
    """Equity, requirements, health and Greeks of every margin bucket (``risk scan``)."""
    require(actor, Action.read_positions)
    return risk_book.scan(ledger)


def insurance_funds(ledger: LedgerService, actor: Actor) -> dict[str, Any]:
    """Each market's insurance fund, the halted markets and the funds' history (read as the
    console reads them: ``read_venue``)."""
    require(actor, Action.read_venue)
    return liquidation.funds(ledger)


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


def in_kind_returns(ledger: LedgerService, actor: Actor, document: object) -> dict[str, Any]:
    """The in-kind return schedule of the failure in ``{"scenario": {...}}`` (the scenario as
    ``insolvency simulate`` reads it): compliance and auditors only, since it shows what every
    client would get back. Nothing is journaled."""
    require(actor, Action.read_resolution)
    return in_kind.in_kind_of(ledger, _scenario_of(document))


def insolvency_simulation(ledger: LedgerService, actor: Actor, document: object) -> dict[str, Any]:
    """``insolvency simulate`` on the failure in ``{"scenario": {...}}``: every client's
    recovery, segregated and commingled, and the estate's waterfall. Compliance and auditors
    only (``read_resolution``), as for the in-kind schedule; nothing is journaled."""
    require(actor, Action.read_resolution)
    return insolvency.simulate_ledger(ledger, _scenario_of(document))


# The documents a resolution pack may take besides its scenario, as ``resolution-pack`` names
# its files (``--register``, ``--policies``, ``--prices``).
_pack_documents: Final = ("register", "policies", "prices")


def resolution_pack(
    ledger: LedgerService,
    actor: Actor,
    document: object,
    places: tuple[ResolutionPackFiles, Uploads],
    out: str,
) -> dict[str, Any]:
    """``resolution-pack``: write the pack to ``out`` and return its master index. The body is
    ``{"scenario"?: {...}, "register"?, "policies"?, "prices"?}``: the failure to simulate as
    JSON and the regulatory files as their text. Compliance and auditors
    (``read_resolution``): it holds every client's position and what a failure returns."""
    require(actor, Action.read_resolution)
    files, uploads = places
    scenario = None
    if isinstance(document, dict) and "scenario" in document:
        scenario = document["scenario"]
        if not isinstance(scenario, dict):
            raise InputError(Result.scenario_invalid, "scenario: a JSON object")
        document = _without(document, "scenario")
    _, uploaded = documents_of(document, _pack_documents)
    named = [name if name in uploaded else None for name in _pack_documents]
    regulatory = RegulatoryInputs(uploads(uploaded), *named)
    return write_pack_of(ledger, files, out, scenario=scenario, regulatory=regulatory)


def _scenario_of(document: object) -> object:
    """The scenario of a body ``{"scenario": {...}}`` and nothing else; the service checks
    the scenario itself field by field."""
    if not isinstance(document, dict):
        raise InputError(Result.request_body_malformed, 'a JSON object: {"scenario": {...}}')
    unknown = sorted(str(key) for key in document if key != "scenario")
    if unknown:
        raise InputError(Result.field_unknown, ", ".join(unknown))
    if "scenario" not in document:
        raise InputError(Result.field_required, "scenario")
    return document["scenario"]
