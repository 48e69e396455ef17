"""Reconciliation as a principal may use it: runs, statements and breaks, each one call of
service/recon_requests.py (the functions ``ringfence reconcile``, ``statement`` and ``breaks``
call) behind the actor's role and scope (see service/access.py). The REST API, the operator
console (breaks) and the client portal (statements) call these same functions.

- a run (it journals) is an operator's or the segregation officer's (compliance);
- the segregation statement, the register of positions and the breaks sum over every client:
  staff read them; each break carries the pool of its wallet, so a short pool leads to its
  breaks;
- explaining and curing a break is the operator's or the segregation officer's (compliance);
- a client statement of position is staff's, and a client's own: another client's name
  answers ``client_not_found``, as if it did not exist.

The documents a run or a statement reads (observations, settings, prices) come in the request
body as the exact text of the files the command line names, and are read through the
``RegulatoryFiles`` port the caller builds from them (``Uploads``), so both entry points parse
the same bytes with the same named errors.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, Final

from ringfence.core.access.roles import Action, Actor, require
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import check_id
from ringfence.service import recon_requests as requests
from ringfence.service.access import check_client
from ringfence.service.custody import CustodyService
from ringfence.service.history import as_of_point
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import RegulatoryFiles
from ringfence.service.recon import ReconService

__all__ = [
    "Uploads",
    "break_of",
    "breaks",
    "cause_names",
    "client_statement",
    "client_statement_csv",
    "cure",
    "documents_of",
    "explain",
    "ledger_breaks",
    "reconcile",
    "register",
    "segregation_statement",
]

# Builds the files port over a request's documents (bootstrap: adapters/files/uploaded.py).
Uploads = Callable[[Mapping[str, bytes]], RegulatoryFiles]
_run_fields: Final = ("as_of", "observations", "settings")
# The causes a break is explained by.
cause_names = requests.cause_names


def documents_of(
    document: object, documents: Collection[str], texts: Collection[str] = ()
) -> tuple[dict[str, str], dict[str, bytes]]:
    """A request body ``{name: text}``: its plain fields (``texts``) and its documents (the
    exact text of a file each, as UTF-8 bytes). Unknown fields and values that are not
    strings are refused by name."""
    if document is None:
        return {}, {}
    if not isinstance(document, dict):
        raise InputError(Result.request_body_malformed, "a JSON object of named documents")
    unknown = sorted(str(key) for key in document if key not in documents and key not in texts)
    if unknown:
        raise InputError(Result.field_unknown, ", ".join(unknown))
    for key, value in document.items():
        if not isinstance(value, str):
            raise InputError(Result.field_required, f"{key}: a string (a document's text)")
    plain = {key: value for key, value in document.items() if key in texts}
    uploaded = {key: value.encode("utf-8") for key, value in document.items() if key in documents}
    return plain, uploaded


def _recon(ledger: LedgerService) -> ReconService:
    return ReconService(CustodyService(ledger))


def reconcile(
    ledger: LedgerService, actor: Actor, document: object, uploads: Uploads
) -> dict[str, Any]:
    """Run the reconciliation and journal it: ``{"as_of"?, "observations"?, "settings"?}``
    (without observations, funds are the book's and no external reconciliation is made)."""
    require(actor, Action.reconcile)
    plain, uploaded = documents_of(document, ("observations", "settings"), ("as_of",))
    files = uploads(uploaded)
    done = requests.reconcile(
        _recon(ledger), files, plain.get("as_of"), *_names(uploaded, _run_fields[1:])
    )
    return done.document


def segregation_statement(
    ledger: LedgerService, actor: Actor, document: object, uploads: Uploads
) -> dict[str, Any]:
    """The segregation statement (journals nothing), from the same fields as a run, or as of
    a journal sequence (``as_of_seq``: the time of that entry)."""
    require(actor, Action.read_positions)
    fields = ("as_of", "as_of_seq")
    plain, uploaded = documents_of(document, ("observations", "settings"), fields)
    as_of = plain.get("as_of")
    point = as_of_point(ledger, None, plain["as_of_seq"]) if "as_of_seq" in plain else None
    if point is not None:
        if as_of is not None:
            raise InputError(Result.query_parameter_invalid, "as_of or as_of_seq, not both")
        as_of = str(point.timestamp_ns)
    names = _names(uploaded, _run_fields[1:])
    return requests.segregation_statement(_recon(ledger), uploads(uploaded), as_of, *names)


def _names(uploaded: Mapping[str, bytes], names: tuple[str, ...]) -> list[str | None]:
    return [name if name in uploaded else None for name in names]


def client_statement(
    ledger: LedgerService,
    actor: Actor,
    client: str,
    *,
    from_time: str,
    to_time: str,
    prices: str | None,
    uploads: Uploads,
) -> dict[str, Any]:
    """A client's statement of position from ``from_time`` to ``to_time`` (inclusive; ns,
    ISO-8601 UTC or dates), valued with the prices document if one is given, as
    ``statement client --json`` prints it."""
    files, chosen = _statement_files(ledger, actor, client, prices, uploads)
    return requests.client_statement(
        _recon(ledger), files, client, from_time=from_time, to_time=to_time, prices=chosen
    )


def client_statement_csv(
    ledger: LedgerService,
    actor: Actor,
    client: str,
    *,
    from_time: str,
    to_time: str,
    prices: str | None,
    uploads: Uploads,
) -> str:
    """The same statement as CSV (``statement client --csv``)."""
    files, chosen = _statement_files(ledger, actor, client, prices, uploads)
    return requests.client_statement_csv(
        _recon(ledger), files, client, from_time=from_time, to_time=to_time, prices=chosen
    )


def _statement_files(
    ledger: LedgerService, actor: Actor, client: str, prices: str | None, uploads: Uploads
) -> tuple[RegulatoryFiles, str | None]:
    require(actor, Action.read_statements)
    check_client(ledger.ledger, actor, client)
    files = uploads({} if prices is None else {"prices": prices.encode("utf-8")})
    return files, None if prices is None else "prices"


def register(ledger: LedgerService, actor: Actor) -> dict[str, Any]:
    """The register of positions: every movement of every client account."""
    require(actor, Action.read_positions)
    return requests.register_of_positions(_recon(ledger))


# ---------------------------------------------------------------------- breaks


def breaks(ledger: LedgerService, actor: Actor, include_cured: bool = False) -> dict[str, Any]:
    """The reconciliation's breaks (open ones unless ``include_cured``) with their age now
    and their wallet's pool."""
    require(actor, Action.read_reconciliation)
    recon = _recon(ledger)
    document = requests.reconciliation_breaks(recon, include_cured)
    for row in document["breaks"]:
        row["pool"] = _pool_of(recon, row["wallet"])
    return document


def break_of(ledger: LedgerService, actor: Actor, break_id: str) -> dict[str, Any]:
    """One reconciliation break, cured or not (``break_not_found``)."""
    require(actor, Action.read_reconciliation)
    wanted = check_id(break_id, "break id")
    for row in breaks(ledger, actor, include_cured=True)["breaks"]:
        if row["id"] == wanted:
            return {"ok": True, "break": row}
    raise InputError(Result.break_not_found, str(wanted))


def explain(ledger: LedgerService, actor: Actor, break_id: str, document: object) -> dict[str, Any]:
    """Record a break's cause and the action decided: ``{"cause", "action"}``."""
    require(actor, Action.resolve_breaks)
    plain, _ = documents_of(document, (), ("cause", "action"))
    for key in ("cause", "action"):
        if key not in plain:
            raise InputError(Result.field_required, key)
    number = check_id(break_id, "break id")
    recon = _recon(ledger)
    return _with_pool(recon, requests.explain_break(recon, number, plain["cause"], plain["action"]))


def cure(ledger: LedgerService, actor: Actor, break_id: str, document: object) -> dict[str, Any]:
    """Record the correction and/or the make-good transfer: ``{"correction"?, "make_good"?}``
    (``ok`` is false, with the reason as ``result``, while the break stays open)."""
    require(actor, Action.resolve_breaks)
    plain, _ = documents_of(document, (), ("correction", "make_good"))
    number = check_id(break_id, "break id")
    recon = _recon(ledger)
    done = requests.cure_break(recon, number, plain.get("correction"), plain.get("make_good"))
    return _with_pool(recon, done)


def _with_pool(recon: ReconService, done: dict[str, Any]) -> dict[str, Any]:
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


def ledger_breaks(ledger: LedgerService, actor: Actor) -> dict[str, Any]:
    """The ledger's segregation breaks (misdirected deposits) and how much of each is cured."""
    require(actor, Action.read_positions)
    return requests.ledger_breaks(ledger)
