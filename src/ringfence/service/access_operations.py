"""What the firm's staff read and do in the operator console, as a principal may: each
function takes the ``Actor`` a signed-in page acts as, checks the role may do it at all
(``role_forbidden``, core/access/roles.py) and calls the domain's own service function.

- ``segregation_overview``: every pool's position on the ledger now, and every journaled
  reconciliation run's coverage lines (funds against requirement per pool and asset), which
  the console charts over time;
- ``reconciliation_breaks``, ``reconciliation_break``, ``explain_break``, ``cure_break``: the
  breaks queue and its actions (service/recon_requests.py), each break with the pool of its
  wallet, so a short pool leads to its breaks;
- ``proof_rounds``: the proof-of-reserves rounds kept, with each asset's liabilities, reserves
  and coverage;
- ``journal_status`` and ``audit_check``: the journal's head and the full audit;
- ``venue_funds``: each market's insurance fund and its history of liquidation rounds.

Nothing here formats money itself: amounts come from the domain documents (core/money.py
wrote them), and the proof units of a round are written by ``format_signed_units``.
"""

from __future__ import annotations

from typing import Any

from ringfence.core.access.roles import Action, Actor, require
from ringfence.core.errors import InputError, Result
from ringfence.core.money import format_signed_amount, format_signed_units
from ringfence.core.por.round import round_hash, verify_round_signature
from ringfence.service import access, liquidation, recon_requests
from ringfence.service.custody import CustodyService
from ringfence.service.ledger import LedgerService
from ringfence.service.por import snapshot_time_ns
from ringfence.service.ports import RiskBookStore, RoundStore
from ringfence.service.recon import ReconService
from ringfence.service.recon_documents import iso, run_entry

__all__ = [
    "audit_check",
    "cause_names",
    "cure_break",
    "explain_break",
    "journal_status",
    "proof_rounds",
    "reconciliation_break",
    "reconciliation_breaks",
    "segregation_overview",
    "venue_funds",
]

cause_names = recon_requests.cause_names


def _recon(ledger: LedgerService) -> ReconService:
    return ReconService(CustodyService(ledger))


# ---------------------------------------------------------------------- segregation


def segregation_overview(ledger: LedgerService, actor: Actor) -> dict[str, Any]:
    """The pools now (``access.positions``) and every reconciliation run's coverage lines, in
    run order, with the assets' scales (a page reads exact ``_units`` back at that scale)."""
    require(actor, Action.read_positions)
    require(actor, Action.read_reconciliation)
    recon = _recon(ledger)
    assets = ledger.ledger.assets
    runs = [run_entry(summary, coverage, assets) for summary, coverage in recon.history.runs]
    return {
        "assets": [{"code": a.code, "scale": a.scale} for a in assets.values()],
        "positions": access.positions(ledger, actor),
        "runs": runs,
        "breaks_open": len(recon.history.book.open_breaks()),
    }


# ---------------------------------------------------------------------- breaks


def reconciliation_breaks(
    ledger: LedgerService, actor: Actor, include_cured: bool = False
) -> dict[str, Any]:
    """The reconciliation's breaks with their age now and their wallet's pool."""
    require(actor, Action.read_reconciliation)
    recon = _recon(ledger)
    document = recon_requests.reconciliation_breaks(recon, include_cured)
    for entry in document["breaks"]:
        entry["pool"] = _pool_of(recon, entry["wallet"])
    return document


def reconciliation_break(ledger: LedgerService, actor: Actor, break_id: int) -> dict[str, Any]:
    """One break (``break_not_found``), cured or not."""
    require(actor, Action.read_reconciliation)
    found = reconciliation_breaks(ledger, actor, include_cured=True)["breaks"]
    for entry in found:
        if entry["id"] == break_id:
            return {"ok": True, "break": entry}
    raise InputError(Result.break_not_found, str(break_id))


def explain_break(
    ledger: LedgerService, actor: Actor, break_id: int, cause: str, action: str
) -> dict[str, Any]:
    """Record a break's cause and the action decided (operator, compliance)."""
    require(actor, Action.resolve_breaks)
    recon = _recon(ledger)
    done = recon_requests.explain_break(recon, break_id, cause, action)
    done["break"]["pool"] = _pool_of(recon, done["break"]["wallet"])
    return done


def cure_break(
    ledger: LedgerService,
    actor: Actor,
    break_id: int,
    correction: str | None,
    make_good: str | None,
) -> dict[str, Any]:
    """Record a break's correction and make-good transfer (operator, compliance)."""
    require(actor, Action.resolve_breaks)
    recon = _recon(ledger)
    done = recon_requests.cure_break(recon, break_id, correction, make_good)
    done["break"]["pool"] = _pool_of(recon, done["break"]["wallet"])
    return done


def _pool_of(recon: ReconService, wallet: str) -> str:
    """The pool a wallet is designated to now ("" for the house or an unregistered wallet)."""
    state = recon.custody.registry.wallets.get(wallet)
    if state is not None:
        return state.pool
    for account in recon.ledger.ledger.accounts.values():
        if account.definition.owner == wallet:
            return account.definition.pool
    return ""


# ---------------------------------------------------------------------- proof of reserves


def proof_rounds(ledger: LedgerService, rounds: RoundStore | None, actor: Actor) -> dict[str, Any]:
    """Every round kept, newest first: its snapshot and time, whether its signature checks,
    and per asset the liabilities (the root's sum), the reserves attested and the coverage."""
    require(actor, Action.read_rounds)
    if rounds is None:
        return {"ok": True, "location": "", "rounds": []}
    return {
        "ok": True,
        "location": rounds.location,
        "rounds": [round_summary(ledger, rounds, n) for n in reversed(rounds.numbers())],
    }


def round_summary(ledger: LedgerService, rounds: RoundStore, number: int) -> dict[str, Any]:
    """One kept round as the console and the portal show it."""
    record = rounds.round(number).record()
    snapshot = record["snapshot"]
    at_ns = snapshot_time_ns(ledger.store, snapshot) if snapshot <= ledger.seq else 0
    return {
        "round": number,
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


# ---------------------------------------------------------------------- the journal


def journal_status(ledger: LedgerService, actor: Actor) -> dict[str, Any]:
    """The journal's head (what the firm publishes) and its signing key; reading it needs no
    replay, so every staff role sees it. The full check is ``audit_check``."""
    require(actor, Action.read_positions)
    seq, head_hash = ledger.store.head()
    public_key = ledger.signer.public_key()
    last_ns = snapshot_time_ns(ledger.store, seq) if seq else 0
    return {
        "ok": True,
        "seq": seq,
        "head_hash": head_hash.hex(),
        "last_entry_time": iso(last_ns) if last_ns else None,
        "public_key": public_key.hex() if public_key is not None else None,
        "may_audit": _may(actor, Action.audit),
    }


def audit_check(ledger: LedgerService, actor: Actor) -> dict[str, Any]:
    """``audit verify`` over the whole journal (auditor, admin): ``access.audit``."""
    return access.audit(ledger, actor)


def _may(actor: Actor, action: Action) -> bool:
    try:
        require(actor, action)
    except InputError:
        return False
    return True


# ---------------------------------------------------------------------- the venue


def venue_funds(
    ledger: LedgerService, books: RiskBookStore | None, actor: Actor
) -> dict[str, Any]:
    """Each market's insurance fund, the halted markets and every liquidation round's effect
    on its market's fund (``liquidation.funds``), amounts in the settlement asset."""
    require(actor, Action.read_venue)
    if books is None:
        return {"ok": True, "configured": False, "funds": {}, "halted": [], "history": []}
    document = liquidation.funds(ledger, books)
    markets = liquidation.settlement_assets(ledger, books)
    history = []
    for row in document["history"]:
        asset = markets.get(row["market"])
        if asset is None:  # a global fund's funding: not a market's
            continue
        shown: dict[str, Any] = {
            "kind": "funding" if row.get("funded") else "liquidation",
            "round": row.get("round", ""),
            "market": row["market"],
            "asset": asset.code,
        }
        for name in ("amount", "fees_in", "paid_out", "balance", "unresolved"):
            value = row.get(name)
            shown[name] = format_signed_amount(value, asset) if type(value) is int else None
        history.append(shown)
    document["funds"] = [
        {"market": market, "asset": markets[market].code, "balance": balance}
        for market, balance in document["funds"].items()
    ]
    return {**document, "configured": True, "history": history}
