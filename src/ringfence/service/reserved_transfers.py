"""What the general transfer paths refuse: the movements only the withdrawal lifecycle books.

A ``withdrawal`` (a client's assets out of its pool) and a ``sweep`` (the house's residual
interest out of a pool) are booked only by the lifecycle (service/withdrawals.py), after the
policy, the quorum and the signer. Sent by anyone, whatever the role, to a general path — the
REST API's ``POST /v1/transfers`` (and ``ringfence.remote``, which speaks it), the CLI's
``transfers submit`` — they are refused (``transfer_code_reserved``), and so is the post or
void of a withdrawal's hold, whatever code it names: posted around the lifecycle, a hold books
a payment the chain never made; voided once the transaction is on its way, it hands back a
balance the chain is paying out, and the pool's other clients pay for the same coins twice.
``LedgerService.submit``, the ledger's core, keeps accepting them: the lifecycle books
through it.

Left open, on purpose: ``wallet_transfer`` (between two wallets of one pool, or of the house:
what the pool holds and owes is unchanged) and ``network_fee`` (from a wallet to the house's
network fees, bounded by the ledger's pool coverage, so never out of the clients' share; it is
how a fee the ledger refused when its withdrawal was posted is booked by hand).
"""

from __future__ import annotations

from typing import Final

from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import Transfer, TransferCode, TransferFlags
from ringfence.service.ledger import LedgerService
from ringfence.service.ledger.lines import LinesDurable, submit_transfer_lines
from ringfence.service.policy import books
from ringfence.service.ports import LineSource

__all__ = ["refuse_reserved", "reserved_codes", "submit_transfer_file", "withdrawal_of_hold"]

reserved_codes: Final = frozenset({TransferCode.withdrawal, TransferCode.sweep})
_resolving: Final = TransferFlags.post_pending | TransferFlags.void_pending


def withdrawal_of_hold(ledger: LedgerService, pending_id: int) -> int | None:
    """The withdrawal whose hold ``pending_id`` is, or None (an indexed lookup)."""
    return books(ledger).withdrawals.holds.get(pending_id)


def refuse_reserved(ledger: LedgerService, transfer: Transfer) -> None:
    """``transfer_code_reserved`` for a transfer only the lifecycle may book."""
    if transfer.code in reserved_codes:
        raise InputError(
            Result.transfer_code_reserved,
            f"transfer {transfer.id}: a {transfer.code.name} is booked by the withdrawal "
            "lifecycle: request it (POST /v1/withdrawals, `ringfence withdrawals request`)",
        )
    if transfer.flags & _resolving and transfer.pending_id:
        withdrawal = withdrawal_of_hold(ledger, transfer.pending_id)
        if withdrawal is not None:
            raise InputError(
                Result.transfer_code_reserved,
                f"pending_id {transfer.pending_id} holds withdrawal {withdrawal}: "
                "its lifecycle posts or voids it",
            )


def submit_transfer_file(ledger: LedgerService, source: LineSource, durable: LinesDurable) -> int:
    """``transfers submit``: the lines of a JSONL file submitted (ledger/lines.py), each
    reserved transfer refused with its line's code."""

    def screen(transfer: Transfer) -> None:
        refuse_reserved(ledger, transfer)

    return submit_transfer_lines(ledger, source, durable, screen=screen)
