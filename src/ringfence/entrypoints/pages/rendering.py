"""What every page shares: the one template environment and its text filters.

Every HTML page ringfence writes (the demo's report, the reconciliation report, a client
statement) or serves (the console and the portal, whose templates live beside their routes
and are named ``console/...`` and ``portal/...``) is rendered here, from a document the
service built.

Amounts are shown rounded for reading with the exact amount in the hover text (the
``reading`` filter: ``{{ line.funds | reading("BTC") }}``); exports carry the exact amounts.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from ringfence.service.readings import reading_of
from ringfence.service.recon_documents import iso

pages_path = Path(__file__).parent
templates_path = pages_path / "templates"


def page_environment() -> jinja2.Environment:
    """The one template environment every HTML page ringfence writes is rendered in: strict
    (a missing field is an error, not an empty cell), escaped, with the shared filters."""
    loader = jinja2.ChoiceLoader(
        [
            jinja2.FileSystemLoader(templates_path),
            jinja2.PrefixLoader(
                {
                    "console": jinja2.FileSystemLoader(pages_path / "console" / "templates"),
                    "portal": jinja2.FileSystemLoader(pages_path / "portal" / "templates"),
                }
            ),
        ]
    )
    environment = jinja2.Environment(
        loader=loader,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["grouped"] = grouped
    environment.filters["reading"] = reading
    environment.filters["rounded"] = rounded
    environment.filters["chain_id"] = chain_id
    return environment


def chain_id(txid: str) -> Markup:
    """A chain transaction id as a page shows it: monospace, no link (a page of the firm's
    must not send a client to a third party's explorer), its middle elided so a table keeps
    its width, the whole id as its hover text; the exports carry it whole."""
    shown = txid if len(txid) <= 20 else f"{txid[:10]}…{txid[-8:]}"
    return Markup('<code class="hash txid" title="{}">{}</code>').format(
        escape(txid), escape(shown)
    )


def rounded(exact: str) -> str:
    """An exact decimal string rounded for reading, its whole part grouped: plain text."""
    return grouped(reading_of(exact))


def reading(exact: str | None, asset: str = "") -> Markup:
    """An exact decimal string as a page shows it: rounded for reading, grouped, the exact
    amount (and the asset) as its hover text; an em dash for none."""
    if exact is None or exact == "":
        return Markup('<span class="amount">—</span>')
    full = f"{grouped(exact)} {asset}".strip()
    return Markup('<span class="amount" title="{}">{}</span>').format(
        escape(full), escape(rounded(exact))
    )


def grouped(amount: str) -> str:
    """A decimal string with its whole part in groups of three: 1234567.5 -> 1,234,567.5."""
    sign = "-" if amount.startswith("-") else ""
    whole, point, fraction = amount.lstrip("-").partition(".")
    groups: list[str] = []
    while len(whole) > 3:
        whole, tail = whole[:-3], whole[-3:]
        groups.insert(0, tail)
    return sign + ",".join([whole, *groups]) + point + fraction


def reserve_standing(line: Mapping[str, Any]) -> tuple[str, str]:
    """What a proof-of-reserves round says of one asset (an asset line of
    service/access_reports.py's rounds): ``nothing_owed``, ``not_attested``, ``covered`` or
    ``short``, and its tone. The console and the portal word it each for its reader."""
    if line["liabilities_units"] == "0":
        return "nothing_owed", "ok"
    if not line["attested"]:
        return "not_attested", "title"
    return ("covered", "ok") if line["covered"] else ("short", "short")


def basis_points_text(bp: str | None) -> str:
    """A coverage in basis points as a percentage with two decimals; an em dash for none."""
    if bp is None:
        return "—"
    whole, rest = divmod(int(bp), 100)
    return f"{whole}.{rest:02d}%"


def age_text(seconds: int) -> str:
    """A break's age in the two largest units that matter: 45 s, 3 min 05 s, 2 d 04 h."""
    assert seconds >= 0
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    days, hour = divmod(hours, 24)
    if days:
        return f"{days} d {hour:02d} h"
    if hours:
        return f"{hours} h {minute:02d} min"
    if minutes:
        return f"{minutes} min {second:02d} s"
    return f"{second} s"


def moment_text(ns: int) -> str:
    """A moment as a page shows it, to the minute: 2026-09-28 15:13 UTC (exports keep the
    nanoseconds)."""
    return iso(ns)[:16].replace("T", " ") + " UTC"
