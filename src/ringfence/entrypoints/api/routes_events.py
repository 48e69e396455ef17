"""The event stream and webhook subscriptions, under ``/v1`` (docs/events.md): each route one
call to service/events.py or service/webhooks.py."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from ringfence.entrypoints.api.calls import Api, request_body
from ringfence.service import events, webhooks
from ringfence.service.access import Actor
from ringfence.service.ledger import LedgerService as Ledger

_after: dict[str, Any] = {"type": "string", "description": "SEQ or SEQ.INDEX"}
_subscribe_body = request_body(
    {
        "type": "object",
        "required": ["url", "types"],
        "additionalProperties": False,
        "properties": {
            "url": {"type": "string", "maxLength": 2048},
            "types": {"type": "array", "minItems": 1, "items": {"type": "string"}},
            "after": _after,
        },
    }
)
_replay_body = request_body(
    {
        "type": "object",
        "required": ["after"],
        "additionalProperties": False,
        "properties": {"after": _after},
    }
)


def add_event_routes(app: FastAPI, api: Api) -> None:
    @app.get("/v1/events")
    async def list_events(
        request: Request, *, after: str = "", types: str = "", limit: int | None = None
    ) -> Response:
        def call(ledger: Ledger, actor: Actor, _: object) -> Any:
            return events.events(ledger, actor, after=after, types=types, limit=limit)

        return await api.answer(request, "/v1/events", call)

    _add_webhooks(app, api)


def _add_webhooks(app: FastAPI, api: Api) -> None:
    store = api.bundle.webhooks

    @app.get("/v1/webhooks")
    async def list_webhooks(request: Request) -> Response:
        def call(ledger: Ledger, actor: Actor, _: object) -> Any:
            return webhooks.subscriptions(store, actor)

        return await api.answer(request, "/v1/webhooks", call)

    @app.post("/v1/webhooks", openapi_extra=_subscribe_body)
    async def create_webhook(request: Request) -> Response:
        def call(ledger: Ledger, actor: Actor, document: object) -> Any:
            return webhooks.subscribe(ledger, store, api.bundle.clock, actor, document)

        return await api.answer(request, "/v1/webhooks", call, write=True)

    @app.get("/v1/webhooks/{subscription_id}")
    async def get_webhook(request: Request, subscription_id: str) -> Response:
        def call(ledger: Ledger, actor: Actor, _: object) -> Any:
            return webhooks.subscription(store, actor, subscription_id)

        return await api.answer(request, "/v1/webhooks/{subscription_id}", call)

    @app.delete("/v1/webhooks/{subscription_id}")
    async def delete_webhook(request: Request, subscription_id: str) -> Response:
        def call(ledger: Ledger, actor: Actor, _: object) -> Any:
            return webhooks.unsubscribe(store, actor, subscription_id)

        return await api.answer(request, "/v1/webhooks/{subscription_id}", call)

    @app.post("/v1/webhooks/{subscription_id}/replay", openapi_extra=_replay_body)
    async def replay_webhook(request: Request, subscription_id: str) -> Response:
        def call(ledger: Ledger, actor: Actor, document: object) -> Any:
            return webhooks.replay(ledger, store, actor, subscription_id, document)

        return await api.answer(request, "/v1/webhooks/{subscription_id}/replay", call, write=True)
