"""``ringfence serve``: the REST API over the ledger named by ``--db`` (docs/api.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from ringfence import bootstrap
from ringfence.entrypoints.cli.output import database_url, reported, say, target

name = "serve"


def command(
    context: typer.Context,
    *,
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
    por_dir: Annotated[
        str | None,
        typer.Option(
            "--por-dir",
            metavar="DIR",
            help="The proof-of-reserves rounds the console and the portal show (default: "
            "por/ beside an SQLite database).",
        ),
    ] = None,
    book: Annotated[
        str | None,
        typer.Option(
            "--book", metavar="FILE", help="The venue's risk book, for the console's venue page."
        ),
    ] = None,
) -> None:
    """Serve the REST API until interrupted: each route one service call, API keys with
    roles, errors as RFC 9457 problems, metrics at /metrics; and the operator console and the
    client portal (sign in at / with an API key)."""
    import uvicorn

    from ringfence.entrypoints.api.app import create_app

    with reported(False):
        url = database_url(context)
        rounds = None if por_dir is None else bootstrap.round_store(url, por_dir)
        bundle = bootstrap.open_service(
            url, target(context).journal_key, api_keys, rounds=rounds, book_path=book
        )
    try:
        say(f"ringfence serving {bootstrap.redacted_url(database_url(context))} on {host}:{port}")
        uvicorn.run(create_app(bundle), host=host, port=port, log_level="warning")
    finally:
        bundle.close()
