"""``ringfence withdrawals ...``: moving assets out of a pool's wallets (docs/withdrawals.md).

- ``request``: a client's withdrawal (``--client``, ``--destination``), a sweep of residual
  interest (``--kind residual_sweep --destination-wallet HOUSE_WALLET``) or a rebalance
  (``--kind rebalance --destination-wallet WALLET``); decided at once by the policy in force;
- ``approve ID`` / ``reject ID``: by a member of the decision's groups (never the initiator;
  the initiator may reject its own); an approval is signed with the approver's key file, or
  carries a ``--signature`` made elsewhere over what ``instruction ID --approver NAME``
  prints (docs/withdrawals.md);
- ``process``: expire, hold, and move the approved ones along the chain;
- ``show ID``, ``list``: with the decision, its trace and every step.

A command that changes something acts as a principal proven by its key file (``--principal``
and ``--key``); one that reads needs none.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ringfence import bootstrap
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
from ringfence.service import policy, withdrawals
from ringfence.service.approval_keys import approve_withdrawal_with_key_file

name = "withdrawals"
app = typer.Typer(
    help="Withdrawals, sweeps and rebalances: requested, approved, held, paid, posted.",
    no_args_is_help=True,
)

IdArgument = Annotated[str, typer.Argument(help="The withdrawal's id.")]


@app.command("request")
def request(
    context: typer.Context,
    *,
    withdrawal_id: Annotated[str, typer.Option("--id", help="A new id (u128, decimal).")],
    pool: Annotated[str, typer.Option(help="The pool whose wallet pays.")],
    asset: Annotated[str, typer.Option(help="The asset's code.")],
    amount: Annotated[str, typer.Option(help="A decimal string in the asset's major unit.")],
    kind: Annotated[
        str, typer.Option(help="client_withdrawal, residual_sweep or rebalance.")
    ] = "client_withdrawal",
    client: Annotated[str | None, typer.Option(help="Whose withdrawal it is.")] = None,
    wallet: Annotated[
        str | None, typer.Option(help="The paying wallet (default: the pool's hot one).")
    ] = None,
    destination: Annotated[
        str | None, typer.Option(help="The address paid (a client's withdrawal).")
    ] = None,
    destination_wallet: Annotated[
        str | None, typer.Option(help="The firm's wallet paid (a sweep or a rebalance).")
    ] = None,
    principal: PrincipalOption,
    key: PrincipalKeyOption,
    json_output: JsonOption = False,
) -> None:
    """Request a withdrawal; the policy in force decides it at once."""
    body: dict[str, Any] = {
        "id": withdrawal_id, "kind": kind, "pool": pool, "asset": asset, "amount": amount,
    }  # fmt: skip
    given = {"client": client, "wallet": wallet, "destination": destination,
             "destination_wallet": destination_wallet}  # fmt: skip
    body.update({field: value for field, value in given.items() if value is not None})
    with acting(context, json_output, principal, key) as (ledger, actor):
        document = withdrawals.request(ledger, actor, body)
    _print_withdrawal(json_output, document)


@app.command("approve")
def approve(
    context: typer.Context,
    withdrawal_id: IdArgument,
    *,
    principal: PrincipalOption,
    key: ApproverKeyOption = None,
    signature: SignatureOption = None,
    json_output: JsonOption = False,
) -> None:
    """Approve a withdrawal awaiting its quorum, signed with the --key file, or
    given with a --signature made elsewhere (which needs no --key);
    the last approval holds it in the ledger."""
    key_file = None if key is None else str(key)
    with reported(json_output), opened(context) as ledger:
        document = approve_withdrawal_with_key_file(
            ledger, bootstrap.principal_files(), principal, key_file,
            withdrawals.parse_id(withdrawal_id), signature=signature,
        )  # fmt: skip
    _print_withdrawal(json_output, document)


@app.command("instruction")
def instruction(
    context: typer.Context,
    withdrawal_id: IdArgument,
    *,
    approver: ApproverOption,
    decision: Annotated[str, typer.Option(help="approve or reject.")] = "approve",
    json_output: JsonOption = False,
) -> None:
    """Print the approval instruction the approver signs (hex), to sign elsewhere (an HSM, an
    air-gapped key) and give back with approve --signature."""
    with reported(json_output), opened(context) as ledger:
        document = withdrawals.instruction(
            ledger, policy.local_reader, withdrawals.parse_id(withdrawal_id), approver,
            approve=withdrawals.parse_decision(decision),
        )  # fmt: skip
    if json_output:
        write_json(document)
        return
    say(document["instruction"])


@app.command("reject")
def reject(
    context: typer.Context,
    withdrawal_id: IdArgument,
    *,
    principal: PrincipalOption,
    key: PrincipalKeyOption,
    json_output: JsonOption = False,
) -> None:
    """Reject a withdrawal awaiting approval (or withdraw your own): voided."""
    with acting(context, json_output, principal, key) as (ledger, actor):
        document = withdrawals.reject(ledger, actor, withdrawals.parse_id(withdrawal_id))
    _print_withdrawal(json_output, document)


@app.command("process")
def process(
    context: typer.Context,
    *,
    confirmations: Annotated[
        int, typer.Option(help="Blocks before a withdrawal is posted.", min=1)
    ] = withdrawals.confirmations_default,
    principal: PrincipalOption,
    key: PrincipalKeyOption,
    json_output: JsonOption = False,
) -> None:
    """Expire, hold, and move approved withdrawals along the chain as far as they go now."""
    with acting(context, json_output, principal, key) as (ledger, actor):
        report = withdrawals.process(
            ledger, actor, bootstrap.withdrawal_chain(ledger), confirmations
        )
    if json_output:
        write_json(report)
        return
    for what in ("expired", "held", "advanced", "posted", "voided", "waiting"):
        if report[what]:
            say(f"{what}: {report[what]}")


@app.command("show")
def show(
    context: typer.Context, withdrawal_id: IdArgument, json_output: JsonOption = False
) -> None:
    """A withdrawal with its decision, trace, approvals and steps."""
    with reported(json_output), opened(context) as ledger:
        reader = policy.local_reader
        document = withdrawals.show(ledger, reader, withdrawals.parse_id(withdrawal_id))
    _print_withdrawal(json_output, document, full=True)


@app.command("list")
def list_withdrawals(
    context: typer.Context,
    *,
    status: Annotated[str, typer.Option(help="Only those in this status.")] = "",
    client: Annotated[str, typer.Option(help="Only this client's.")] = "",
    cursor: Annotated[str | None, typer.Option(help="From the page after this id.")] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Withdrawals by id, filtered by status and client."""
    with reported(json_output), opened(context) as ledger:
        page = withdrawals.listed(
            ledger, policy.local_reader, status=status, client=client, cursor=cursor, limit=limit
        )
    if json_output:
        write_json({"ok": True, **page})
        return
    table = new_table("id", "kind", "status", "client", "pool", "asset", "amount", "reason")
    for row in page["items"]:
        table.add_row(
            row["id"], row["kind"], row["status"], row["client"] or "", row["pool"], row["asset"],
            row["amount"], row["reason"] or "",
        )  # fmt: skip
    console().print(table)


def _print_withdrawal(json_output: bool, document: dict[str, Any], full: bool = False) -> None:
    if json_output:
        write_json({"ok": True, **document})
        return
    decision = document.get("decision", {})
    say(
        f"withdrawal {document['id']} ({document['kind']}, {document['amount']} "
        f"{document['asset']} from {document['wallet']}): {document['status']}"
        + (f", {document['reason']}" if document["reason"] else "")
    )
    if decision.get("action") == "require" and document["status"] == "awaiting_approval":
        say(f"needs {decision['approvals_required']} of {', '.join(decision.get('groups', []))}"
            + (f" and {decision['senior_approvals_required']} of {decision['senior_group']}"
               if decision.get("senior_approvals_required") else ""))  # fmt: skip
    if full:  # trace lines quote the policy's own words: never read as markup
        for line in decision.get("trace", []):
            console().print(f"  {line}", markup=False, soft_wrap=True)
        for step in document["history"]:
            say(f"  {step['at_ns']} {step['status']}")
