"""The demo's regulatory lines at the end of the day, on the book (the demo names no
observations and no sub-custodian register, so every wallet is the firm's own):

- possession and control (R4) per asset and for each custody pool short of it: the pool the
  misdirected deposit left short has a deficit, and its break names the cure (a house top-up);
- the residual-interest deadline: the demo writes a margin requirements document as an FCM's
  margin system would, requiring of the first few clients with a balance in each omnibus
  custody pool and asset 1% more than that balance (so each is undermargined by about 1% of
  it), to be covered by the end of the day; a pool is met where the firm's residual interest
  covers that, and still due where it does not (the pool the misdirected deposit left short,
  whose residual interest is negative, among them).

``regulatory_section`` returns the report's section, display-ready.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from ringfence.core.ledger.model import AccountClass, PoolKind, Terms
from ringfence.core.money import format_amount, mul_div_floor
from ringfence.service.ledger import LedgerService
from ringfence.service.regulatory import possession_and_control, residual_interest_of

Progress = Callable[[str, int, int], None]
undermargined_per_pool = 3  # clients given a requirement above their balance, per pool and asset
margin_over_balance_percent = 1
deadline_after_s = 6 * 3600  # the requirements are due by the end of the day
_locations = ("approved_sub_custodians", "unapproved_sub_custodians", "encumbered", "deficit")


def regulatory_section(ledger: LedgerService, progress: Progress | None = None) -> dict[str, Any]:
    """Possession and control, and the residual-interest deadline's status, now."""
    if progress is not None:
        progress("regulatory", 0, 1)
    section = {"possession": _possession(ledger), "residual": _residual(ledger)}
    if progress is not None:
        progress("regulatory", 1, 1)
    return section


def _possession(ledger: LedgerService) -> dict[str, Any]:
    """Possession and control now, per asset, the pools short of it, and their breaks."""
    document = possession_and_control(ledger, None)
    short = [line for line in document["pools"] if line["shortfall_units"] != "0"]
    section = {
        "as_of": document["as_of"],
        "basis": document["basis"],
        "assets": [_line(line) for line in document["assets"]],
        "short_pools": [_line(line) for line in short],
        "breaks": [_break(b) for b in document["breaks"]],
        "alerts": document["alerts"],
    }
    return section


def margin_requirements(ledger: LedgerService) -> bytes:
    """The demo's requirements document (module docstring), in the format operators file."""
    engine = ledger.ledger
    chosen: dict[tuple[str, str], list[dict[str, str]]] = {}
    for account in sorted(engine.accounts.values(), key=lambda a: a.id):
        d = account.definition
        if d.account_class is not AccountClass.client or account.balance <= 0:
            continue
        pool = engine.pools[d.pool]
        if pool.terms is not Terms.custody or pool.kind is not PoolKind.omnibus:
            continue
        rows = chosen.setdefault((d.pool, d.asset), [])
        if len(rows) == undermargined_per_pool or any(r["client"] == d.owner for r in rows):
            continue
        required = mul_div_floor(account.balance, 100 + margin_over_balance_percent, 100)
        rows.append({"pool": d.pool, "asset": d.asset, "client": d.owner,
                     "required": format_amount(required, engine.assets[d.asset])})  # fmt: skip
    deadline = ledger.clock.now_ns() + deadline_after_s * 10**9
    requirements = [row for key in sorted(chosen) for row in chosen[key]]
    document = {"version": 1, "deadline": str(deadline), "requirements": requirements}
    return json.dumps(document).encode()


def _residual(ledger: LedgerService) -> dict[str, Any]:
    document = residual_interest_of(ledger, margin_requirements(ledger))
    lines = [
        {
            "pool": line["pool"], "asset": line["asset"],
            "residual_interest": line["residual_interest"],
            "undermargined": line["undermargined"],
            "accounts_undermargined": line["accounts_undermargined"],
            "cover_shortfall": line["cover_shortfall"], "status": line["deadline_status"],
            "units": {name: int(line[f"{name}_units"]) for name in
                      ("residual_interest", "undermargined", "cover_shortfall")},
        }
        for line in document["lines"]
    ]  # fmt: skip
    statuses: dict[str, int] = {}
    for line in lines:
        statuses[line["status"]] = statuses.get(line["status"], 0) + 1
    return {"deadline": document["deadline"], "lines": lines, "statuses": statuses,
            "alerts": document["alerts"]}  # fmt: skip


def _break(broken: Mapping[str, Any]) -> dict[str, str]:
    cure = broken["cure"]["code"].replace("_", " ")
    return {"pool": broken["pool"], "asset": broken["asset"], "shortfall": broken["shortfall"],
            "cure": cure}  # fmt: skip


def _line(line: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "pool": line["pool"],
        "asset": line["asset"],
        "entitlement": line["entitlement"],
        "controlled": [
            {"tier": tier, "amount": amounts["amount"]}
            for tier, amounts in line["controlled_by_tier"].items()
        ],
        "controlled_total": line["controlled"],
        **{name: line[name] for name in _locations},
        "in_possession_or_control": line["in_possession_or_control"],
        "shortfall": line["shortfall"],
        "excess": line["excess"],
        "units": {
            name: int(line[f"{name}_units"])
            for name in ("entitlement", "controlled", *_locations, "shortfall", "held", "excess")
        },
    }
