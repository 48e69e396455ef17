"""``ringfence events``: the event stream read from the journal, and one webhook delivery pass
(docs/events.md). Subscriptions are made through the REST API (``POST /v1/webhooks``, an
admin's key); ``ringfence serve`` delivers by itself, ``events deliver`` is for a server run
without its worker, or a cron job."""

from __future__ import annotations

from typing import Annotated

import typer

from ringfence import bootstrap
from ringfence.entrypoints.cli.output import (
    JsonOption,
    WebhooksFileOption,
    console,
    database_url,
    finish,
    new_table,
    opened,
    reported,
    write_json,
)

name = "events"
app = typer.Typer(help="Events from the journal, and webhook delivery.", no_args_is_help=True)

@app.command("list")
def list_events(
    context: typer.Context,
    after: Annotated[
        str, typer.Option(help="Start after this journal sequence or event id (SEQ.INDEX).")
    ] = "",
    types: Annotated[str, typer.Option(help="Comma-separated event types, family.* or *.")] = "",
    limit: Annotated[int, typer.Option(help="At most this many events.", min=1)] = 100,
    json_output: JsonOption = False,
) -> None:
    """Events after a position, oldest first."""
    from ringfence.service.events import events

    with reported(json_output), opened(context) as ledger:
        document = events(ledger, None, after=after, types=types, limit=limit)
    if json_output:
        write_json(document)
        return
    table = new_table("id", "type", "timestamp", "data")
    for item in document["items"]:
        table.add_row(item["id"], item["type"], item["timestamp"], str(item["data"]))
    console().print(table)


@app.command("deliver")
def deliver(
    context: typer.Context, webhooks: WebhooksFileOption = None, json_output: JsonOption = False
) -> None:
    """One delivery pass: every due subscription gets its next events (exit 1 if any failed)."""
    from ringfence.service import webhooks as service

    with reported(json_output), opened(context) as ledger:
        store = bootstrap.open_webhook_store(database_url(context), webhooks)
        try:
            done = service.deliver(
                service.reader_of(ledger), store, bootstrap.webhook_sender(), ledger.clock
            ).to_json()
        finally:
            store.close()
    if json_output:
        write_json(done)
    else:
        typer.echo(f"{done['acknowledged']} delivered, {done['failed']} failed")
    finish(done["ok"])
