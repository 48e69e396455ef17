"""``ringfence journal``: the journal's signed head, its key, and handing the key on.

Every entry is signed with the journal key (docs/ledger.md, "Who can rewrite the journal").
``head`` prints the head to publish (an auditor later checks it with ``audit verify
--expect-head``); ``key`` shows the keys the journal declares and whether the configured key
file holds the one in force; ``rotate`` hands the journal on to a new key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ringfence import bootstrap
from ringfence.entrypoints.cli.output import JsonOption, opened, reported, say, target, write_json

name = "journal"
app = typer.Typer(help="The journal's signed head and its key.", no_args_is_help=True)


@app.command("head")
def head(context: typer.Context, json_output: JsonOption = False) -> None:
    """The head to publish: entry, hash and the journal key's signature over them."""
    with reported(json_output), opened(context) as ledger:
        seq, head_hash, signature = ledger.signed_head()
        key = ledger.journal_key
    document = {
        "ok": True,
        "seq": seq,
        "hash": head_hash.hex(),
        "signature": signature.hex(),
        "journal_key": key.hex() if key is not None else "",
        "expect_head": f"{seq}:{head_hash.hex()}",
    }
    if json_output:
        write_json(document)
        return
    say(f"head {seq}:{head_hash.hex()}")
    say(f"signature {signature.hex() or '(none: the journal has no key yet)'}")
    say(f"journal key {document['journal_key'] or '(none)'}")


@app.command("key")
def key(context: typer.Context, json_output: JsonOption = False) -> None:
    """The keys the journal declares (from which entry), and the configured key file's."""
    with reported(json_output), opened(context) as ledger:
        declared = [
            {"from_seq": d.seq, "public_key": d.public_key.hex()}
            for d in ledger.journal_keys.declarations
        ]
        held = ledger.signer.public_key()
    in_force = declared[-1]["public_key"] if declared else ""
    document = {
        "ok": True,
        "declared": declared,
        "key_file": str(bootstrap.journal_key_path(target(context).url,
                                                   target(context).journal_key) or ""),
        "key_file_public_key": held.hex() if held is not None else "",
        "key_file_in_force": held is not None and held.hex() == in_force,
    }
    if json_output:
        write_json(document)
        return
    for declaration in declared:
        say(f"from entry {declaration['from_seq']}: {declaration['public_key']}")
    say(f"key file {document['key_file'] or '(none)'}: {document['key_file_public_key'] or '-'}"
        f" ({'in force' if document['key_file_in_force'] else 'not the key in force'})")


@app.command("rotate")
def rotate(
    context: typer.Context,
    new_key: Annotated[
        Path,
        typer.Option("--new-key", metavar="FILE",
                     help="The new key's file (made now if it does not exist)."),
    ],
    json_output: JsonOption = False,
) -> None:
    """Hand the journal on to a new key: an entry signed by the current key names the new one
    (which signs its own place). Use the new key file from then on."""
    with reported(json_output), opened(context) as ledger:
        public_key = ledger.rotate_journal_key(
            bootstrap.journal_signer(target(context).url, str(new_key)))
        seq = ledger.seq
    document = {"ok": True, "seq": seq, "public_key": public_key.hex(), "key_file": str(new_key)}
    if json_output:
        write_json(document)
        return
    say(f"entry {seq}: the journal key is now {public_key.hex()}; "
        f"write with --journal-key {new_key} from now on")
