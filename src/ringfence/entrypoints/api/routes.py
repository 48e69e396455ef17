"""The routes, under ``/v1``: each one call to a service function (see docs/api.md).

Lists take ``cursor`` and ``limit`` and answer ``{"items": [...], "next_cursor": ...}``; a
create takes ``{"<plural>": [...]}`` and answers a result per item, ``200`` even when some
item was refused by the ledger (``ok`` says whether all were accepted), since each item's
result is the answer. Only a request that cannot be read at all is a problem.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from ringfence.core.errors import RingfenceError
from ringfence.entrypoints.api.calls import Api, approval_body, batch_body
from ringfence.entrypoints.api.problems import problem_of
from ringfence.service import (
    access,
    access_definitions,
    access_transfers,
    policy,
    withdrawal_payments,
    withdrawals,
)
from ringfence.service.access import Actor
from ringfence.service.approvals import signature_in_body
from ringfence.service.ledger import LedgerService

Ledger = LedgerService


problem_schema: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string", "description": "The result code, a sentence."},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
}
problem_responses: dict[int | str, dict[str, Any]] = {
    "4XX": {
        "description": "An RFC 9457 problem whose code is the result code.",
        "content": {"application/problem+json": {"schema": problem_schema}},
    }
}


def add_routes(app: FastAPI, api: Api) -> None:
    _add_definitions(app, api)
    _add_accounts(app, api)
    _add_transfers(app, api)
    _add_withdrawals(app, api)
    _add_policies(app, api)
    _add_operations(app, api)


def _add_definitions(app: FastAPI, api: Api) -> None:
    for what, read in (
        ("assets", access_definitions.assets),
        ("clients", access_definitions.clients),
        ("pools", access_definitions.pools),
    ):
        _add_definition(app, api, what, read)


def _add_definition(app: FastAPI, api: Api, what: str, read: Any) -> None:
    path = f"/v1/{what}"

    async def listed(request: Request) -> Response:
        return await api.answer(
            request, path, lambda ledger, actor, _: {"items": read(ledger, actor)}
        )

    async def created(request: Request) -> Response:
        def call(ledger: Ledger, actor: Actor, document: object) -> Any:
            return access_definitions.define(ledger, actor, what, document)

        return await api.answer(request, path, call, write=True)

    app.add_api_route(path, listed, methods=["GET"], name=f"list_{what}")
    app.add_api_route(
        path,
        created,
        methods=["POST"],
        name=f"create_{what}",
        openapi_extra=batch_body(what, access.definitions_per_request_max),
    )


def _add_accounts(app: FastAPI, api: Api) -> None:
    @app.get("/v1/accounts")
    async def list_accounts(
        request: Request,
        *,
        client: str = "",
        pool: str = "",
        asset: str = "",
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Response:
        def call(ledger: Ledger, actor: Actor, _: object) -> Any:
            return access.accounts(
                ledger, actor, client=client, pool=pool, asset=asset, cursor=cursor, limit=limit
            )

        return await api.answer(request, "/v1/accounts", call)

    @app.post(
        "/v1/accounts",
        openapi_extra=batch_body("accounts", access.definitions_per_request_max),
    )
    async def create_accounts(request: Request) -> Response:
        def call(ledger: Ledger, actor: Actor, document: object) -> Any:
            return access_definitions.define(ledger, actor, "accounts", document)

        return await api.answer(request, "/v1/accounts", call, write=True)

    @app.get("/v1/accounts/{account_id}")
    async def get_account(request: Request, account_id: str) -> Response:
        def call(ledger: Ledger, actor: Actor, _: object) -> Any:
            return access.account(ledger, actor, access.parse_id(account_id, "account id"))

        return await api.answer(request, "/v1/accounts/{account_id}", call)

    @app.get("/v1/balances")
    async def list_balances(
        request: Request,
        *,
        client: str = "",
        pool: str = "",
        asset: str = "",
        cursor: str | None = None,
        limit: int | None = None,
        as_of: str | None = None,
        as_of_seq: str | None = None,
    ) -> Response:
        def call(ledger: Ledger, actor: Actor, _: object) -> Any:
            return access.balances(
                ledger, actor, client=client, pool=pool, asset=asset, cursor=cursor,
                limit=limit, as_of=as_of, as_of_seq=as_of_seq,
            )  # fmt: skip

        return await api.answer(request, "/v1/balances", call)

    @app.get("/v1/balances/{account_id}")
    async def get_balance(
        request: Request, account_id: str, as_of: str | None = None, as_of_seq: str | None = None
    ) -> Response:
        def call(ledger: Ledger, actor: Actor, _: object) -> Any:
            number = access.parse_id(account_id, "account id")
            return access.balance(ledger, actor, number, as_of=as_of, as_of_seq=as_of_seq)

        return await api.answer(request, "/v1/balances/{account_id}", call)


def _add_transfers(app: FastAPI, api: Api) -> None:
    @app.post(
        "/v1/transfers",
        openapi_extra=batch_body("transfers", access.transfers_per_request_max),
    )
    async def create_transfers(request: Request) -> Response:
        return await api.answer(request, "/v1/transfers", access_transfers.submit, write=True)

    @app.get(
        "/v1/transfers",
        openapi_extra={"parameters": [access_transfers.metadata_filter_parameter]},
    )
    async def list_transfers(
        request: Request,
        *,
        account: str = "",
        client: str = "",
        code: str = "",
        from_ns: int = 0,
        to_ns: int = 0,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Response:
        def call(ledger: Ledger, actor: Actor, _: object) -> Any:
            account_id = access.parse_id(account, "account") if account else 0
            return access_transfers.transfers(
                ledger,
                actor,
                account=account_id,
                client=client,
                code=code,
                from_ns=from_ns,
                to_ns=to_ns,
                cursor=cursor,
                limit=limit,
                metadata=request.query_params.getlist("metadata"),
            )

        return await api.answer(request, "/v1/transfers", call)

    @app.get("/v1/transfers/{transfer_id}")
    async def get_transfer(request: Request, transfer_id: str) -> Response:
        def call(ledger: Ledger, actor: Actor, _: object) -> Any:
            return access_transfers.transfer(ledger, actor, access.parse_id(transfer_id, "id"))

        return await api.answer(request, "/v1/transfers/{transfer_id}", call)


def _add_withdrawals(app: FastAPI, api: Api) -> None:
    @app.post("/v1/withdrawals")
    async def request_withdrawal(request: Request) -> Response:
        def call(ledger: Ledger, actor: Actor, document: object) -> Any:
            return {"ok": True, **withdrawals.request(ledger, actor, document)}

        return await api.answer(request, "/v1/withdrawals", call, write=True)

    @app.get("/v1/withdrawals")
    async def list_withdrawals(
        request: Request,
        *,
        status: str = "",
        client: str = "",
        cursor: str | None = None,
        limit: int | None = None,
    ) -> Response:
        def call(ledger: Ledger, actor: Actor, _: object) -> Any:
            return withdrawals.listed(
                ledger, actor, status=status, client=client, cursor=cursor, limit=limit
            )

        return await api.answer(request, "/v1/withdrawals", call)

    @app.get("/v1/withdrawals/{withdrawal_id}")
    async def get_withdrawal(request: Request, withdrawal_id: str) -> Response:
        def call(ledger: Ledger, actor: Actor, _: object) -> Any:
            return withdrawals.show(ledger, actor, withdrawals.parse_id(withdrawal_id))

        return await api.answer(request, "/v1/withdrawals/{withdrawal_id}", call)

    @app.get("/v1/withdrawals/{withdrawal_id}/approval-instruction")
    async def withdrawal_instruction(
        request: Request, withdrawal_id: str, approver: str = "", decision: str = "approve"
    ) -> Response:
        def call(ledger: Ledger, actor: Actor, _: object) -> Any:
            withdrawal = withdrawals.parse_id(withdrawal_id)
            approve = withdrawals.parse_decision(decision)
            return withdrawals.instruction(ledger, actor, withdrawal, approver, approve=approve)

        route = "/v1/withdrawals/{withdrawal_id}/approval-instruction"
        return await api.answer(request, route, call)

    for verdict, decide in (("approve", withdrawals.approve), ("reject", withdrawals.reject)):
        _add_verdict(app, api, verdict, decide)

    @app.post("/v1/withdrawals/process")
    async def process_withdrawals(request: Request) -> Response:
        def call(ledger: Ledger, actor: Actor, document: object) -> Any:
            return withdrawal_payments.process_requested(
                ledger, actor, api.bundle.chain_of, document
            )

        return await api.answer(request, "/v1/withdrawals/process", call, write=True)


def _add_verdict(app: FastAPI, api: Api, verdict: str, decide: Any) -> None:
    path = f"/v1/withdrawals/{{withdrawal_id}}/{verdict}"

    async def given(request: Request, withdrawal_id: str) -> Response:
        def call(ledger: Ledger, actor: Actor, body: object) -> Any:
            withdrawal = withdrawals.parse_id(withdrawal_id)
            return {"ok": True, **decide(ledger, actor, withdrawal, signature_in_body(body))}

        return await api.answer(request, path, call, write=True)

    app.add_api_route(
        path, given, methods=["POST"], name=f"{verdict}_withdrawal", openapi_extra=approval_body
    )


def _add_policies(app: FastAPI, api: Api) -> None:
    @app.get("/v1/policies")
    async def list_policies(request: Request) -> Response:
        def call(ledger: Ledger, actor: Actor, _: object) -> Any:
            return {"items": policy.versions(ledger, actor)}

        return await api.answer(request, "/v1/policies", call)

    @app.post("/v1/policies")
    async def draft_policy(request: Request) -> Response:
        def call(ledger: Ledger, actor: Actor, document: object) -> Any:
            return {"ok": True, **policy.draft_body(ledger, actor, document)}

        return await api.answer(request, "/v1/policies", call, write=True)

    @app.post("/v1/policies/simulate")
    async def simulate_policy(request: Request) -> Response:
        return await api.answer(request, "/v1/policies/simulate", policy.simulate_body, write=True)

    @app.get("/v1/policies/{version}")
    async def get_policy(request: Request, version: str) -> Response:
        def call(ledger: Ledger, actor: Actor, _: object) -> Any:
            return policy.show(ledger, actor, policy.parse_version(version))

        return await api.answer(request, "/v1/policies/{version}", call)

    @app.get("/v1/policies/{version}/approval-instruction")
    async def policy_instruction(request: Request, version: str, approver: str = "") -> Response:
        def call(ledger: Ledger, actor: Actor, _: object) -> Any:
            return policy.instruction(ledger, actor, policy.parse_version(version), approver)

        return await api.answer(request, "/v1/policies/{version}/approval-instruction", call)

    for step, act in (("approve", policy.approve), ("publish", policy.publish)):
        _add_policy_step(app, api, step, act)


def _add_policy_step(app: FastAPI, api: Api, step: str, act: Any) -> None:
    path = f"/v1/policies/{{version}}/{step}"

    async def taken(request: Request, version: str) -> Response:
        def call(ledger: Ledger, actor: Actor, body: object) -> Any:
            number = policy.parse_version(version)
            if step == "approve":
                return {"ok": True, **act(ledger, actor, number, signature_in_body(body))}
            return {"ok": True, **act(ledger, actor, number)}

        return await api.answer(request, path, call, write=True)

    extra = approval_body if step == "approve" else None
    app.add_api_route(path, taken, methods=["POST"], name=f"{step}_policy", openapi_extra=extra)


def _add_operations(app: FastAPI, api: Api) -> None:
    @app.get("/v1/positions")
    async def positions(
        request: Request, as_of: str | None = None, as_of_seq: str | None = None
    ) -> Response:
        def call(ledger: Ledger, actor: Actor, _: object) -> Any:
            return {"items": access.positions(ledger, actor, as_of=as_of, as_of_seq=as_of_seq)}

        return await api.answer(request, "/v1/positions", call)

    @app.post("/v1/audit/verify")
    async def audit_verify(request: Request) -> Response:
        def call(ledger: Ledger, actor: Actor, _: object) -> Any:
            return access.audit(ledger, actor)

        return await api.answer(request, "/v1/audit/verify", call)

    @app.get("/v1/health")
    async def health() -> dict[str, bool]:
        """Unauthenticated: says only that the server answers."""
        return {"ok": True}

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        try:
            access.check_metrics_reader(await api.actor(request))
        except RingfenceError as error:
            return problem_of(error, request.url.path)
        return Response(
            api.metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )
