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

Only ``keygen`` and ``sign`` touch key files; the ledger never stores a private key.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer

from ringfence import bootstrap
from ringfence.core import limits
from ringfence.core.errors import InputError, Result, StorageError
from ringfence.core.principals.authorisation import parse_key_file, public_key_of
from ringfence.core.principals.records import (
    Principal,
    PrincipalRole,
    parse_public_key_hex,
    parse_role,
)
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
    add_principal,
    principals_document,
    revoke_principal,
    sign_transfer_lines,
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


def read_key(path: Path) -> bytes:
    try:
        text = path.read_text(encoding="ascii")
    except UnicodeDecodeError:
        raise InputError(Result.signing_key_invalid, f"{path} is not a key file") from None
    return parse_key_file(text)


@app.command("keygen")
def keygen(
    out: Annotated[Path, typer.Option("--out", help="The key file to create (never replaced).")],
    json_output: JsonOption = False,
) -> None:
    """Create a new Ed25519 key in a file readable only by its owner; print its public key."""
    with reported(json_output):
        seed = secrets.token_bytes(limits.ed25519_seed_bytes)
        try:
            bootstrap.create_key_file(out, seed)
        except FileExistsError:
            raise StorageError(f"{out} exists; a key file is never replaced") from None
        except OSError as error:
            raise StorageError(f"cannot create {out}: {error.strerror}") from None
    public_key = public_key_of(seed).hex()
    if json_output:
        write_json({"ok": True, "key_file": str(out), "public_key": public_key})
    else:
        say(f"key written to {out}; public key {public_key}")


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
    with reported(json_output):
        parsed_role = parse_role(role)
        if parsed_role is PrincipalRole.client and not client:
            client = principal
        record = Principal(principal, parsed_role, parse_public_key_hex(public_key), client)
        seed = read_key(endorser_key) if endorser_key is not None else None
        with opened(context) as ledger:
            result = add_principal(ledger, record, endorser, seed)
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
    with reported(json_output):
        seed = read_key(endorser_key) if endorser_key is not None else None
        with opened(context) as ledger:
            result = revoke_principal(ledger, principal, endorser, seed)
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
    with reported(False):
        seed = read_key(key)
        count_lines(file)
        lines = ((line.number, line.text_or_raise()) for line in read_lines(file))
        with opened(context) as ledger:
            signed = sign_transfer_lines(ledger, lines, seed, principal)
            if out is None:
                for text in signed:
                    sys.stdout.write(text + "\n")
            else:
                _write_whole(out, signed)


def _write_whole(path: Path, lines: Iterable[str]) -> None:
    """Write to a neighbour and rename, so that a refused line leaves no half-signed file."""
    partial = path.with_name(path.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8") as stream:
            for text in lines:
                stream.write(f"{text}\n")
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
