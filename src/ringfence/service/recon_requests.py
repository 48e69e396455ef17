"""What an operator asks of reconciliation, one function per request: plain strings in (times,
file names, a break's cause), the document to show out (JSON-able, amounts already formatted by
core/money.py) or CSV text.

``ringfence reconcile``, ``statement ...`` and ``breaks ...`` call exactly one of these each and
render what comes back; the API will call the same ones. Times are parsed by
core/recon/times.py (a date as an end means the close of that day); the files an operator names
are read through the ``ReconFiles`` port, so no caller touches a file format.

The statements here are the segregation statement (R1) and the client statement of position;
the register of positions is not a statement but the book they are drawn from. See the
glossary in docs/reconciliation.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ringfence.core.custody.holdings import Observation
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import check_id
from ringfence.core.money import format_amount
from ringfence.core.recon.breaks import Cause, ReconBreak
from ringfence.core.recon.history import ClientStatement
from ringfence.core.recon.run import Reconciliation, ReconSettings
from ringfence.core.recon.times import parse_time
from ringfence.service.csv_cells import csv_text
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import ReconFiles
from ringfence.service.recon import ReconService
from ringfence.service.recon_documents import (
    break_entry,
    breaks_document,
    client_statement_csv_columns,
    client_statement_document,
    client_statement_rows,
    history_document,
    iso,
    reconciliation_document,
    register_csv_columns,
    register_rows,
    segregation_document,
)

# The words ``breaks explain --cause`` accepts.
cause_names = tuple(cause.value for cause in Cause)

segregation_csv_columns = (
    "pool", "asset", "terms", "segregated", "requirement", "funds", "encumbered", "excess",
    "residual_interest_book", "target", "excess_over_target", "alert", "deficits",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Reconciled:
    """A journaled run: the document ``reconcile --json`` prints and, when asked for, the
    history document its HTML report renders (service/recon_documents.history_document)."""

    document: dict[str, Any]
    history: dict[str, Any] | None


def reconcile(
    recon: ReconService,
    files: ReconFiles,
    as_of: str | None = None,
    observations: str | None = None,
    settings: str | None = None,
    *,
    with_history: bool = False,
) -> Reconciled:
    """Run the daily reconciliation as of ``as_of`` (default now) and journal it."""
    as_of_ns, seen, chosen = _inputs(recon, files, as_of, observations, settings)
    run = recon.run(as_of_ns, seen, chosen)
    assets = recon.ledger.ledger.assets
    document = {"ok": True, **reconciliation_document(run, recon.history, assets)}
    history = history_document(run, recon.history, assets) if with_history else None
    return Reconciled(document, history)


def segregation_statement(
    recon: ReconService,
    files: ReconFiles,
    as_of: str | None = None,
    observations: str | None = None,
    settings: str | None = None,
) -> dict[str, Any]:
    """The segregation statement (R1) per pool and asset; journals nothing."""
    statement = _segregation(recon, files, as_of, observations, settings)
    return {"ok": True, **segregation_document(statement, recon.ledger.ledger.assets)}


def segregation_statement_csv(
    recon: ReconService,
    files: ReconFiles,
    as_of: str | None = None,
    observations: str | None = None,
    settings: str | None = None,
) -> str:
    """The segregation statement as CSV: custody pools, then title-transfer pools."""
    document = segregation_statement(recon, files, as_of, observations, settings)
    lines = [*document["segregated"], *document["title_transfer"]]
    columns = segregation_csv_columns
    return _csv(columns, ([str(line[key]) for key in columns] for line in lines))


def client_statement(
    recon: ReconService,
    files: ReconFiles,
    client: str,
    *,
    from_time: str,
    to_time: str,
    prices: str | None = None,
) -> dict[str, Any]:
    """A client's statement of position (MiCA Art. 75(5)) from ``from_time`` to ``to_time``
    (inclusive: a date means its end), valued with the prices file ``prices`` if given."""
    statement = _client_statement(
        recon, files, client, from_time=from_time, to_time=to_time, prices=prices
    )
    return {"ok": True, **client_statement_document(statement, recon.ledger.ledger.assets)}


def client_statement_csv(
    recon: ReconService,
    files: ReconFiles,
    client: str,
    *,
    from_time: str,
    to_time: str,
    prices: str | None = None,
) -> str:
    """The client statement as CSV: per asset its opening, each movement, its closing."""
    statement = _client_statement(
        recon, files, client, from_time=from_time, to_time=to_time, prices=prices
    )
    rows = client_statement_rows(statement, recon.ledger.ledger.assets)
    return _csv(client_statement_csv_columns, rows)


def register_of_positions(recon: ReconService) -> dict[str, Any]:
    """The register of positions (Art. 75(2)): every movement of every client account with
    the balance it left, in journal order."""
    rows = register_rows(recon.register(), recon.ledger.ledger.assets)
    keys = register_csv_columns
    return {"ok": True, "register": [dict(zip(keys, row, strict=True)) for row in rows]}


def register_of_positions_csv(recon: ReconService) -> str:
    """The register of positions as CSV."""
    return _csv(register_csv_columns, register_rows(recon.register(), recon.ledger.ledger.assets))


# ---------------------------------------------------------------------- breaks


def reconciliation_breaks(recon: ReconService, include_cured: bool = False) -> dict[str, Any]:
    """The breaks the external reconciliation opened (open ones unless ``include_cured``),
    with their age now."""
    assets = recon.ledger.ledger.assets
    rows = breaks_document(recon.history, assets, recon.as_of(None), include_cured)
    return {"ok": True, "breaks": rows}


def explain_break(recon: ReconService, break_id: int, cause: str, action: str) -> dict[str, Any]:
    """Record a break's cause (one of ``cause_names``) and the action decided."""
    result, after = recon.explain(break_id, _cause(cause), action)
    return _break_action(recon, result, after)


def cure_break(
    recon: ReconService, break_id: int, correction: str | None, make_good: str | None
) -> dict[str, Any]:
    """Record the correction, then the make-good transfer (its id), whichever are given; the
    result is the last one's, and says what is still missing while the break stays open."""
    if correction is None and make_good is None:
        raise InputError(Result.field_required, "a correction, a make-good transfer or both")
    result, after = Result.ok, None
    if correction is not None:
        result, after = recon.correct(break_id, correction)
    if make_good is not None:
        result, after = recon.make_good(break_id, check_id(make_good, "--make-good"))
    assert after is not None
    return _break_action(recon, result, after)


def ledger_breaks(ledger: LedgerService) -> dict[str, Any]:
    """The ledger's segregation breaks (misdirected deposits) and how much of each is cured."""
    by_number = ledger.ledger.assets_by_number
    rows = []
    for broken in ledger.breaks():
        asset = by_number[broken.asset]
        rows.append(
            {
                "id": str(broken.id),
                "pool": broken.pool,
                "asset": asset.code,
                "state": broken.state.value,
                "amount": format_amount(broken.amount, asset),
                "cured": format_amount(broken.cured, asset),
                "outstanding": format_amount(broken.outstanding, asset),
                "opened_at": iso(broken.opened_at),
                "opened_at_ns": str(broken.opened_at),
            }
        )
    return {"ok": True, "breaks": rows}


# ---------------------------------------------------------------------- helpers


def _inputs(
    recon: ReconService,
    files: ReconFiles,
    as_of: str | None,
    observations: str | None,
    settings: str | None,
) -> tuple[int | None, list[Observation] | None, ReconSettings]:
    """The as-of time, the saved observations and the settings, read in this order (so the
    first defect reported is the same whatever else is wrong)."""
    engine = recon.ledger.ledger
    as_of_ns = parse_time(as_of, "--as-of", end_of_day=True)
    seen = None if observations is None else files.observations(observations, engine.assets)
    chosen = (
        ReconSettings()
        if settings is None
        else files.settings(settings, engine.assets, engine.pools)
    )
    return as_of_ns, seen, chosen


def _segregation(
    recon: ReconService,
    files: ReconFiles,
    as_of: str | None,
    observations: str | None,
    settings: str | None,
) -> Reconciliation:
    as_of_ns, seen, chosen = _inputs(recon, files, as_of, observations, settings)
    return recon.segregation_statement(as_of_ns, seen, chosen)


def _client_statement(
    recon: ReconService,
    files: ReconFiles,
    client: str,
    *,
    from_time: str,
    to_time: str,
    prices: str | None,
) -> ClientStatement:
    from_ns = parse_time(from_time, "--from")
    to_ns = parse_time(to_time, "--to", end_of_day=True)
    assert from_ns is not None
    assert to_ns is not None
    source = None if prices is None else files.prices(prices)
    # --to is inclusive (the end of the day, or the very time given): the period ends after.
    return recon.client_statement(client, from_ns, to_ns + 1, source)


def _cause(text: str) -> Cause:
    if text not in cause_names:
        raise InputError(Result.break_cause_unknown, f"--cause {text!r}")
    return Cause(text)


def _break_action(recon: ReconService, result: Result, after: ReconBreak) -> dict[str, Any]:
    entry = break_entry(after, recon.ledger.ledger.assets, recon.as_of(None))
    return {"ok": result.succeeded, "result": result.value, "break": entry}


def _csv(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    return csv_text(header, rows)
