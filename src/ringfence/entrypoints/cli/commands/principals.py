"""``ringfence principals ...``: who may authorise a client's movement, and with which key.

An internal transfer commits only with its payer's signature (docs/ledger.md, "Authorisation
evidence"). These commands keep the keys and make the signatures:

- ``keygen``: a new Ed25519 key in a file (the seed as hex, mode 0600), printing its public key;
- ``add``: register a principal's public key, or rotate it, endorsed by an admin's key (the
  ledger's first principal is its admin and needs none); a client principal acts for the client
  it names, by default the client of its own name;
- ``revoke``: revoke a principal's current key, endorsed by an admin's key;
- ``list``: the registry, with each principal's history;
- ``sign``: the client's side: sign the transfer lines that need it with a principal's key file
  and write the file back with ``authorisation`` filled in.

Key files are read and written by the ``PrincipalFiles`` adapter (adapters/files/principals.py)
that bootstrap.py wires in; the ledger never stores a private key.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from ringfence import bootstrap
from ringfence.entrypoints.cli.lines import count_lines, read_lines
from ringfence.entrypoints.cli.output import (
    JsonlFile,
    JsonOption,
    console,
    new_table,
    opened,
    print_results,
    reported,
    say,
    table_keys,
    write_json,
)
from ringfence.service.principals import (
    create_key,
    principals_document,
    register_principal,
    revoke_with_key_file,
    sign_transfer_file,
    signed_transfer_lines,
)

name = "principals"
app = typer.Typer(
    help="Principals and their keys: who may authorise a client's movement.",
    no_args_is_help=True,
)

KeyFile = Annotated[
    Path,
    typer.Option(
        "--key",
        exists=True,
        dir_okay=False,
        readable=True,
        help="A key file: the Ed25519 seed as 64 hex digits (from `principals keygen`).",
    ),
]
EndorserOption = Annotated[
    str, typer.Option("--endorser", help="The admin who endorses the change.")
]
EndorserKeyOption = Annotated[
    Path | None,
    typer.Option(
        "--endorser-key", exists=True, dir_okay=False, readable=True, help="The admin's key file."
    ),
]


@app.command("keygen")
def keygen(
    out: Annotated[Path, typer.Option("--out", help="The key file to create (never replaced).")],
    json_output: JsonOption = False,
) -> None:
    """Create a new Ed25519 key in a file readable only by its owner; print its public key,
    also written to PATH.pub."""
    with reported(json_output):
        document = create_key(bootstrap.principal_files(), str(out))
    if json_output:
        write_json(document)
    else:
        say(f"key written to {out}; public key {document['public_key']} (in {out}.pub)")


@app.command("add")
def add(
    context: typer.Context,
    principal: Annotated[str, typer.Argument(help="The principal's name.")],
    *,
    role: Annotated[
        str, typer.Option(help="client, operator, approver, compliance, auditor or admin.")
    ],
    public_key: Annotated[str, typer.Option(help="The Ed25519 public key, 64 hex digits.")],
    client: Annotated[
        str, typer.Option(help="The client a client principal acts for (default: its name).")
    ] = "",
    endorser: EndorserOption = "",
    endorser_key: EndorserKeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Register a principal's key (or rotate it), endorsed by an admin."""
    with reported(json_output), opened(context) as ledger:
        result = register_principal(
            ledger,
            bootstrap.principal_files(),
            principal,
            role=role,
            public_key=public_key,
            client=client,
            endorser=endorser,
            endorser_key=None if endorser_key is None else str(endorser_key),
        )
    print_results(json_output, "principal", [principal], [result])


@app.command("revoke")
def revoke(
    context: typer.Context,
    principal: Annotated[str, typer.Argument(help="The principal whose key is revoked.")],
    *,
    endorser: EndorserOption,
    endorser_key: EndorserKeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Revoke a principal's current key, endorsed by an admin: nothing it signs commits after."""
    with reported(json_output), opened(context) as ledger:
        key = None if endorser_key is None else str(endorser_key)
        result = revoke_with_key_file(ledger, bootstrap.principal_files(), principal, endorser, key)
    print_results(json_output, "principal", [principal], [result])


@app.command("list")
def list_principals(context: typer.Context, json_output: JsonOption = False) -> None:
    """Every principal with its role, client, current key, status and history."""
    with reported(json_output), opened(context) as ledger:
        document = principals_document(ledger)
    if json_output:
        write_json(document)
        return
    table = new_table("number", "name", "role", "client", "status", "public_key")
    for row in document["principals"]:
        table.add_row(*(str(row[key]) for key in table_keys(table)))
    console().print(table)


@app.command("sign")
def sign(
    context: typer.Context,
    file: JsonlFile,
    *,
    key: KeyFile,
    principal: Annotated[str, typer.Option(help="The principal the key belongs to.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Write here (default: standard output).")
    ] = None,
) -> None:
    """Sign the transfer lines of a JSONL file that need authorisation (internal transfers)
    with a principal's key; every other line is written back unchanged.

    Nothing is written to ``--out`` unless every line is good; on standard output the lines
    before a bad one have already been written."""
    with reported(False), opened(context) as ledger:
        files, lines = bootstrap.principal_files(), _numbered_lines(file)
        if out is None:
            for text in signed_transfer_lines(ledger, files, lines, str(key), principal):
                sys.stdout.write(text + "\n")
        else:
            sign_transfer_file(
                ledger, files, lines, key=str(key), principal=principal, out=str(out)
            )


def _numbered_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """The file's lines with their numbers, the whole file refused first if it has too many."""
    count_lines(path)
    for line in read_lines(path):
        yield line.number, line.text_or_raise()
