"""``ringfence audit verify``: replay the journal and check everything it promises."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from ringfence import bootstrap
from ringfence.core import errors
from ringfence.entrypoints.cli.output import (
    JsonOption,
    ProgressReport,
    console,
    database_url,
    new_table,
    progress_bar,
    reported,
    say,
    target,
    write_json,
)

name = "audit"
app = typer.Typer(help="Check the store against its journal.", no_args_is_help=True)


@app.command("verify")
def audit_verify(
    context: typer.Context,
    json_output: JsonOption = False,
    public_keys: Annotated[
        list[str] | None,
        typer.Option(
            "--public-key",
            metavar="HEX",
            help="A journal public key the firm published (repeatable). Default: the key in "
            "the journal key file, if there is one.",
        ),
    ] = None,
    expect_heads: Annotated[
        list[str] | None,
        typer.Option(
            "--expect-head",
            metavar="SEQ:HASH",
            help="A head published earlier that the journal must still hold (repeatable).",
        ),
    ] = None,
    rounds: Annotated[
        list[Path] | None,
        typer.Option(
            "--round",
            exists=True,
            dir_okay=False,
            help="A proof-of-reserves round file whose journal head must still be there.",
        ),
    ] = None,
) -> None:
    """Replay the journal and check the hash chain, every signature, row, balance and
    invariant, and that each published head is still there.

    Reads the store directly, without loading the ledger: loading replays the journal and
    could itself fail on a tampered file, which is exactly what this command must report.
    """
    from ringfence.service.audit import audit

    with reported(json_output), progress_bar(json_output) as progress:
        url = database_url(context)
        report = audit(
            lambda: bootstrap.open_store(url, create=False),
            lambda: bootstrap.journal_signer(url, target(context).journal_key).public_key(),
            public_keys=public_keys or (),
            expect_heads=expect_heads or (),
            rounds=[path.read_bytes() for path in rounds or ()],
            progress=None if progress is None else audit_progress(progress),
        )
    if json_output:
        write_json(report.to_json())
    elif report.ok:
        say(
            f"audit: ok — {report.entries:,} journal entries, {report.transfers:,} transfers and "
            f"{report.accounts:,} accounts replayed; head {report.head_seq} {report.head_hash}"
        )
        say(_key_line(report.journal_keys, report.key_trusted, report.heads_checked))
    else:
        table = new_table("kind", "where", "detail")
        for problem in report.problems:
            table.add_row(problem.kind, problem.where, problem.detail)
        console().print(table)
        say(f"audit: {len(report.problems)} problems")
    if not report.ok:
        raise typer.Exit(errors.exit_status_integrity)


def _key_line(keys: list[tuple[int, str]], trusted: bool, heads: int) -> str:
    signed = f"signed by journal key {keys[-1][1]}" if keys else "no journal key"
    rotations = f" ({len(keys) - 1} rotations)" if len(keys) > 1 else ""
    trust = "a key you trust" if trusted else "not checked against a published key (--public-key)"
    return f"journal {signed}{rotations}, {trust}; {heads} published heads found"


def audit_progress(progress: ProgressReport) -> Callable[[int, int], None]:
    return lambda done, total: progress("audit", done, total)
