"""The client portal's routes: each page one call of service/access_clients.py (or, for
statements, of service/access_recon.py, which the REST API calls too) with the signed-in actor
and the client its URL names. The service decides what the actor may see: a
client naming another client is answered as if that client did not exist (404), so no route
here filters anything itself.

- ``/portal/clients/{client}``: balances per pool, each pool's standing in plain words
  (``balances.json``, ``balances.csv``);
- ``/portal/clients/{client}/statement?from=DATE&to=DATE``: the statement of position
  (``statement.json``, ``statement.csv``), the last 30 days unless asked;
- ``/portal/clients/{client}/withdrawals``: the client's withdrawals, newest first, each
  with its status in plain words and, once sent, its chain transaction (``withdrawals.json``);
- ``/portal/clients/{client}/proof``: the latest proof-of-reserves round, the firm's pinned
  key and the client's inclusion proofs, checked in the browser by the same verifier as the
  offline page (web/verify.html); ``proof.json`` and ``round.json`` to keep.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from ringfence.core.errors import InputError, Result
from ringfence.entrypoints.pages.portal import views
from ringfence.entrypoints.pages.serving import (
    Pages,
    exported,
    exported_csv,
    home_of,
    redirect,
    security_headers,
)
from ringfence.service import access_clients, access_recon
from ringfence.service.sessions import Session

Page = Callable[[Request], Awaitable[Response]]
Shown = Callable[[Request, Session], Awaitable[Response]]
balance_columns = ("pool", "kind", "terms", "asset", "account", "account_kind", "balance",
                   "pending_in", "pending_out")  # fmt: skip
statement_days_default = 30


def add_portal_routes(app: FastAPI, pages: Pages) -> None:
    def route(path: str, shown: Shown) -> None:
        async def endpoint(request: Request) -> Response:
            return await pages.page(request, path, shown)

        app.add_route(path, endpoint, methods=["GET"], include_in_schema=False)

    async def start(request: Request, session: Session) -> Response:
        return redirect(home_of(session))

    base = "/portal/clients/{client}"
    route("/portal", start)
    route(base, _balances(pages, "html"))
    route(f"{base}/balances.json", _balances(pages, "json"))
    route(f"{base}/balances.csv", _balances(pages, "csv"))
    route(f"{base}/statement", _statement(pages, "html"))
    route(f"{base}/statement.json", _statement(pages, "json"))
    route(f"{base}/statement.csv", _statement(pages, "csv"))
    route(f"{base}/withdrawals", _withdrawals(pages, "html"))
    route(f"{base}/withdrawals.json", _withdrawals(pages, "json"))
    route(f"{base}/proof", _proof(pages, "html"))
    route(f"{base}/proof.json", _proof(pages, "proof"))
    route(f"{base}/round.json", _proof(pages, "round"))


def _balances(pages: Pages, kind: str) -> Shown:
    async def shown(request: Request, session: Session) -> Response:
        client = request.path_params["client"]
        document = await pages.call(
            lambda ledger: access_clients.client_balances(ledger, session.actor, client)
        )
        if kind == "json":
            return exported(document, f"{client}-balances.json")
        if kind == "csv":
            rows = views.balance_rows(document)
            return exported_csv(balance_columns, rows, f"{client}-balances.csv")
        return pages.render("portal/balances.html", session, view=views.balances_view(document),
                            current=request.url.path)  # fmt: skip

    return shown


def _statement(pages: Pages, kind: str) -> Shown:
    uploads = pages.api.bundle.uploaded

    async def shown(request: Request, session: Session) -> Response:
        client = request.path_params["client"]
        to_day = datetime.fromtimestamp(session.seen_ns // 10**9, UTC).date()
        from_text = request.query_params.get("from") or str(
            to_day - timedelta(days=statement_days_default)
        )
        to_text = request.query_params.get("to") or str(to_day)
        if kind == "csv":
            text = await pages.call(
                lambda ledger: access_recon.client_statement_csv(
                    ledger, session.actor, client, from_time=from_text, to_time=to_text,
                    prices=None, uploads=uploads,
                )
            )
            disposition = f'attachment; filename="{client}-statement.csv"'
            headers = {**security_headers, "Content-Disposition": disposition}
            return Response(text, media_type="text/csv; charset=utf-8", headers=headers)
        document = await pages.call(
            lambda ledger: access_recon.client_statement(
                ledger, session.actor, client, from_time=from_text, to_time=to_text,
                prices=None, uploads=uploads,
            )
        )
        if kind == "json":
            return exported(document, f"{client}-statement.json")
        view = views.statement_view(document, from_text, to_text)
        return pages.render("portal/statement.html", session, view=view, client=client,
                            current=request.url.path)  # fmt: skip

    return shown


def _withdrawals(pages: Pages, kind: str) -> Shown:
    async def shown(request: Request, session: Session) -> Response:
        client = request.path_params["client"]
        document = await pages.call(
            lambda ledger: access_clients.client_withdrawals(ledger, session.actor, client)
        )
        if kind == "json":
            return exported(document, f"{client}-withdrawals.json")
        view = views.withdrawals_view(document)
        return pages.render("portal/withdrawals.html", session, view=view,
                            current=request.url.path)  # fmt: skip

    return shown


def _proof(pages: Pages, kind: str) -> Shown:
    rounds = pages.api.bundle.rounds

    async def shown(request: Request, session: Session) -> Response:
        client = request.path_params["client"]
        document = await pages.call(
            lambda ledger: access_clients.client_inclusion(ledger, rounds, session.actor, client)
        )
        if kind == "proof":
            return exported(_present(document["proofs"]), f"{client}-proof.json")
        if kind == "round":
            return exported(_present(document["round"] and document["record"]), "round.json")
        return pages.render("portal/proof.html", session, view=views.proof_view(document),
                            client=client, current=request.url.path)  # fmt: skip

    return shown


def _present(document: Any) -> Any:
    if document is None:
        raise InputError(Result.round_not_found, "no proof-of-reserves round holds you yet")
    return document
