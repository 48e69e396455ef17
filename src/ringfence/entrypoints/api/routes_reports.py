"""Proof of reserves (rounds read and built), risk and liquidation read-outs, the venue's
fills, the insolvency simulation and regulatory reports under ``/v1`` (docs/api.md): each route
one call to service/access_reports.py (fills: service/access_venue.py)."""

from __future__ import annotations

from typing import Any, Final

from fastapi import FastAPI, Request
from starlette.responses import Response

from ringfence import bootstrap
from ringfence.entrypoints.api.calls import Api, batch_body, documents_body, request_body
from ringfence.service import access_reports, access_venue
from ringfence.service.access import Actor
from ringfence.service.ledger import LedgerService as Ledger

# The failure scenario as ``insolvency simulate`` reads it (docs/insolvency.md), for the
# simulation and the in-kind schedule alike: checked field by field by the service, which
# names what is wrong.
in_kind_body: Final = {
    "type": "object",
    "additionalProperties": False,
    "required": ["scenario"],
    "properties": {"scenario": {"type": "object"}},
}
# A proof-of-reserves round to build, as ``por build`` takes it: the files as their text.
build_body: Final = {
    "type": "object",
    "additionalProperties": False,
    "required": ["round"],
    "properties": {
        "round": {"type": "string", "description": "The next round's number."},
        "snapshot": {"type": "string", "description": "A journal sequence; default the head."},
        "holdings": {"type": "string"},
        "control": {"type": "string"},
        "private": {"type": "boolean"},
    },
}

# A resolution pack to write, as ``resolution-pack`` takes it: the scenario as JSON, the
# regulatory files as their text. The answer is the zip itself.
pack_body: Final = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "scenario": {"type": "object"},
        "register": {"type": "string"},
        "policies": {"type": "string"},
        "prices": {"type": "string"},
    },
}
zip_media_type: Final = "application/zip"


class ZipResponse(Response):
    """What the OpenAPI document says the pack's answer is (the route streams a file)."""

    media_type = zip_media_type


pack_responses: Final = {
    "200": {
        "description": "The pack: a zip whose index.json lists every file with its SHA-256.",
        "content": {zip_media_type: {"schema": {"type": "string", "format": "binary"}}},
    }
}


def add_report_routes(app: FastAPI, api: Api) -> None:
    bundle = api.bundle

    @app.get("/v1/por/rounds")
    async def rounds(request: Request) -> Response:
        def call(ledger: Ledger, actor: Actor, _: object) -> Any:
            return access_reports.rounds(ledger, bundle.round_store(), actor)

        return await api.answer(request, "/v1/por/rounds", call)

    @app.post("/v1/por/rounds", openapi_extra=request_body(build_body))
    async def build_round(request: Request) -> Response:
        def call(ledger: Ledger, actor: Actor, document: object) -> Any:
            with bootstrap.executor() as runs_on:
                return access_reports.build_round(
                    ledger, bundle.round_store(), actor, document, runs_on
                )

        return await api.answer(request, "/v1/por/rounds", call, write=True)

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

    _add_venue(app, api)

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

    _add_resolution(app, api)


def _add_venue(app: FastAPI, api: Api) -> None:
    """The venue: its buckets' scan, its fills, its insurance funds."""

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


def _add_resolution(app: FastAPI, api: Api) -> None:
    """What a failure would return: the simulation, and the resolution pack as a zip."""
    bundle = api.bundle

    @app.post("/v1/insolvency/simulations", openapi_extra=request_body(in_kind_body))
    async def insolvency_simulation(request: Request) -> Response:
        def call(ledger: Ledger, actor: Actor, document: object) -> Any:
            return access_reports.insolvency_simulation(ledger, actor, document)

        return await api.answer(request, "/v1/insolvency/simulations", call, write=True)

    @app.post(
        "/v1/resolution-packs",
        response_class=ZipResponse,
        openapi_extra={**request_body(pack_body), "responses": pack_responses},
    )
    async def resolution_pack(request: Request) -> Response:
        def call(ledger: Ledger, actor: Actor, document: object, out: str) -> Any:
            places = (bootstrap.resolution_pack_files(), bundle.uploaded)
            return access_reports.resolution_pack(ledger, actor, document, places, out)

        return await api.answer_file(request, "/v1/resolution-packs", call, zip_media_type)
