"""The operator console's routes (staff roles): each page one or a few calls of the service
functions the REST API calls for the same thing (service/access_recon.py for breaks,
service/access_reports.py for rounds), or of service/access_operations.py for what only the
console shows, with the signed-in actor, rendered; each form one call, then a redirect to the
page that shows its effect (with the result code it got).

- ``/console``: pools and coverage per asset over time, short pools first (the first view);
  ``/console/segregation.json`` and ``.csv``: the same lines, amounts exact;
- ``/console/breaks`` (``?pool=``, ``?all=1``) and ``/console/breaks/{id}``, whose forms
  explain and cure a break; ``/console/breaks.json`` and ``.csv``;
- ``/console/rounds``: proof-of-reserves rounds and their coverage (``.json``);
- ``/console/audit``: the journal's head; auditors and admins run the full check;
- ``/console/venue``: insurance funds per market and the liquidation rounds;
- ``/console/withdrawals``: the approval queue, each request with its policy trace and its
  approve and reject forms, and the latest others (``withdrawals.json``, ``.csv``). The
  server decides every approval (four-eyes, role, the rule's groups); a refusal comes back
  to the queue with its code, in words.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from starlette.responses import Response

from ringfence.core.errors import InputError, Result
from ringfence.entrypoints.pages.console import views
from ringfence.entrypoints.pages.serving import Pages, exported, exported_csv, redirect
from ringfence.service import access_operations, access_recon, access_reports, withdrawals
from ringfence.service.approvals import parse_signature
from ringfence.service.sessions import Session

Page = Callable[[Request], Awaitable[Response]]
segregation_columns = ("pool", "asset", "segregated", "alert", "requirement", "funds",
                       "encumbered", "excess", "target")  # fmt: skip
break_columns = ("id", "pool", "wallet", "asset", "state", "book", "observed", "difference",
                 "age_s", "cause", "action", "correction", "make_good_transfer")  # fmt: skip
known_results = frozenset(result.value for result in Result)


def add_console_routes(app: FastAPI, pages: Pages) -> None:
    _add_segregation(app, pages)
    _add_breaks(app, pages)
    _add_break_forms(app, pages)
    _add_rounds_and_audit(app, pages)
    _add_withdrawals(app, pages)


def _route(app: FastAPI, path: str, endpoint: Page, method: str = "GET") -> None:
    app.add_route(path, endpoint, methods=[method], include_in_schema=False)


# ---------------------------------------------------------------------- segregation


def _add_segregation(app: FastAPI, pages: Pages) -> None:
    async def overview(request: Request) -> Response:
        async def shown(request: Request, session: Session) -> Response:
            document = await pages.call(
                lambda ledger: access_operations.segregation_overview(ledger, session.actor)
            )
            view = views.overview_view(document)
            return pages.render("console/overview.html", session, view=view, current="/console")

        return await pages.page(request, "/console", shown)

    def export(kind: str) -> Page:
        async def endpoint(request: Request) -> Response:
            async def shown(request: Request, session: Session) -> Response:
                document = await pages.call(
                    lambda ledger: access_operations.segregation_overview(ledger, session.actor)
                )
                lines = document["runs"][-1]["coverage"] if document["runs"] else []
                if kind == "csv":
                    return exported_csv(segregation_columns, _rows(segregation_columns, lines),
                                        "segregation.csv")  # fmt: skip
                return exported(document, "segregation.json")

            return await pages.page(request, f"/console/segregation.{kind}", shown)

        return endpoint

    _route(app, "/console", overview)
    _route(app, "/console/segregation.json", export("json"))
    _route(app, "/console/segregation.csv", export("csv"))


# ---------------------------------------------------------------------- breaks


def _breaks_call(pages: Pages, session: Session, request: Request) -> Any:
    include_cured = request.query_params.get("all") == "1"
    return pages.call(lambda ledger: access_recon.breaks(ledger, session.actor, include_cured))


def _add_breaks(app: FastAPI, pages: Pages) -> None:
    async def queue(request: Request) -> Response:
        async def shown(request: Request, session: Session) -> Response:
            document = await _breaks_call(pages, session, request)
            pool = request.query_params.get("pool", "")
            view = views.breaks_view(document, pool)
            everything = request.query_params.get("all") == "1"
            return pages.render("console/breaks.html", session, view=view,
                                current="/console/breaks", everything=everything)  # fmt: skip

        return await pages.page(request, "/console/breaks", shown)

    def export(kind: str) -> Page:
        async def endpoint(request: Request) -> Response:
            async def shown(request: Request, session: Session) -> Response:
                document = await _breaks_call(pages, session, request)
                if kind == "csv":
                    rows = _rows(break_columns, document["breaks"])
                    return exported_csv(break_columns, rows, "breaks.csv")
                return exported(document, "breaks.json")

            return await pages.page(request, f"/console/breaks.{kind}", shown)

        return endpoint

    async def detail(request: Request) -> Response:
        async def shown(request: Request, session: Session) -> Response:
            break_id = request.path_params["break_id"]
            document = await pages.call(
                lambda ledger: access_recon.break_of(ledger, session.actor, break_id)
            )
            result = request.query_params.get("result", "")
            return pages.render(
                "console/break.html", session, entry=views.break_view(document["break"]),
                causes=access_recon.cause_names, current="/console/breaks",
                result=result if result in known_results else "",
            )  # fmt: skip

        return await pages.page(request, "/console/breaks/{break_id}", shown)

    _route(app, "/console/breaks", queue)
    _route(app, "/console/breaks.json", export("json"))
    _route(app, "/console/breaks.csv", export("csv"))
    _route(app, "/console/breaks/{break_id}", detail)


def _add_break_forms(app: FastAPI, pages: Pages) -> None:
    async def explain(request: Request) -> Response:
        async def done(request: Request, session: Session, fields: dict[str, str]) -> Response:
            given = {"cause": _required(fields, "cause"), "action": _required(fields, "action")}
            answer = await pages.call(
                lambda ledger: access_recon.explain(
                    ledger, session.actor, request.path_params["break_id"], given
                )
            )
            return _break_redirect(answer)

        return await pages.form(request, "/console/breaks/{break_id}/explain", done)

    async def cure(request: Request) -> Response:
        async def done(request: Request, session: Session, fields: dict[str, str]) -> Response:
            given = {
                name: value
                for name in ("correction", "make_good")
                if (value := fields.get(name, "").strip())
            }
            answer = await pages.call(
                lambda ledger: access_recon.cure(
                    ledger, session.actor, request.path_params["break_id"], given
                )
            )
            return _break_redirect(answer)

        return await pages.form(request, "/console/breaks/{break_id}/cure", done)

    _route(app, "/console/breaks/{break_id}/explain", explain, "POST")
    _route(app, "/console/breaks/{break_id}/cure", cure, "POST")


def _break_redirect(answer: dict[str, Any]) -> Response:
    """To the break's page, saying what the action's result was."""
    return redirect(f"/console/breaks/{answer['break']['id']}?result={quote(answer['result'])}")


def _rows(columns: tuple[str, ...], rows: list[dict[str, Any]]) -> list[list[str]]:
    return [[str(row.get(column, "")) for column in columns] for row in rows]


def _required(fields: dict[str, str], name: str) -> str:
    value = fields.get(name, "").strip()
    if not value:
        raise InputError(Result.field_required, name)
    return value


# ---------------------------------------------------------------------- rounds, audit, venue


def _add_rounds_and_audit(app: FastAPI, pages: Pages) -> None:
    rounds_store = pages.api.bundle.rounds

    async def rounds(request: Request) -> Response:
        async def shown(request: Request, session: Session) -> Response:
            document = await pages.call(
                lambda ledger: access_reports.rounds(ledger, rounds_store, session.actor)
            )
            if request.url.path.endswith(".json"):
                return exported(document, "rounds.json")
            view = views.rounds_view(document)
            bars = views.coverage_bars(view["rounds"])
            return pages.render("console/rounds.html", session, view=view,
                                current="/console/rounds", bars=_bars(bars))  # fmt: skip

        return await pages.page(request, "/console/rounds", shown)

    async def audit(request: Request) -> Response:
        async def shown(request: Request, session: Session) -> Response:
            status = await pages.call(
                lambda ledger: access_operations.journal_status(ledger, session.actor)
            )
            return pages.render("console/audit.html", session, status=status, report=None,
                                current="/console/audit")  # fmt: skip

        return await pages.page(request, "/console/audit", shown)

    async def audit_check(request: Request) -> Response:
        async def done(request: Request, session: Session, fields: dict[str, str]) -> Response:
            report = await pages.call(
                lambda ledger: access_operations.audit_check(ledger, session.actor)
            )
            status = await pages.call(
                lambda ledger: access_operations.journal_status(ledger, session.actor)
            )
            return pages.render("console/audit.html", session, status=status, report=report,
                                current="/console/audit")  # fmt: skip

        return await pages.form(request, "/console/audit", done)

    async def venue(request: Request) -> Response:
        async def shown(request: Request, session: Session) -> Response:
            document = await pages.call(
                lambda ledger: access_operations.venue_funds(ledger, session.actor)
            )
            return pages.render("console/venue.html", session, venue=document,
                                current="/console/venue")  # fmt: skip

        return await pages.page(request, "/console/venue", shown)

    _route(app, "/console/rounds", rounds)
    _route(app, "/console/rounds.json", rounds)
    _route(app, "/console/audit", audit)
    _route(app, "/console/audit", audit_check, "POST")
    _route(app, "/console/venue", venue)


def _bars(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    from ringfence.entrypoints.pages.figures import coverage_bars

    return coverage_bars(rows) if rows else None


# ---------------------------------------------------------------------- withdrawals

withdrawal_columns = ("id", "kind", "status", "client", "pool", "wallet", "tier", "asset",
                      "amount", "destination", "destination_wallet", "initiator",
                      "requested_at_ns", "rule", "approvals", "approvals_required", "txid",
                      "reason")  # fmt: skip
verdicts = {"approve": withdrawals.approve, "reject": withdrawals.reject}


def _outcome(request: Request) -> dict[str, str] | None:
    """The last approval or rejection made from the queue, as its redirect names it: only a
    withdrawal id and a known result code are ever shown back."""
    given, result = request.query_params.get("id", ""), request.query_params.get("result", "")
    verdict = request.query_params.get("verdict", "")
    if not given.isdigit() or result not in known_results or verdict not in verdicts:
        return None
    return {"id": given, "result": result, "verdict": verdict}


def _add_withdrawals(app: FastAPI, pages: Pages) -> None:
    def page(kind: str) -> Page:
        async def endpoint(request: Request) -> Response:
            async def shown(request: Request, session: Session) -> Response:
                document = await pages.call(lambda ledger: withdrawals.queue(ledger, session.actor))
                if kind == "json":
                    return exported(document, "withdrawals.json")
                if kind == "csv":
                    rows = views.withdrawal_rows(document, withdrawal_columns)
                    return exported_csv(withdrawal_columns, rows, "withdrawals.csv")
                view = views.withdrawals_view(document, _outcome(request))
                return pages.render("console/withdrawals.html", session, view=view,
                                    current="/console/withdrawals")  # fmt: skip

            suffix = "" if kind == "html" else f".{kind}"
            return await pages.page(request, f"/console/withdrawals{suffix}", shown)

        return endpoint

    def verdict(name: str) -> Page:
        decide = verdicts[name]

        async def endpoint(request: Request) -> Response:
            async def done(request: Request, session: Session, fields: dict[str, str]) -> Response:
                withdrawal_id = withdrawals.parse_id(request.path_params["withdrawal_id"])
                try:
                    signature = parse_signature(fields.get("signature"))
                    await pages.call(
                        lambda ledger: decide(ledger, session.actor, withdrawal_id, signature)
                    )
                except InputError as refusal:  # shown on the queue, in words, with its code
                    code = refusal.code.value
                else:
                    code = Result.ok.value
                return redirect(
                    f"/console/withdrawals?id={withdrawal_id}&verdict={name}&result={quote(code)}"
                )

            return await pages.form(request, f"/console/withdrawals/{{withdrawal_id}}/{name}", done)

        return endpoint

    _route(app, "/console/withdrawals", page("html"))
    _route(app, "/console/withdrawals.json", page("json"))
    _route(app, "/console/withdrawals.csv", page("csv"))
    for name in verdicts:
        _route(app, f"/console/withdrawals/{{withdrawal_id}}/{name}", verdict(name), "POST")
