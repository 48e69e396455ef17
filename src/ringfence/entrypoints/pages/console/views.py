"""What the console's pages show, built from the documents its service calls return
(service/access_operations.py, access_recon.py, access_reports.py, withdrawals.py): display
rows, status words and charts. Amounts stay the
documents' exact decimal strings; the templates round them for reading (the ``reading``
filter) and exports carry them as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ringfence.entrypoints.pages import figures
from ringfence.entrypoints.pages.rendering import (
    age_text,
    basis_points_text,
    moment_text,
    reserve_standing,
    rounded,
)
from ringfence.service.readings import (
    coverage_ppm,
    percent_text,
    reading_of_units,
    units_and_scale,
)

# What a segregation line's alert is called on a page, and its tone (the colour beside it).
alert_words = {
    "none": ("covered", "ok"),
    "undersegregated": ("undersegregated", "short"),
    "below_target": ("below target", "title"),
}


def overview_view(document: Mapping[str, Any]) -> dict[str, Any]:
    """The first view: per asset, coverage and residual interest over the runs, the latest
    run's lines (short pools first), and the book's positions now."""
    scales = {entry["code"]: entry["scale"] for entry in document["assets"]}
    runs = document["runs"]
    labels = [run["as_of"][5:10] for run in runs]
    coverage, residual = figures.run_series(runs)
    latest = runs[-1] if runs else None
    every = [_line_view(line, scales) for line in latest["coverage"]] if latest else []
    lines = [line for line in every if not line["empty"]]
    lines.sort(key=lambda line: (line["tone"] != "short", line["tone"] != "title", line["pool"]))
    assets = []
    for code in sorted(coverage):
        sizes = {
            line["pool"]: int(line["requirement_units"])
            for line in (latest["coverage"] if latest else [])
            if line["asset"] == code
        }
        chosen = figures.chosen_pools(coverage[code], sizes)
        assets.append(
            {
                "code": code,
                "coverage": figures.coverage_chart(
                    code, {pool: coverage[code][pool] for pool in chosen}, labels
                ),
                "residual": figures.residual_chart(
                    code, scales[code], {pool: residual[code][pool] for pool in chosen}, labels
                ),
            }
        )
    return {
        "latest": latest,
        "runs": len(runs),
        "assets": assets,
        "lines": lines,
        "short": [line for line in lines if line["tone"] == "short"],
        "hidden": len(every) - len(lines),
        "positions": [_position_view(row) for row in document["positions"] if not _empty(row)],
        "positions_hidden": sum(1 for row in document["positions"] if _empty(row)),
        "breaks_open": document["breaks_open"],
    }


def _line_view(line: Mapping[str, Any], scales: Mapping[str, int]) -> dict[str, Any]:
    requirement = int(line["requirement_units"])
    funds = int(line["funds_units"])
    words, tone = alert_words.get(line["alert"], (line["alert"], "short"))
    if not line["segregated"]:
        words, tone = "not segregated (title transfer)", "title"
    excess = funds - requirement
    scale = scales[line["asset"]]
    return {
        "pool": line["pool"],
        "asset": line["asset"],
        "requirement": line["requirement"],
        "funds": line["funds"],
        "excess": line["excess"],
        "target": line["target"],
        "coverage": percent_text(coverage_ppm(funds, requirement)),
        "shortfall": reading_of_units(-excess, scale) if excess < 0 else "",
        "status": words,
        "tone": tone,
        "empty": requirement == 0 and funds == 0 and line["alert"] == "none",
    }


def _empty(row: Mapping[str, Any]) -> bool:
    return all(units_and_scale(row[name])[0] == 0 for name in ("holdings", "liabilities"))


def _position_view(row: Mapping[str, Any]) -> dict[str, Any]:
    short = row["segregated"] and row["shortfall_pending"].strip("0.") != ""
    coverage = row["coverage"]
    return {
        **row,
        "coverage_words": "—" if coverage is None else percent_text(units_and_scale(coverage)[0]),
        "terms_words": row["terms"].replace("_", " "),
        "status": ("short if pending posts" if short else "covered on the book")
        if row["segregated"]
        else "not segregated",
        "tone": "short" if short else ("ok" if row["segregated"] else "title"),
    }


# ---------------------------------------------------------------------- breaks


def breaks_view(document: Mapping[str, Any], pool: str) -> dict[str, Any]:
    rows = [b for b in document["breaks"] if not pool or b["pool"] == pool]
    open_rows = [b for b in rows if b["state"] != "cured"]
    return {
        "pool": pool,
        "rows": [break_view(b) for b in rows],
        "ages": figures.age_chart(open_rows),
        "open": len(open_rows),
    }


def break_view(entry: Mapping[str, Any]) -> dict[str, Any]:
    age_s = int(entry["age_s"])
    return {
        **entry,
        "age": age_text(age_s),
        "tone": "ok" if entry["state"] == "cured" else "short",
        "state_words": entry["state"].replace("_", " "),
        "cause_words": entry["cause"].replace("_", " "),
    }


# ---------------------------------------------------------------------- rounds


def rounds_view(document: Mapping[str, Any]) -> dict[str, Any]:
    return {"rounds": [round_view(r) for r in document["items"]]}


# What a round's asset line says to staff (``reserve_standing``); a short one says by how much.
reserve_words = {
    "nothing_owed": "nothing owed",
    "not_attested": "reserves not attested",
    "covered": "covered",
}


def round_view(summary: Mapping[str, Any]) -> dict[str, Any]:
    assets = []
    for line in summary["assets"]:
        standing, tone = reserve_standing(line)
        words = reserve_words.get(standing) or (
            f"NOT covered: short {rounded(line['shortfall'])} {line['asset']}"
        )
        coverage = basis_points_text(line["coverage_bp"])
        assets.append({**line, "status": words, "tone": tone, "coverage": coverage})
    return {**summary, "assets": assets, "covered": all(a["tone"] == "ok" for a in assets)}


def coverage_bars(rounds: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per asset of the latest round, its coverage as a bar around 100%."""
    return [
        {
            "name": line["asset"],
            "ppm": int(line["coverage_bp"]) * 100,
            "status": line["status"],
            "short": line["tone"] == "short",
        }
        for line in rounds[0]["assets"]
        if rounds and line["coverage_bp"] is not None
    ]


# ---------------------------------------------------------------------- withdrawals

# A withdrawal's status as staff read it, and its tone (the colour beside the word).
withdrawal_words = {
    "requested": ("requested", "title"),
    "awaiting_approval": ("awaiting approval", "title"),
    "approved": ("approved", "title"),
    "held": ("held in the ledger", "title"),
    "built": ("transaction built", "title"),
    "signed": ("signed", "title"),
    "broadcast": ("sent, confirming", "title"),
    "confirmed": ("confirmed", "ok"),
    "posted": ("posted", "ok"),
    "voided": ("voided", "short"),
    "blocked": ("blocked", "short"),
}
# Why the server refused an approval or a rejection, in words beside the code.
refusal_words = {
    "approver_is_initiator": "you asked for this withdrawal; four-eyes means someone else "
    "approves it",
    "role_forbidden": "your role does not approve withdrawals",
    "approver_not_eligible": "you are not in the groups its rule names",
    "approval_duplicate": "you have approved it already",
    "withdrawal_not_awaiting_approval": "it no longer awaits approval",
    "withdrawal_already_final": "it is final already",
    "withdrawal_not_found": "there is no such withdrawal",
    "approval_signature_required": "the policy requires your signature of the approval "
    "instruction with your approval",
    "approval_signature_invalid": "the signature is not yours over this withdrawal's approval "
    "instruction",
}


def withdrawals_view(
    document: Mapping[str, Any], outcome: Mapping[str, str] | None
) -> dict[str, Any]:
    """The approval queue (each request with its policy trace) and the latest others; the
    outcome of the last approval or rejection from this page, in words."""
    every = {row["id"]: row for row in (*document["awaiting"], *document["recent"])}
    shown = None
    if outcome is not None:
        now = every.get(outcome["id"])
        words, tone = withdrawal_words.get(now["status"], ("", "")) if now else ("", "")
        code = outcome["result"]
        shown = {
            **outcome,
            "ok": code == "ok",
            "words": refusal_words.get(code, code.replace("_", " ")),
            "status": words,
            "tone": tone,
        }
    return {
        "awaiting": [withdrawal_view(row) for row in document["awaiting"]],
        "awaiting_total": document["awaiting_total"],
        "recent": [withdrawal_view(row) for row in document["recent"]],
        "outcome": shown,
    }


def withdrawal_view(row: Mapping[str, Any]) -> dict[str, Any]:
    decision = row.get("decision") or {}
    words, tone = withdrawal_words.get(row["status"], (row["status"], "short"))
    if row["reason"]:
        words = f"{words}: {row['reason'].replace('_', ' ')}"
    if row["status"] == "broadcast":
        words = f"sent, {row['confirmations']} confirmations so far"
    required = decision.get("approvals_required", 0) + decision.get("senior_approvals_required", 0)
    expires = decision.get("expires_at_ns")
    return {
        **row,
        "status_words": words,
        "tone": tone,
        "requested_at": moment_text(int(row["requested_at_ns"])),
        "expires_at": moment_text(int(expires)) if expires else "",
        "approved_by": [entry["approver"] for entry in row.get("approvals", [])],
        "approvals_required": required,
        "rule": decision.get("rule") or "",
        "trace": decision.get("trace", []),
        "eligible": decision.get("eligible", []),
        "kind_words": row["kind"].replace("_", " "),
        # Where the policy requires signed approvals: what the reader signs to approve.
        "approval_instruction": row.get("approval_instruction", ""),
    }


def withdrawal_rows(document: Mapping[str, Any], columns: Sequence[str]) -> list[list[str]]:
    """The export: every withdrawal of the queue and the recent ones, amounts exact."""
    rows = []
    for row in (*document["awaiting"], *document["recent"]):
        decision = row.get("decision") or {}
        flat = {
            **row,
            "rule": decision.get("rule") or "",
            "approvals": " ".join(entry["approver"] for entry in row.get("approvals", [])),
            "approvals_required": decision.get("approvals_required", ""),
        }
        rows.append(["" if flat.get(name) is None else str(flat.get(name)) for name in columns])
    return rows
