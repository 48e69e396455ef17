"""Custody wallets and clients' deposit addresses under ``/v1`` (docs/api.md): each route one
call to service/access_custody.py."""

from __future__ import annotations

from typing import Any, Final

from fastapi import FastAPI, Request
from starlette.responses import Response

from ringfence.entrypoints.api.calls import Api, request_body
from ringfence.service import access_custody
from ringfence.service.access import Actor
from ringfence.service.ledger import LedgerService as Ledger

# A wallet as ``wallets create`` takes it; the service checks each field again by name.
wallet_body: Final = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "chain", "scheme", "keys"],
    "properties": {
        "name": {"type": "string"},
        "chain": {"type": "string"},
        "scheme": {"type": "string"},
        "keys": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "maxLength": access_custody.key_length_max},
        },
        "pool": {"type": "string"},
        "tier": {"type": "string"},
        "network": {"type": "string"},
    },
}

# Addresses to derive and assign, as ``wallets assign`` takes them.
assign_body: Final = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "count": {"type": "integer", "minimum": 1, "maximum": access_custody.assigned_max},
        "start": {"type": "integer", "minimum": 0},
        "client": {"type": "string"},
        "change": {"type": "boolean"},
    },
}
# A wallet's new pool ("": the house) or tier, as ``wallets designate`` takes them.
designation_body: Final = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"pool": {"type": "string"}, "tier": {"type": "string"}},
}
# A client's own outside address, as ``wallets client-address`` takes it.
address_body: Final = {
    "type": "object",
    "additionalProperties": False,
    "required": ["address"],
    "properties": {"address": {"type": "string"}},
}


def add_custody_routes(app: FastAPI, api: Api) -> None:
    @app.get("/v1/wallets")
    async def list_wallets(
        request: Request,
        *,
        pool: str = "",
        house: bool = False,
        chain: str = "",
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Response:
        def call(ledger: Ledger, actor: Actor, _: object) -> Any:
            return access_custody.wallets(
                ledger, actor, pool=pool, house=house, chain=chain, cursor=cursor, limit=limit
            )

        return await api.answer(request, "/v1/wallets", call)

    @app.post("/v1/wallets", openapi_extra=request_body(wallet_body))
    async def create_wallet(request: Request) -> Response:
        return await api.answer(request, "/v1/wallets", access_custody.create_wallet, write=True)

    @app.get("/v1/wallets/{name}")
    async def get_wallet(
        request: Request, name: str, *, cursor: str | None = None, limit: int | None = None
    ) -> Response:
        def call(ledger: Ledger, actor: Actor, _: object) -> Any:
            return access_custody.wallet(ledger, actor, name, cursor=cursor, limit=limit)

        return await api.answer(request, "/v1/wallets/{name}", call)

    @app.post("/v1/wallets/{name}/addresses", openapi_extra=request_body(assign_body))
    async def assign_addresses(request: Request, name: str) -> Response:
        def call(ledger: Ledger, actor: Actor, document: object) -> Any:
            return access_custody.assign_addresses(ledger, actor, name, document)

        return await api.answer(request, "/v1/wallets/{name}/addresses", call, write=True)

    @app.post("/v1/wallets/{name}/designation", openapi_extra=request_body(designation_body))
    async def designate_wallet(request: Request, name: str) -> Response:
        def call(ledger: Ledger, actor: Actor, document: object) -> Any:
            return access_custody.designate_wallet(ledger, actor, name, document)

        return await api.answer(request, "/v1/wallets/{name}/designation", call, write=True)

    @app.post("/v1/clients/{client}/addresses", openapi_extra=request_body(address_body))
    async def record_client_address(request: Request, client: str) -> Response:
        def call(ledger: Ledger, actor: Actor, document: object) -> Any:
            return access_custody.record_client_address(ledger, actor, client, document)

        return await api.answer(request, "/v1/clients/{client}/addresses", call, write=True)

    @app.get("/v1/clients/{client}/deposit-addresses")
    async def deposit_addresses(
        request: Request, client: str, *, cursor: str | None = None, limit: int | None = None
    ) -> Response:
        def call(ledger: Ledger, actor: Actor, _: object) -> Any:
            return access_custody.deposit_addresses(
                ledger, actor, client, cursor=cursor, limit=limit
            )

        return await api.answer(request, "/v1/clients/{client}/deposit-addresses", call)
