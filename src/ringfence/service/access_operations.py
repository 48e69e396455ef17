"""What only the firm's staff read in the operator console, as a principal may: each
function takes the ``Actor`` a signed-in page acts as, checks the role may do it at all
(``role_forbidden``, core/access/roles.py) and calls the domain's own service function.

- ``segregation_overview``: every pool's position on the ledger now, and every journaled
  reconciliation run's coverage lines (funds against requirement per pool and asset), which
  the console charts over time;
- ``journal_status`` and ``audit_check``: the journal's head and the full audit;
- ``venue_funds``: each market's insurance fund and its history of liquidation rounds.

What the console shares with the REST API it calls where the API does: the breaks queue and
its actions in service/access_recon.py, the proof-of-reserves rounds in
service/access_reports.py. Nothing here formats money itself: amounts come from the domain
documents (core/money.py wrote them).
"""

from __future__ import annotations

from typing import Any

from ringfence.core.access.roles import Action, Actor, require
from ringfence.core.errors import InputError
from ringfence.core.money import format_signed_amount
from ringfence.service import access, liquidation
from ringfence.service.custody import CustodyService
from ringfence.service.ledger import LedgerService
from ringfence.service.por import snapshot_time_ns
from ringfence.service.recon import ReconService
from ringfence.service.recon_documents import iso, run_entry

__all__ = ["audit_check", "journal_status", "segregation_overview", "venue_funds"]


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


def venue_funds(ledger: LedgerService, actor: Actor) -> dict[str, Any]:
    """Each market's insurance fund, the halted markets and every liquidation round's effect
    on its market's fund (``liquidation.funds``), amounts in the settlement asset."""
    require(actor, Action.read_venue)
    markets = liquidation.settlement_assets(ledger)
    if not markets:  # the journal holds no venue's book
        return {"ok": True, "configured": False, "funds": {}, "halted": [], "history": []}
    document = liquidation.funds(ledger)
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
