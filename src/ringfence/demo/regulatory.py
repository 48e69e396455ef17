"""The demo's regulatory lines: possession and control (R4) at the end of the day, per asset and
per custody pool, on the book (the demo names no observations and no sub-custodian register, so
every wallet is the firm's own and nothing is at a sub-custodian).

The pool the misdirected deposit left short has a deficit there, and its break names the cure
(a house top-up). ``possession_section`` returns the report's section, display-ready.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ringfence.service.ledger import LedgerService
from ringfence.service.regulatory import possession_and_control

Progress = Callable[[str, int, int], None]
_locations = ("approved_sub_custodians", "unapproved_sub_custodians", "encumbered", "deficit")


def possession_section(ledger: LedgerService, progress: Progress | None = None) -> dict[str, Any]:
    """Possession and control now, per asset, the pools short of it, and their breaks."""
    if progress is not None:
        progress("possession and control", 0, 1)
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
    if progress is not None:
        progress("possession and control", 1, 1)
    return section


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
