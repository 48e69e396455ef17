"""The demo's regulatory outputs at the end of the day, on the book (the demo names no
observations), from the files demo/regulatory_inputs.py writes (prices, haircuts, a
sub-custodian register, insurance policies):

- possession and control (R4) per asset and for each custody pool short of it: the pool the
  misdirected deposit left short has a deficit, and its break names the cure (a house top-up);
  the pool whose warm ETH wallet sits at a sub-custodian not yet approved is short by what
  the rest of its holdings do not cover;
- the residual-interest deadline: the demo writes a margin requirements document as an FCM's
  margin system would, requiring of the first few clients with a balance in each omnibus
  custody pool and asset 1% more than that balance (so each is undermargined by about 1% of
  it), to be covered by the end of the day; a pool is met where the firm's residual interest
  covers that, and still due where it does not (the pool the misdirected deposit left short,
  whose residual interest is negative, among them); the check is journaled, as an operator
  records it, so that a breach would be an event;
- the weekly crypto-collateral report: per asset, segregated collateral valued after haircuts,
  by location (the firm's wallets by tier, or a sub-custodian);
- the sub-custodian register and its findings (assets at the one not yet approved);
- insurance cover per asset and tier, and the hot-wallet alert (the crime policy covers half);
- the in-kind return schedule of the failure scene (``in_kind_section``, demo/insolvency.py
  runs the simulation it is read off).

``regulatory_section`` returns the report's section, display-ready, with ``summary``: one line
per output, which the report's head and the command line show.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from ringfence.core.ledger.model import AccountClass, PoolKind, Terms
from ringfence.core.money import format_amount, format_signed_units, mul_div_floor
from ringfence.demo.regulatory_inputs import quote_scale, regulatory_files
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import RegulatoryFiles
from ringfence.service.regulatory import (
    insurance,
    possession_and_control,
    residual_interest_of,
    sub_custodian_register,
    weekly_collateral_report,
)

Progress = Callable[[str, int, int], None]
# Documents in hand read as the files a command names (the composition root's adapter: the
# demo imports none).
Documents = Callable[[Mapping[str, bytes]], RegulatoryFiles]
undermargined_per_pool = 3  # clients given a requirement above their balance, per pool and asset
margin_over_balance_percent = 1
deadline_after_s = 6 * 3600  # the requirements are due by the end of the day
_locations = ("approved_sub_custodians", "unapproved_sub_custodians", "encumbered", "deficit")


def regulatory_section(
    ledger: LedgerService, progress: Progress | None = None, documents: Documents | None = None
) -> dict[str, Any]:
    """Possession and control, the residual-interest deadline's status, and, given a reader
    for the demo's files (``documents``), the weekly collateral report, the sub-custodian
    register and insurance cover, now (the in-kind schedule is added by the failure scene:
    demo/in_kind.py). Without ``documents`` possession is on the book with no register."""
    if progress is not None:
        progress("regulatory", 0, 1)
    written = regulatory_files(ledger)
    files = None if documents is None else documents(written)
    section: dict[str, Any] = {"possession": _possession(ledger, files)}
    section["residual"] = _residual(ledger)
    if files is not None:
        # The files as written, so that the command line can keep them beside the report
        # for `ringfence resolution-pack` and the reports to read again.
        section["inputs"] = {name: text.decode() for name, text in written.items()}
        section["collateral"] = _collateral(ledger, files)
        section["sub_custodians"] = _sub_custodians(ledger, files)
        section["insurance"] = _insurance(ledger, files)
    if progress is not None:
        progress("regulatory", 1, 1)
    return section


def _possession(ledger: LedgerService, files: RegulatoryFiles | None) -> dict[str, Any]:
    """Possession and control now, per asset, the pools short of it, and their breaks."""
    register = None if files is None else "register"
    document = possession_and_control(ledger, files, register=register)
    short = [line for line in document["pools"] if line["shortfall_units"] != "0"]
    section = {
        "as_of": document["as_of"],
        "basis": document["basis"],
        "register_source": document["register_source"],
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
    """The deadline's status now; the check is journaled (as an operator records it with
    ``--record``), so a breach would be an event and the audit reads it back."""
    document = residual_interest_of(ledger, margin_requirements(ledger), record=True)
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
            "alerts": document["alerts"], "journal_seq": document["journal_seq"]}  # fmt: skip


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


# ---------------------------------------------------------------------- collateral


def _collateral(ledger: LedgerService, files: RegulatoryFiles) -> dict[str, Any]:
    """The weekly report's per-asset totals, and its lines summed by asset and location."""
    document = weekly_collateral_report(
        ledger, files, haircuts="haircuts", prices="prices", register="register"
    )
    sums: dict[tuple[str, str, bool], list[int]] = {}
    haircuts: dict[str, int] = {}
    for line in document["lines"]:
        key = (line["asset"], line["location"], line["segregated"])
        entry = sums.setdefault(key, [0, 0, 0])
        entry[0] += int(line["quantity_units"])
        entry[1] += int(line["value_units"])
        entry[2] += int(line["value_after_haircut_units"])
        haircuts[line["asset"]] = line["haircut_bps"]
    assets = ledger.ledger.assets
    locations = [
        {"asset": asset, "location": location, "segregated": segregated,
         "quantity": format_amount(quantity, assets[asset]),
         "value": _dollars(value), "value_after_haircut": _dollars(after),
         "units": {"quantity": quantity, "value": value, "value_after_haircut": after}}
        for (asset, location, segregated), (quantity, value, after) in sorted(sums.items())
    ]  # fmt: skip
    totals = [
        {"asset": row["asset"], "haircut_bps": haircuts[row["asset"]],
         "segregated_quantity": row["segregated_quantity"],
         "segregated_value_after_haircut": row["segregated_value_after_haircut"],
         "not_segregated_value_after_haircut": row["not_segregated_value_after_haircut"],
         "units": {name: int(row[f"{name}_units"]) for name in (
             "segregated_quantity", "segregated_value_after_haircut",
             "not_segregated_value_after_haircut")}}
        for row in document["assets"]
    ]  # fmt: skip
    segregated = sum(row["units"]["segregated_value_after_haircut"] for row in totals)
    return {"as_of": document["as_of"], "quote": document["quote"],
            "haircuts": document["haircuts"], "lines": len(document["lines"]),
            "assets": totals, "locations": locations,
            "segregated_value_after_haircut": _dollars(segregated),
            "segregated_value_after_haircut_units": segregated}  # fmt: skip


def _dollars(units: int) -> str:
    return format_signed_units(units, quote_scale)


# ---------------------------------------------------------------------- register, insurance


def _sub_custodians(ledger: LedgerService, files: RegulatoryFiles) -> dict[str, Any]:
    document = sub_custodian_register(ledger, files, register="register")
    rows = [
        {"name": row["name"], "status": row["status"],
         "approved_at_as_of": row["approved_at_as_of"],
         "latest_soc_period_end": row["latest_soc_period_end"], "wallets": row["wallets"],
         "holdings": row["holdings"]}
        for row in document["sub_custodians"]
    ]  # fmt: skip
    return {"as_of": document["as_of"], "register": document["register"],
            "register_source": document["register_source"], "sub_custodians": rows,
            "findings": document["findings"]}  # fmt: skip


def _insurance(ledger: LedgerService, files: RegulatoryFiles) -> dict[str, Any]:
    document = insurance(ledger, files, policies="policies", prices="prices")
    names = ("value", "covered", "uncovered")
    lines = [
        {"asset": line["asset"], "tier": line["tier"], "quantity": line["quantity"],
         **{name: line[name] for name in names},
         "units": {name: int(line[f"{name}_units"]) for name in names}}
        for line in document["lines"]
    ]  # fmt: skip
    uses = ("limit", "deductible", "deductible_borne", "covered", "limit_remaining")
    policies = [
        {"id": use["id"], "insurer": use["insurer"], "active": use["active"],
         "tiers": use["tiers"], **{name: use[name] for name in uses},
         "units": {name: int(use[f"{name}_units"]) for name in uses}}
        for use in document["policies"]
    ]  # fmt: skip
    return {"as_of": document["as_of"], "quote": document["quote"],
            "policies_file": document["policies"], "lines": lines, "policies": policies,
            "hot_uncovered": document["hot_uncovered"],
            "hot_uncovered_units": int(document["hot_uncovered_units"]),
            "alerts": document["alerts"]}  # fmt: skip


# ---------------------------------------------------------------------- summary


def summary_lines(section: Mapping[str, Any]) -> list[str]:
    """One line per regulatory output the section holds, for the report's head and the
    command line."""
    possession, residual = section["possession"], section["residual"]
    short = ", ".join(f"{b['pool']} {b['asset']} {b['shortfall']}" for b in possession["breaks"])
    statuses = ", ".join(f"{s} {n}" for s, n in sorted(residual["statuses"].items()))
    lines = [
        f"Possession and control: {len(possession['breaks'])} custody pools short "
        f"({short or 'none'}); cure: house top-up",
        f"Residual-interest deadline {residual['deadline']}: {statuses} (check journaled as "
        f"entry {residual['journal_seq']})",
    ]
    collateral = section.get("collateral")
    if collateral is not None:
        lines.append(
            f"Weekly crypto-collateral: segregated collateral after haircuts "
            f"{collateral['segregated_value_after_haircut']} {collateral['quote']} "
            f"({collateral['lines']} lines)"
        )
    register = section.get("sub_custodians")
    if register is not None:
        approved = sum(1 for row in register["sub_custodians"] if row["approved_at_as_of"])
        findings = ", ".join(
            f"{f['kind']} ({f['sub_custodian']}{' ' + f['pool'] if f['pool'] else ''}"
            f"{' ' + f['asset'] + ' ' + f['amount'] if f['asset'] else ''})"
            for f in register["findings"]
        )
        lines.append(
            f"Sub-custodian register: {len(register['sub_custodians'])} sub-custodians, "
            f"{approved} approved; findings: {findings or 'none'}"
        )
    cover = section.get("insurance")
    if cover is not None:
        alerts = ", ".join(cover["alerts"]) or "no alert"
        lines.append(
            f"Insurance cover: hot wallets uncovered {cover['hot_uncovered']} {cover['quote']} "
            f"({alerts})"
        )
    in_kind = section.get("in_kind")
    if in_kind is not None:
        returned = "; ".join(
            f"{row['asset']} claimed {row['claim']}, in kind {row['returned_in_kind']}, set off "
            f"{row['set_off']}, on the estate {row['unsecured_claim']}"
            for row in in_kind["assets"]
        )
        lines.append(
            f"In-kind return schedule ({in_kind['petition_date']}): {in_kind['positions']} "
            f"positions; {returned}"
        )
    return lines
