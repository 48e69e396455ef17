"""Proof of reserves, risk and liquidation read-outs, the venue's fills and regulatory reports
under ``/v1`` (docs/api.md): each route one call to service/access_reports.py (fills:
service/access_venue.py)."""

from __future__ import annotations

from typing import Any, Final

from fastapi import FastAPI, Request
from starlette.responses import Response

from ringfence.entrypoints.api.calls import Api, batch_body, documents_body, request_body
from ringfence.service import access_reports, access_venue
from ringfence.service.access import Actor
from ringfence.service.ledger import LedgerService as Ledger

# The failure scenario as ``insolvency simulate`` reads it (docs/insolvency.md): checked field by
# field by the service, which names what is wrong.
in_kind_body: Final = {
    "type": "object",
    "additionalProperties": False,
    "required": ["scenario"],
    "properties": {"scenario": {"type": "object"}},
}


def add_report_routes(app: FastAPI, api: Api) -> None:
    bundle = api.bundle

    @app.get("/v1/por/rounds")
    async def rounds(request: Request) -> Response:
        def call(ledger: Ledger, actor: Actor, _: object) -> Any:
            return access_reports.rounds(ledger, bundle.round_store(), actor)

        return await api.answer(request, "/v1/por/rounds", call)

    @app.get("/v1/por/rounds/{number}")
    async def round_of(request: Request, number: str) -> Response:
        def call(ledger: Ledger, actor: Actor, _: object) -> Any:
            return access_reports.round_of(bundle.round_store(), actor, number)

        return await api.answer(request, "/v1/por/rounds/{number}", call)

    @app.get("/v1/por/rounds/{number}/proofs/{client}")
    async def proofs(request: Request, number: str, client: str) -> Response:
        def call(ledger: Ledger, actor: Actor, _: object) -> Any:
            rounds_kept = bundle.round_store()
            return access_reports.client_proofs(ledger, rounds_kept, actor, client, number)

        return await api.answer(request, "/v1/por/rounds/{number}/proofs/{client}", call)

    @app.get("/v1/risk/scan")
    async def risk_scan(request: Request) -> Response:
        def call(ledger: Ledger, actor: Actor, _: object) -> Any:
            return access_reports.risk_scan(ledger, actor)

        return await api.answer(request, "/v1/risk/scan", call)

    fills_body = batch_body("fills", access_venue.fills_per_request_max)

    @app.post("/v1/risk/fills", openapi_extra=fills_body)
    async def apply_fills(request: Request) -> Response:
        return await api.answer(request, "/v1/risk/fills", access_venue.apply_fills, write=True)

    @app.get("/v1/liquidation/funds")
    async def insurance_funds(request: Request) -> Response:
        def call(ledger: Ledger, actor: Actor, _: object) -> Any:
            return access_reports.insurance_funds(ledger, actor)

        return await api.answer(request, "/v1/liquidation/funds", call)

    # Before ``/v1/regulatory/{report}``, which would otherwise take this path as a report name.
    @app.post("/v1/regulatory/in-kind", openapi_extra=request_body(in_kind_body))
    async def in_kind_returns(request: Request) -> Response:
        def call(ledger: Ledger, actor: Actor, document: object) -> Any:
            return access_reports.in_kind_returns(ledger, actor, document)

        return await api.answer(request, "/v1/regulatory/in-kind", call, write=True)

    names = sorted({n for _, req, opt in access_reports.reports.values() for n in (*req, *opt)})

    @app.post("/v1/regulatory/{report}", openapi_extra=documents_body("as_of", *names))
    async def regulatory_report(request: Request, report: str) -> Response:
        def call(ledger: Ledger, actor: Actor, document: object) -> Any:
            return access_reports.regulatory_report(
                ledger, actor, report, document, bundle.uploaded
            )

        return await api.answer(request, "/v1/regulatory/{report}", call, write=True)
