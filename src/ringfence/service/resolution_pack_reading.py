"""Reading a resolution pack back, as its recipient does: every file against the index's
SHA-256 and size, and each client's position rebuilt from the pack's accounts and transfers
alone (service/resolution_pack.py writes it)."""

from __future__ import annotations

import csv
import hashlib
import json
from collections import defaultdict

from ringfence.core.ledger.model import AccountClass
from ringfence.service.ports import ResolutionPackFiles


def verify_pack(files: ResolutionPackFiles, path: str) -> list[str]:
    """Problems with the pack at ``path``: files missing, extra or not matching the index."""
    problems: list[str] = []
    index = json.loads(files.read(path, "index.json"))
    listed = {entry["file"]: entry for entry in index["files"]}
    present = set(files.names(path)) - {"index.json"}
    problems += [f"missing: {name}" for name in sorted(set(listed) - present)]
    problems += [f"not in the index: {name}" for name in sorted(present - set(listed))]
    for name in sorted(set(listed) & present):
        data = files.read(path, name)
        if hashlib.sha256(data).hexdigest() != listed[name]["sha256"]:
            problems.append(f"hash differs: {name}")
        if len(data) != listed[name]["bytes"]:
            problems.append(f"size differs: {name}")
    return problems


def rebuild_positions(
    files: ResolutionPackFiles, path: str
) -> dict[tuple[str, str, str, str], int]:
    """Each client account's posted balance in minor units, (client, pool, asset, kind) ->
    units, rebuilt from the pack's accounts and transfers alone."""
    accounts = {
        int(row["account"]): row for row in csv.DictReader(files.lines(path, "accounts.csv"))
    }
    posted: dict[int, int] = defaultdict(int)
    not_postings = {"pending", "void_pending"}
    for row in csv.DictReader(files.lines(path, "transfers.csv")):
        if not_postings & set(filter(None, row["flags"].split("|"))):
            continue
        amount = int(row["amount_units"])
        posted[int(row["credit_account"])] += amount
        posted[int(row["debit_account"])] -= amount
    positions: dict[tuple[str, str, str, str], int] = {}
    for account, row in accounts.items():
        if row["class"] == AccountClass.client.value:
            key = (row["owner"], row["pool"], row["asset"], row["kind"])
            positions[key] = posted.get(account, 0)
    return positions
