"""``ringfence db``: the database's schema version, and upgrading it in place.

PostgreSQL schemas are built by versioned migrations (``schema_migrations`` records each); a
new database gets them all when it is first opened, an existing one is upgraded by
``ringfence db upgrade``, each migration in its own transaction under the writer lock.
SQLite's schema is created by the store itself and carries one version number: ``status``
reports it and ``upgrade`` says it is current (or that the file is not supported).
"""

from __future__ import annotations

import typer

from ringfence import bootstrap
from ringfence.entrypoints.cli.output import JsonOption, database_url, reported, say, write_json

name = "db"
app = typer.Typer(help="Show and upgrade the database schema.", no_args_is_help=True)


@app.command("status")
def status(context: typer.Context, json_output: JsonOption = False) -> None:
    """Print the schema version and the migrations applied and pending."""
    with reported(json_output):
        document = bootstrap.schema_status(database_url(context))
    if json_output:
        write_json(document)
        return
    say(
        f"{document['engine']} schema version {document['version']} "
        f"(latest {document['latest']}): {'current' if document['current'] else 'out of date'}"
    )
    pending = document["pending"]
    for migration in document["applied"]:
        say(f"  applied {migration['version']:>4} {migration['name']}  {migration['applied_at']}")
    for migration in pending:
        say(f"  pending {migration['version']:>4} {migration['name']}")
    if pending:
        say("run `ringfence db upgrade` to apply the pending migrations")


@app.command("upgrade")
def upgrade(context: typer.Context, json_output: JsonOption = False) -> None:
    """Apply the pending migrations; nothing already written changes."""
    with reported(json_output):
        url = database_url(context)
        applied = bootstrap.upgrade_schema(url)
        document = {**bootstrap.schema_status(url), "migrations_applied": applied}
    if json_output:
        write_json(document)
    elif applied:
        say(f"applied migrations {', '.join(map(str, applied))}; now at {document['version']}")
    else:
        say(f"schema version {document['version']} is current: nothing to do")
