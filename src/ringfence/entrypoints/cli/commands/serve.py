"""``ringfence serve``: the REST API over the ledger named by ``--db`` (docs/api.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from ringfence import bootstrap
from ringfence.entrypoints.cli.output import (
    ApiKeysFileOption,
    WebhooksFileOption,
    database_url,
    reported,
    say,
    target,
)

name = "serve"


def command(
    context: typer.Context,
    *,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8080,
    api_keys: ApiKeysFileOption = None,
    webhooks: WebhooksFileOption = None,
    rounds: Annotated[
        str | None,
        typer.Option(
            "--rounds",
            metavar="DIR",
            help="The proof-of-reserves rounds' directory (default: por/ beside the database).",
        ),
    ] = None,
    deliver_every: Annotated[
        float,
        typer.Option(
            "--deliver-every",
            metavar="SECONDS",
            min=0,
            help="Deliver webhooks this often (0: not at all; `ringfence events deliver` then).",
        ),
    ] = 2.0,
) -> None:
    """Serve the REST API until interrupted: each route one service call, API keys with
    roles, errors as RFC 9457 problems, metrics at /metrics, webhooks delivered; and the
    operator console and the client portal (sign in at / with an API key)."""
    import uvicorn

    from ringfence.entrypoints.api.app import create_app

    with reported(False):
        bundle = bootstrap.open_service(
            database_url(context),
            target(context).journal_key,
            api_keys,
            webhooks_file=webhooks,
            rounds_folder=rounds,
        )
    try:
        say(f"ringfence serving {bootstrap.redacted_url(database_url(context))} on {host}:{port}")
        app = create_app(bundle, deliver_every or None)
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        bundle.close()
