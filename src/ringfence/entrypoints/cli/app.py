"""The ``ringfence`` command line: the root command and its global options; each area's
commands live in ``commands/`` and are registered here at start-up."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Annotated

import typer

from ringfence import bootstrap
from ringfence.entrypoints.cli.output import Target

app = typer.Typer(
    name="ringfence",
    help="Keeps clients' crypto assets segregated from the firm's own, and proves it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def main() -> None:
    """Console-script entry point."""
    app(prog_name="ringfence")


@app.callback()
def root(
    context: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            metavar="URL",
            help="sqlite:///PATH, postgresql://[USER@]HOST[:PORT]/DB or memory:// (default: "
            "$RINGFENCE_DB, else sqlite:///ringfence.db). An empty PostgreSQL database gets "
            "its schema on first use.",
        ),
    ] = None,
    journal_key: Annotated[
        str | None,
        typer.Option(
            "--journal-key",
            metavar="FILE",
            help="The journal key that signs every entry written (default: "
            "$RINGFENCE_JOURNAL_KEY, else PATH.journal-key beside an SQLite database; made "
            "with a new journal). Reading needs none.",
        ),
    ] = None,
) -> None:
    context.obj = Target(bootstrap.database_url(db), journal_key)


def _register_command_groups() -> None:
    """Add each area's command group from ``ringfence.entrypoints.cli.commands``."""
    from ringfence.entrypoints.cli import commands

    # The ledger's own commands first, as `--help` has always listed them; then by name.
    found_all = pkgutil.iter_modules(commands.__path__)
    for found in sorted(found_all, key=lambda m: (m.name != "ledger", m.name)):
        module = importlib.import_module(f"{commands.__name__}.{found.name}")
        if hasattr(module, "register_commands"):  # several commands and groups (the ledger's own)
            module.register_commands(app)
        elif hasattr(module, "command"):  # one top-level command (``ringfence reconcile``)
            app.command(module.name)(module.command)
        else:
            app.add_typer(module.app, name=module.name)


_register_command_groups()
