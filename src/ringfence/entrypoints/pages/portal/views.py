"""What the portal's pages show, from service/access_clients.py's documents: each pool's
standing in plain words, statement rows, and the round a client checks. Amounts stay the
documents' exact decimal strings (the templates round them for reading).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ringfence.entrypoints.pages.rendering import basis_points_text, moment_text, reserve_standing

# What a pool's terms mean for the client who holds assets in it, in plain words.
standing_words = {
    "custody": ("These assets are yours and kept apart from the firm's.", "ok"),
    "title_transfer": ("You hold a claim on the firm, not the assets.", "title"),
}
# What a round's asset line says to the client checking its proof (``reserve_standing``).
reserve_words = {
    "nothing_owed": "nothing owed",
    "not_attested": "reserves not attested in this round",
    "covered": "covered",
    "short": "NOT covered",
}


def balances_view(document: Mapping[str, Any]) -> dict[str, Any]:
    pools = []
    for pool in document["pools"]:
        words, tone = standing_words[pool["terms"]]
        pools.append(
            {
                **pool,
                "standing": words,
                "tone": tone,
                "terms_words": "custody" if pool["terms"] == "custody" else "title transfer",
            }
        )
    return {"client": document["client"], "pools": pools}


def balance_rows(document: Mapping[str, Any]) -> list[list[str]]:
    """The balances export: one row per account, amounts exact."""
    return [
        [pool["pool"], pool["kind"], pool["terms"], account["asset"], account["account"],
         account["kind"], account["balance"], account["pending_in"], account["pending_out"]]
        for pool in document["pools"]
        for account in pool["accounts"]
    ]  # fmt: skip


def statement_view(document: Mapping[str, Any], from_text: str, to_text: str) -> dict[str, Any]:
    return {
        "from": document["from"],
        "to": document["to"],
        "from_text": from_text,
        "to_text": to_text,
        "assets": document["assets"],
    }


def proof_view(document: Mapping[str, Any]) -> dict[str, Any]:
    summary = document["round"]
    if summary is None:
        return {"round": None}
    lines = []
    for line in summary["assets"]:
        standing, tone = reserve_standing(line)
        status, coverage = reserve_words[standing], basis_points_text(line["coverage_bp"])
        lines.append({**line, "status": status, "tone": tone, "coverage": coverage})
    return {
        "round": summary,
        "lines": lines,
        "short": [line for line in lines if line["tone"] == "short"],
        "unattested": [line for line in lines if line["tone"] == "title"],
        "record": document["record"],
        "proofs": document["proofs"],
        "proven": document["proven"],
        "pinned": document["pinned_public_key"],
        "signed_by_pinned": document["record"]["public_key"] == document["pinned_public_key"],
    }


# A withdrawal's status as its client reads it, and its tone (the colour beside the words).
withdrawal_words = {
    "requested": ("Waiting for the firm's approval", "title"),
    "awaiting_approval": ("Waiting for the firm's approval", "title"),
    "approved": ("Approved: the amount is set aside in your account", "title"),
    "held": ("Approved: the amount is set aside in your account", "title"),
    "built": ("Approved: being signed", "title"),
    "signed": ("Approved: being signed", "title"),
    "broadcast": ("Sent to the network, confirming", "title"),
    "confirmed": ("Completed", "ok"),
    "posted": ("Completed", "ok"),
    "voided": ("Cancelled", "short"),
    "blocked": ("Refused", "short"),
}


def withdrawals_view(document: Mapping[str, Any]) -> dict[str, Any]:
    rows = []
    for row in document["withdrawals"]:
        words, tone = withdrawal_words.get(row["status"], (row["status"], "short"))
        if row["status"] == "broadcast":
            words = f"Sent to the network: {row['confirmations']} confirmations so far"
        if row["reason"]:
            words = f"{words}: {row['reason'].replace('_', ' ')}"
        rows.append({**row, "status_words": words, "tone": tone,
                     "requested_at": moment_text(int(row["requested_at_ns"]))})  # fmt: skip
    return {
        "client": document["client"],
        "total": document["total"],
        "withdrawals": rows,
    }
