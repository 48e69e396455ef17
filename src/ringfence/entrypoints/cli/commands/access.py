"""``ringfence keys ...``: the service's API keys (docs/api.md).

- ``create --role ROLE [--client ID] [--name NAME]``: a new key, printed once; only its
  argon2id hash is kept, in the API key file beside the database;
- ``revoke KEY_ID``: refused by a running server from its next request on;
- ``list``: every key with its role, client and status; never a secret or a hash.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ringfence import bootstrap
from ringfence.entrypoints.cli.output import (
    ApiKeysFileOption,
    JsonOption,
    console,
    database_url,
    new_table,
    reported,
    say,
    target,
    write_json,
)
from ringfence.service.keys import (
    create_key,
    default_hasher,
    key_to_json,
    keys_document,
    revoke_key,
)

name = "keys"
app = typer.Typer(help="API keys for the service (`ringfence serve`).", no_args_is_help=True)

@app.command("create")
def create(
    context: typer.Context,
    *,
    role: Annotated[
        str, typer.Option(help="client, operator, approver, compliance, auditor or admin.")
    ],
    client: Annotated[str, typer.Option(help="The client a client key acts for.")] = "",
    key_name: Annotated[
        str,
        typer.Option("--name", help="The principal's name (default: the client's, else key-<id>)."),
    ] = "",
    api_keys: ApiKeysFileOption = None,
    json_output: JsonOption = False,
) -> None:
    """Create an API key; it is printed once and cannot be shown again."""
    with reported(json_output):
        bundle = bootstrap.open_service(
            database_url(context), target(context).journal_key, api_keys
        )
        try:
            record, text = create_key(
                bundle.keys,
                bundle.clock,
                default_hasher(),
                bundle.ledger,
                role=role,
                client=client,
                name=key_name,
            )
        finally:
            bundle.close()
    if json_output:
        write_json({"ok": True, "key": text, **key_to_json(record)})
    else:
        acting = f" for {record.client}" if record.client else ""
        say(f"key {record.key_id} ({record.role.name}{acting}) created; it is shown once:")
        say(text)


@app.command("revoke")
def revoke(
    context: typer.Context,
    key_id: Annotated[str, typer.Argument(help="The key's id (16 hex digits, `keys list`).")],
    api_keys: ApiKeysFileOption = None,
    json_output: JsonOption = False,
) -> None:
    """Revoke a key: a running server refuses it from its next request on."""
    with reported(json_output):
        keys = bootstrap.open_key_store(database_url(context), api_keys)
        try:
            record = revoke_key(keys, bootstrap.system_clock(), key_id)
        finally:
            keys.close()
    if json_output:
        write_json({"ok": True, **key_to_json(record)})
    else:
        say(f"key {record.key_id} revoked")


@app.command("list")
def list_keys(
    context: typer.Context, api_keys: ApiKeysFileOption = None, json_output: JsonOption = False
) -> None:
    """Every key with its role, client and status (never a secret)."""
    with reported(json_output):
        keys = bootstrap.open_key_store(database_url(context), api_keys)
        try:
            document = keys_document(keys)
        finally:
            keys.close()
    if json_output:
        write_json(document)
        return
    table = new_table("key_id", "name", "role", "client", "status")
    for row in document["keys"]:
        table.add_row(row["key_id"], row["name"], row["role"], row["client"], row["status"])
    console().print(table)
