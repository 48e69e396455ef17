"""The app: ``create_app(bundle)`` serves an opened service bundle over HTTP.

Each route is one call to a service function (service/access.py, service/access_transfers.py)
with the actor its API key speaks for; what happens around the call is the same for every
route and lives in ``Api.answer``:

1. the key (``Authorization: Bearer rf_...``) becomes an actor, or a 401 problem;
2. a write must be ``application/json`` (415) and at most ``limits.api_request_body_bytes_max``
   bytes (413, counted as it arrives, before anything is parsed);
3. with an ``Idempotency-Key``, a request seen before answers as it did then
   (``Idempotency-Replayed: true``), and the same key with another request is refused;
4. the call runs in a worker thread holding the one lock: the ledger service has one writer
   and is not thread-safe, and its reads see no half-applied batch;
5. a refusal is an RFC 9457 problem (problems.py); every result and problem is counted by
   code, and every request's latency by route template (metrics.py).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import Response

from ringfence import bootstrap
from ringfence.core.errors import InputError, Result, RingfenceError
from ringfence.entrypoints.api.metrics import ApiMetrics
from ringfence.entrypoints.api.problems import code_of, problem, problem_of
from ringfence.service import access
from ringfence.service.access import Actor, body_bytes_max
from ringfence.service.idempotency import IdempotentResponses, Remembered, fingerprint
from ringfence.service.ledger import LedgerService

json_media_type = "application/json"

# A service call: the ledger, the actor, and the decoded body (None for a read).
Call = Callable[[LedgerService, Actor, object], Any]


class Api:
    """What every route shares: the service bundle, its lock, remembered responses, metrics."""

    def __init__(self, bundle: bootstrap.ServiceBundle) -> None:
        self.bundle = bundle
        self.lock = threading.Lock()
        self.idempotency = IdempotentResponses()
        self.metrics = ApiMetrics(self._coverage)

    def _coverage(self) -> list[tuple[str, str, float]]:
        with self.lock:
            return access.coverage_ratios(self.bundle.current())

    async def actor(self, request: Request) -> Actor:
        header = request.headers.get("authorization", "")
        scheme, _, presented = header.partition(" ")
        if header and scheme.lower() != "bearer":
            raise InputError(Result.api_key_invalid, "use Authorization: Bearer <API key>")
        return await run_in_threadpool(self.bundle.verifier.actor_of, presented.strip())

    async def answer(
        self, request: Request, route: str, call: Call, write: bool = False
    ) -> Response:
        try:
            actor = await self.actor(request)
            body = await _body(request) if write else b""
            key = request.headers.get("idempotency-key") if write else None
            target = request.url.path + ("?" + request.url.query if request.url.query else "")
            seen = fingerprint(request.method, target, body)
            return await run_in_threadpool(
                self._called, route, actor, call, body=body, key=key, seen=seen
            )
        except RingfenceError as error:
            self.metrics.count(route, code_of(error))
            return problem_of(error, request.url.path)

    def _called(
        self, route: str, actor: Actor, call: Call, *, body: bytes, key: str | None, seen: bytes
    ) -> Response:
        with self.lock:
            if key is not None:
                found = self.idempotency.replay(actor, key, seen)
                if found is not None:
                    self.metrics.count(route, "replayed")
                    return Response(
                        found.body,
                        found.status,
                        media_type=json_media_type,
                        headers={"Idempotency-Replayed": "true"},
                    )
            document = access.decode_body(body) if body else None
            answer = call(self.bundle.current(), actor, document)
            self._count(route, answer)
            content = json.dumps(answer).encode("utf-8")
            if key is not None:
                self.idempotency.remember(actor, key, Remembered(seen, 200, content))
            return Response(content, 200, media_type=json_media_type)

    def _count(self, route: str, document: object) -> None:
        """Each result of a create by its code; any other answer as one ``ok``."""
        results = document.get("results") if isinstance(document, dict) else None
        if not isinstance(results, list):
            self.metrics.count(route, "ok")
            return
        counts: dict[str, int] = {}
        for row in results:
            counts[row["result"]] = counts.get(row["result"], 0) + 1
        for code, times in counts.items():
            self.metrics.count(route, code, times)


async def _body(request: Request) -> bytes:
    """The body of a write, refused before parsing if it is not JSON or too large."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != json_media_type:
        raise InputError(
            Result.content_type_unsupported, f"{media or 'none'}: send {json_media_type}"
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > body_bytes_max:
        raise InputError(
            Result.request_body_too_large, f"{declared} bytes, at most {body_bytes_max}"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > body_bytes_max:
            raise InputError(Result.request_body_too_large, f"more than {body_bytes_max} bytes")
        chunks.append(chunk)
    if size == 0:
        raise InputError(Result.request_body_malformed, "empty body")
    return b"".join(chunks)


def create_app(bundle: bootstrap.ServiceBundle) -> FastAPI:
    """The API over ``bundle`` (opened by ``bootstrap.open_service``; the caller closes it)."""
    from ringfence.entrypoints.api.routes import add_routes, problem_responses

    app = FastAPI(
        title="ringfence",
        summary="Keeps clients' crypto assets segregated from the firm's own, and proves it.",
        version="1",
        docs_url=None,
        redoc_url=None,
        responses=problem_responses,
    )
    api = Api(bundle)
    app.state.api = api
    add_routes(app, api)
    _add_error_handlers(app)
    _add_timing(app, api)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_problem(request: Request, error: HTTPException) -> Response:
        if error.status_code == 405:
            return problem(Result.method_not_allowed.value, 405, request.method, request.url.path)
        return problem(Result.route_not_found.value, 404, request.url.path, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def query_problem(request: Request, error: RequestValidationError) -> Response:
        where = "; ".join(
            f"{'.'.join(str(part) for part in found['loc'])}: {found['msg']}"
            for found in error.errors()
        )
        return problem(Result.query_parameter_invalid.value, 400, where, request.url.path)


def _add_timing(app: FastAPI, api: Api) -> None:
    @app.middleware("http")
    async def timed(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        api.metrics.latency.labels(template, request.method).observe(time.perf_counter() - started)
        return response
