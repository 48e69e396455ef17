"""``ringfence serve``: the REST API over the ledger named by ``--db`` (docs/api.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from ringfence import bootstrap
from ringfence.entrypoints.cli.output import database_url, reported, say, target

name = "serve"


def command(
    context: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8080,
    api_keys: Annotated[
        str | None,
        typer.Option(
            "--api-keys",
            metavar="FILE",
            help="The API key file (default: $RINGFENCE_API_KEYS, else PATH.api-keys beside "
            "an SQLite database).",
        ),
    ] = None,
) -> None:
    """Serve the REST API until interrupted: each route one service call, API keys with
    roles, errors as RFC 9457 problems, metrics at /metrics, webhooks delivered; and the
    operator console and the client portal (sign in at / with an API key)."""
    import uvicorn

    from ringfence.entrypoints.api.app import create_app

    with reported(False):
        bundle = bootstrap.open_service(
            database_url(context), target(context).journal_key, api_keys
        )
    try:
        say(f"ringfence serving {bootstrap.redacted_url(database_url(context))} on {host}:{port}")
        uvicorn.run(create_app(bundle), host=host, port=port, log_level="warning")
    finally:
        bundle.close()
