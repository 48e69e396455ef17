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
    from ringfence.service.ledger.documents import signed_head_document

    with reported(json_output), opened(context) as ledger:
        document = signed_head_document(ledger)
    if json_output:
        write_json(document)
        return
    say(f"head {document['expect_head']}")
    say(f"signature {document['signature'] or '(none: the journal has no key yet)'}")
    say(f"journal key {document['journal_key'] or '(none)'}")


@app.command("key")
def key(context: typer.Context, json_output: JsonOption = False) -> None:
    """The keys the journal declares (from which entry), and the configured key file's."""
    from ringfence.service.ledger.documents import journal_key_document

    found = target(context)
    key_file = str(bootstrap.journal_key_path(found.url, found.journal_key) or "")
    with reported(json_output), opened(context) as ledger:
        document = journal_key_document(ledger, key_file)
    if json_output:
        write_json(document)
        return
    for declaration in _declarations(document):
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
    from ringfence.service.ledger.documents import rotation_document

    with reported(json_output), opened(context) as ledger:
        new = bootstrap.journal_signer(target(context).url, str(new_key))
        document = rotation_document(ledger, new, str(new_key))
    if json_output:
        write_json(document)
        return
    say(f"entry {document['seq']}: the journal key is now {document['public_key']}; "
        f"write with --journal-key {new_key} from now on")


def _declarations(document: dict[str, object]) -> list[dict[str, object]]:
    declared = document["declared"]
    assert isinstance(declared, list)
    return declared
