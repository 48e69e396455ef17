"""Reconciliation under ``/v1`` (docs/api.md): runs, statements and breaks, each route one call
to service/access_recon.py. Documents (observations, settings) travel in the body as the text
of the files the command line reads."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from starlette.responses import Response

from ringfence.entrypoints.api.calls import Api, documents_body
from ringfence.service import access_recon
from ringfence.service.access import Actor
from ringfence.service.ledger import LedgerService as Ledger


def add_recon_routes(app: FastAPI, api: Api) -> None:
    uploads = api.bundle.uploaded

    @app.post(
        "/v1/reconciliations", openapi_extra=documents_body("as_of", "observations", "settings")
    )
    async def reconcile(request: Request) -> Response:
        def call(ledger: Ledger, actor: Actor, document: object) -> Any:
            return access_recon.reconcile(ledger, actor, document, uploads)

        return await api.answer(request, "/v1/reconciliations", call, write=True)

    @app.get("/v1/statements/segregation")
    async def segregation(
        request: Request, *, as_of: str | None = None, as_of_seq: str | None = None
    ) -> Response:
        def call(ledger: Ledger, actor: Actor, _: object) -> Any:
            chosen = {"as_of": as_of, "as_of_seq": as_of_seq}
            document = {key: value for key, value in chosen.items() if value is not None}
            return access_recon.segregation_statement(ledger, actor, document, uploads)

        return await api.answer(request, "/v1/statements/segregation", call)

    @app.post(
        "/v1/statements/segregation",
        openapi_extra=documents_body("as_of", "as_of_seq", "observations", "settings"),
    )
    async def segregation_from(request: Request) -> Response:
        def call(ledger: Ledger, actor: Actor, document: object) -> Any:
            return access_recon.segregation_statement(ledger, actor, document, uploads)

        return await api.answer(request, "/v1/statements/segregation", call, write=True)

    @app.get("/v1/statements/clients/{client}")
    async def client_statement(
        request: Request,
        client: str,
        *,
        from_time: Annotated[str, Query(alias="from")],
        to_time: Annotated[str, Query(alias="to")],
    ) -> Response:
        def call(ledger: Ledger, actor: Actor, _: object) -> Any:
            return access_recon.client_statement(
                ledger, actor, client, from_time=from_time, to_time=to_time, prices=None,
                uploads=uploads,
            )  # fmt: skip

        return await api.answer(request, "/v1/statements/clients/{client}", call)

    @app.get("/v1/statements/register")
    async def register(request: Request) -> Response:
        def call(ledger: Ledger, actor: Actor, _: object) -> Any:
            return access_recon.register(ledger, actor)

        return await api.answer(request, "/v1/statements/register", call)

    _add_breaks(app, api)


def _add_breaks(app: FastAPI, api: Api) -> None:
    @app.get("/v1/breaks")
    async def breaks(request: Request, *, include_cured: bool = False) -> Response:
        def call(ledger: Ledger, actor: Actor, _: object) -> Any:
            return access_recon.breaks(ledger, actor, include_cured)

        return await api.answer(request, "/v1/breaks", call)

    @app.get("/v1/breaks/{break_id}")
    async def break_of(request: Request, break_id: str) -> Response:
        def call(ledger: Ledger, actor: Actor, _: object) -> Any:
            return access_recon.break_of(ledger, actor, break_id)

        return await api.answer(request, "/v1/breaks/{break_id}", call)

    @app.post(
        "/v1/breaks/{break_id}/explain",
        openapi_extra=documents_body("cause", "action", required=("cause", "action")),
    )
    async def explain(request: Request, break_id: str) -> Response:
        def call(ledger: Ledger, actor: Actor, document: object) -> Any:
            return access_recon.explain(ledger, actor, break_id, document)

        return await api.answer(request, "/v1/breaks/{break_id}/explain", call, write=True)

    @app.post(
        "/v1/breaks/{break_id}/cure", openapi_extra=documents_body("correction", "make_good")
    )
    async def cure(request: Request, break_id: str) -> Response:
        def call(ledger: Ledger, actor: Actor, document: object) -> Any:
            return access_recon.cure(ledger, actor, break_id, document)

        return await api.answer(request, "/v1/breaks/{break_id}/cure", call, write=True)

    @app.get("/v1/ledger-breaks")
    async def ledger_breaks(request: Request) -> Response:
        def call(ledger: Ledger, actor: Actor, _: object) -> Any:
            return access_recon.ledger_breaks(ledger, actor)

        return await api.answer(request, "/v1/ledger-breaks", call)
