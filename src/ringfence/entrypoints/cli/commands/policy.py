"""``ringfence policy ...``: the withdrawal policy's versions (docs/withdrawals.md).

- ``draft FILE``: a new version from a policy document (JSON);
- ``approve VERSION``: a member of the governing group approves it (never its author), signed
  with its key file or with a ``--signature`` made elsewhere over what ``instruction VERSION
  --approver NAME`` prints;
- ``publish VERSION``: once approved by the quorum; in force after the time-lock;
- ``show [VERSION]``: a version and its document (default: the one in force), or ``--all``
  versions with their states;
- ``simulate --from DATE [--policy FILE | --version N]``: replay the journal's movements since
  DATE against a policy (default: the latest unpublished draft) and count what it decides.

A command that changes something acts as a principal proven by its key file (``--principal``
and ``--key``, the Ed25519 key of ``ringfence principals keygen``); one that reads needs none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ringfence import bootstrap
from ringfence.core import errors
from ringfence.entrypoints.cli.output import (
    ApproverKeyOption,
    ApproverOption,
    JsonOption,
    PrincipalKeyOption,
    PrincipalOption,
    SignatureOption,
    acting,
    console,
    new_table,
    opened,
    reported,
    say,
    write_json,
)
from ringfence.service import policy
from ringfence.service.approval_keys import approve_policy_with_key_file

name = "policy"
app = typer.Typer(
    help="The withdrawal policy: versions, approvals, simulation.", no_args_is_help=True
)

VersionArgument = Annotated[int, typer.Argument(help="The policy version.", min=1)]


def _document_bytes(path: Path) -> bytes:
    """The file's bytes, refused before reading when larger than any policy may be."""
    size = path.stat().st_size
    if size > policy.document_bytes_max:
        raise errors.InputError(errors.Result.policy_document_too_large, f"{path}: {size} bytes")
    return path.read_bytes()


@app.command("draft")
def draft(
    context: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A policy (JSON).")],
    *,
    principal: PrincipalOption,
    key: PrincipalKeyOption,
    json_output: JsonOption = False,
) -> None:
    """Draft a new version from a policy document: checked whole, every bad field named."""
    with acting(context, json_output, principal, key) as (ledger, actor):
        document = policy.draft(ledger, actor, _document_bytes(file))
    _print_version(json_output, document)


@app.command("approve")
def approve(
    context: typer.Context,
    version: VersionArgument,
    *,
    principal: PrincipalOption,
    key: ApproverKeyOption = None,
    signature: SignatureOption = None,
    json_output: JsonOption = False,
) -> None:
    """Approve a draft: only members of the governing group, never its author, each once;
    signed with the --key file, or given with a --signature made elsewhere
    (which needs no --key)."""
    key_file = None if key is None else str(key)
    with reported(json_output), opened(context) as ledger:
        document = approve_policy_with_key_file(
            ledger, bootstrap.principal_files(), principal, key_file, version,
            signature=signature,
        )  # fmt: skip
    _print_version(json_output, document)


@app.command("instruction")
def instruction(
    context: typer.Context,
    version: VersionArgument,
    *,
    approver: ApproverOption,
    json_output: JsonOption = False,
) -> None:
    """Print the approval instruction the approver signs (hex), to sign elsewhere (an HSM, an
    air-gapped key) and give back with approve --signature."""
    with reported(json_output), opened(context) as ledger:
        document = policy.instruction(ledger, policy.local_reader, version, approver)
    if json_output:
        write_json(document)
        return
    say(document["instruction"])


@app.command("publish")
def publish(
    context: typer.Context,
    version: VersionArgument,
    *,
    principal: PrincipalOption,
    key: PrincipalKeyOption,
    json_output: JsonOption = False,
) -> None:
    """Publish an approved version: it takes effect when its time-lock ends."""
    with acting(context, json_output, principal, key) as (ledger, actor):
        document = policy.publish(ledger, actor, version)
    _print_version(json_output, document)


@app.command("show")
def show(
    context: typer.Context,
    version: Annotated[int | None, typer.Argument(help="Default: the one in force.", min=1)] = None,
    *,
    every: Annotated[bool, typer.Option("--all", help="Every version and its state.")] = False,
    json_output: JsonOption = False,
) -> None:
    """A version with its document, or every version with its state."""
    with reported(json_output), opened(context) as ledger:
        if every:
            listed = policy.versions(ledger, policy.local_reader)
        else:
            shown = policy.show(ledger, policy.local_reader, version)
    if every:
        if json_output:
            write_json({"ok": True, "versions": listed})
            return
        table = new_table("version", "state", "author", "approvals", "effective_at_ns", "rules")
        for row in listed:
            approvals = f"{len(row['approvals'])} of {row['approvals_required']}"
            table.add_row(
                str(row["version"]), row["state"], row["author"], approvals,
                str(row["effective_at_ns"] or ""), str(row["rules"]),
            )  # fmt: skip
        console().print(table)
        return
    _print_version(json_output, shown)


@app.command("simulate")
def simulate(
    context: typer.Context,
    *,
    from_date: Annotated[str, typer.Option("--from", help="YYYY-MM-DD (UTC).")],
    policy_file: Annotated[
        Path | None,
        typer.Option("--policy", exists=True, dir_okay=False, help="A policy not yet drafted."),
    ] = None,
    version: Annotated[int | None, typer.Option(help="A drafted version.", min=1)] = None,
    json_output: JsonOption = False,
) -> None:
    """Replay the movements since a date against a policy: counts per rule and action, and
    the movements whose outcome would have been different."""
    with reported(json_output), opened(context) as ledger:
        text = None if policy_file is None else _document_bytes(policy_file)
        report = policy.simulate_policy(
            ledger, policy.local_reader, from_date, text=text, version=version
        )
    if json_output:
        write_json(report)
        return
    say(f"{report['movements']} movements since {report['from']} under {report['policy']}; "
        f"{report['changed']} would have gone otherwise")  # fmt: skip
    table = new_table("rule", "movements")
    for rule, count in report["by_rule"].items():
        table.add_row(rule, str(count))
    console().print(table)
    if report["changes"]:
        changes = new_table("transfer", "kind", "pool", "asset", "amount", "before", "after")
        for row in report["changes"]:
            changes.add_row(
                row["transfer_id"], row["kind"], row["pool"], row["asset"], row["amount"],
                _outcome(row["before"]), _outcome(row["after"]),
            )  # fmt: skip
        console().print(changes)


def _outcome(row: dict[str, Any]) -> str:
    return f"{row['action']} ({row['rule'] or 'no rule'})"


def _print_version(json_output: bool, document: dict[str, Any]) -> None:
    if json_output:
        write_json({"ok": True, **document})
        return
    say(
        f"version {document['version']}: {document['state']}, by {document['author']}, "
        f"{len(document['approvals'])} of {document['approvals_required']} approvals"
        + (f", in force from {document['effective_at_ns']}" if document["effective_at_ns"] else "")
    )
