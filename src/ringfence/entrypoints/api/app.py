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

The same app serves the operator console and the client portal (entrypoints/pages/site.py):
HTML pages over the same service functions, keys and lock, outside the OpenAPI document.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from ringfence import bootstrap
from ringfence.core.errors import Result
from ringfence.entrypoints.api.calls import Api
from ringfence.entrypoints.api.delivery import DeliveryWorker
from ringfence.entrypoints.api.problems import problem
from ringfence.entrypoints.api.routes import add_routes, problem_responses
from ringfence.entrypoints.api.routes_custody import add_custody_routes
from ringfence.entrypoints.api.routes_events import add_event_routes
from ringfence.entrypoints.api.routes_recon import add_recon_routes
from ringfence.entrypoints.api.routes_reports import add_report_routes
from ringfence.entrypoints.pages.site import add_pages


def create_app(
    bundle: bootstrap.ServiceBundle, deliver_every_s: float | None = None
) -> FastAPI:
    """The API over ``bundle`` (opened by ``bootstrap.open_service``; the caller closes it).
    With ``deliver_every_s``, a worker delivers webhooks that often while the app runs
    (delivery.py)."""
    api = Api(bundle)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if deliver_every_s is None:
            yield
            return
        worker = DeliveryWorker(api, deliver_every_s)
        worker.start()
        try:
            yield
        finally:
            worker.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="ringfence",
        summary="Keeps clients' crypto assets segregated from the firm's own, and proves it.",
        version="1",
        docs_url=None,
        redoc_url=None,
        responses=problem_responses,
    )
    app.state.api = api
    add_routes(app, api)
    add_event_routes(app, api)
    add_recon_routes(app, api)
    add_report_routes(app, api)
    add_custody_routes(app, api)
    add_pages(app, api)
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
