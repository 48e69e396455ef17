"""The ``ringfence`` command line: the root command, its global options, and the table of
command words, each loaded from its module in ``commands/`` only when it runs.

Why a table rather than importing every module at start-up: the modules reach numpy, web3,
psycopg and FastAPI through the services, which takes seconds, and ``ringfence --help``, ``ringfence
--version`` and shell completion must answer at once. The table holds only what the root's help
shows (each word, its module and its one-line summary); a test loads every command and checks
the table against it, so the two cannot drift apart.

Usage errors (an unknown option, a missing argument, a file that is not there) are reported
like every other error: ``error: CODE: detail`` on stderr with exit status 2, or, when the
command line asks for ``--json``, one JSON document ``{"ok": false, "error": CODE, ...}`` on
stdout.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

from ringfence.entrypoints.cli import usage
from ringfence.entrypoints.cli.help import HelpContext, use_help_context


@dataclass(frozen=True, slots=True)
class CommandWord:
    """A top-level word of the command line: the module under ``commands/`` that defines it
    and the summary ``ringfence --help`` lists for it (the first sentence of its own help)."""

    word: str
    module: str
    summary: str


# In the order a new user meets them: set up the books, move money, keep the journal, hold and
# reconcile wallets, report and prove, simulate failure; then the service and the tools.
command_words: tuple[CommandWord, ...] = (
    CommandWord("init", "ledger", "Create the database (opening it creates the schema) and print "
                "where its journal stands."),
    CommandWord("assets", "ledger", "Define assets (one ledger each)."),
    CommandWord("clients", "ledger", "Define clients (asset owners)."),
    CommandWord("pools", "ledger", "Define pools, the units of segregation."),
    CommandWord("accounts", "ledger", "Define accounts."),
    CommandWord("principals", "principals", "Principals and their keys: who may authorise a "
                "client's movement."),
    CommandWord("transfers", "ledger", "Submit and list transfers."),
    CommandWord("balances", "ledger", "Account balances: posted balance and pending debits and "
                "credits."),
    CommandWord("positions", "ledger", "Per pool and asset: holdings, client liabilities, "
                "residual interest, shortfall, breaks."),
    CommandWord("journal", "journal", "The journal's signed head and its key."),
    CommandWord("audit", "audit", "Check the store against its journal."),
    CommandWord("db", "db", "Show and upgrade the database schema."),
    CommandWord("wallets", "wallets", "Custody wallets and their addresses."),
    CommandWord("reconcile", "recon", "Reconcile: segregation statement, internal and external "
                "reconciliation, breaks."),
    CommandWord("breaks", "recon", "Breaks: the ledger's (no subcommand) and the "
                "reconciliation's (list, explain, cure)."),
    CommandWord("statement", "recon", "Segregation statement, client statements of position, "
                "the register of positions."),
    CommandWord("regulatory", "regulatory", "Possession and control, residual-interest "
                "deadline, weekly collateral report, sub-custodian register, insurance cover."),
    CommandWord("por", "por", "Proof of reserves and liabilities: rounds, challenges, "
                "signatures, proofs, verification, audit."),
    CommandWord("risk", "risk", "Margin buckets: scans, pre-trade checks, fills."),
    CommandWord("liquidation", "liquidation", "Liquidation rounds, insurance funds, "
                "auto-deleveraging."),
    CommandWord("insolvency", "insolvency", "Simulate the firm's failure: who gets what back, "
                "segregated and commingled."),
    CommandWord("resolution-pack", "resolution_pack", "Write the resolution pack (every file "
                "hashed in its master index)."),
    CommandWord("policy", "policy", "The withdrawal policy: versions, approvals, simulation."),
    CommandWord("withdrawals", "withdrawals", "Withdrawals, sweeps and rebalances: requested, "
                "approved, held, paid, posted."),
    CommandWord("events", "events", "Events from the journal, and webhook delivery."),
    CommandWord("keys", "access", "API keys for the service (`ringfence serve`)."),
    CommandWord("serve", "serve", "Serve the REST API until interrupted: each route one service "
                "call, API keys with roles, errors as RFC 9457 problems, metrics at /metrics, "
                "webhooks delivered; and the operator console and the client portal (sign in at / "
                "with an API key)."),
    CommandWord("demo", "demo", "Build a synthetic custodian and venue, run the day's work, "
                "write an HTML report."),
    CommandWord("bench", "bench", "Run a benchmark and print operations per second per case."),
)  # fmt: skip
commands_package = "ringfence.entrypoints.cli.commands"


def load_command(word: str) -> Any:
    """The command ``word`` as Typer builds it from its module (importing the module now).

    A module defines ``name`` and either ``app`` (a group), ``command`` (one command) or
    ``register_commands(root)`` (several words, as the ledger's own)."""
    entry = next(entry for entry in command_words if entry.word == word)
    module = importlib.import_module(f"{commands_package}.{entry.module}")
    holder = typer.Typer(rich_markup_mode=None)
    if hasattr(module, "register_commands"):
        module.register_commands(holder)
    elif hasattr(module, "command"):
        holder.command(module.name)(module.command)
    else:
        holder.add_typer(module.app, name=module.name)
    return use_help_context(typer.main.get_group(holder).commands[word])


class LazyCommands(TyperGroup):
    """The root group: every word listed from the table, each loaded when it is resolved (to
    run it, show its help or complete its arguments), and usage errors reported as every other
    error is."""

    context_class = HelpContext

    def __init__(self, **attributes: Any) -> None:
        super().__init__(**attributes)
        self.unloaded = {entry.word for entry in command_words}
        for entry in command_words:
            self.commands[entry.word] = TyperCommand(
                entry.word, short_help=entry.summary, help=entry.summary, rich_markup_mode=None
            )

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name in self.unloaded:
            self.unloaded.discard(name)
            command = self.commands[name] = load_command(name)
        return name, command, rest

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        arguments = list(sys.argv[1:] if args is None else args)
        status = usage.reported(
            lambda: super(LazyCommands, self).main(
                arguments, prog_name, complete_var, False, **extra
            ),
            json_output="--json" in arguments,
        )
        sys.exit(status)


app = typer.Typer(
    name="ringfence",
    cls=LazyCommands,
    help="Keeps clients' crypto assets segregated from the firm's own, and proves it.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


def main() -> None:
    """Console-script entry point."""
    app(prog_name="ringfence")


def show_version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version

        typer.echo(f"ringfence {version('ringfence')}")
        raise typer.Exit()


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
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    from ringfence.entrypoints.cli.output import target_of

    context.obj = target_of(db, journal_key)
