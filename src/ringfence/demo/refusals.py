"""What the demo's ledger must refuse, and the code each refusal must come back with.

Client assets may not reach the house, another client or another pool; an internal transfer
needs its payer's signature; a sweep may not take clients' assets; a retry with another body is
refused; a linked chain commits or fails whole; a pending withdrawal cannot be posted after its
timeout. Each refusal is submitted as a batch of its own (``refuse``) and must get exactly its
code, else the demo raises ``AssertionError``; the report lists them with their codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from ringfence.core.errors import Result
from ringfence.core.ledger.model import PoolKind, Terms, Transfer, TransferCode, TransferFlags
from ringfence.demo.world import Holding, Progress, World, signed
from ringfence.service.ledger import LedgerService

_deposit = TransferCode.deposit
_withdrawal = TransferCode.withdrawal


@dataclass(frozen=True, slots=True)
class Refusal:
    """Events the ledger must refuse, the codes they must get, and the code the report shows."""

    what: str
    events: tuple[Transfer, ...]
    expected: tuple[Result, ...]


def refuse(
    ledger: LedgerService, world: World, refusals: Sequence[Refusal], report: Progress
) -> None:
    """Submit each refusal as a batch of its own; each event must get exactly its code.

    One batch per refusal keeps each check independent of the others: a failed linked chain,
    for one, must not decide what happens to the events after it.
    """
    for done, refusal in enumerate(refusals):
        report("refusals", done, len(refusals))
        results = ledger.submit(refusal.events)
        for event, result, code in zip(refusal.events, results, refusal.expected, strict=True):
            if result is not code:
                raise AssertionError(
                    f"refusals: transfer {event.id} ({event.code.name}) came back "
                    f"{result.value}, expected {code.value}"
                )
        if not refusal.expected[0].succeeded:
            world.refusals.append({"what": refusal.what, "code": refusal.expected[0].value})
    report("refusals", len(refusals), len(refusals))


def staged_refusals(ledger: LedgerService, world: World, expired: bool) -> list[Refusal]:
    """Events a segregated ledger must refuse, each with the code that names the reason."""
    payer, payee = _two_clients(world)
    refusals = [
        *_boundary_refusals(ledger, world, payer, payee),
        *_authorisation_refusals(ledger, world, payer, payee),
        _oversized_sweep(ledger, world),
        *_idempotency_refusals(world),
        _chain_refusal(ledger, world, payer, payee),
    ]
    if expired:
        assert world.timed is not None
        late = Transfer(
            world.transfer_id(),
            0,
            0,
            None,
            _withdrawal,
            TransferFlags.post_pending,
            pending_id=world.timed.event.id,
        )
        refusals.append(
            Refusal(
                "A pending withdrawal posted after its timeout",
                (late,),
                (Result.pending_transfer_expired,),
            )
        )
    return refusals


def _boundary_refusals(
    ledger: LedgerService, world: World, payer: Holding, payee: Holding
) -> list[Refusal]:
    """Client assets may not reach the house, another client or another pool."""
    new = world.transfer_id
    asset = payer.asset
    hot = world.wallets[(payer.pool, asset)]["hot"]
    other_pool = next(
        pool.name
        for pool in world.pools.values()
        if pool.kind is PoolKind.omnibus and pool.terms is Terms.custody and pool.name != payer.pool
    )
    other_hot = world.wallets[(other_pool, asset)]["hot"]
    house_wallet = world.house[(asset, "wallet")]
    loans = world.house[(asset, "loans")]
    internal = TransferCode.internal_transfer
    return [
        Refusal(
            "A client's withdrawal booked to a house wallet",
            (Transfer(new(), payer.account, house_wallet, 1, _withdrawal),),
            (Result.client_to_house_forbidden,),
        ),
        Refusal(
            "A withdrawal of one unit more than the client has available",
            (Transfer(new(), payer.account, hot, payer.balance + 1, _withdrawal),),
            (Result.exceeds_available_balance,),
        ),
        Refusal(
            "A client's assets moved to another client on that other client's say-so",
            (
                signed(
                    ledger,
                    world,
                    Transfer(
                        new(), payer.account, payee.account, 1, internal, authorised_by=payee.client
                    ),
                ),
            ),
            (Result.authorisation_not_by_debit_client,),
        ),
        Refusal(
            "A deposit from one pool's wallet credited to a client of another pool",
            (Transfer(new(), other_hot, payer.account, 1, _deposit),),
            (Result.cross_pool_forbidden,),
        ),
        Refusal(
            "Custody clients' assets lent to the house",
            (Transfer(new(), loans, hot, 1, TransferCode.loan_out),),
            (Result.pool_terms_forbid_code,),
        ),
    ]


def _authorisation_refusals(
    ledger: LedgerService, world: World, payer: Holding, payee: Holding
) -> list[Refusal]:
    """An internal transfer needs the payer's signature, not the payer's name: a bare name, a
    signature by another key, or the payer's signature of another instruction is refused."""
    internal = TransferCode.internal_transfer

    def payment(amount: int) -> Transfer:
        return Transfer(
            world.transfer_id(),
            payer.account,
            payee.account,
            amount,
            internal,
            authorised_by=payer.client,
        )

    signed_for_one = signed(ledger, world, payment(1))
    return [
        Refusal(
            "An internal transfer that names its payer but carries no signature",
            (payment(1),),
            (Result.authorisation_signature_required,),
        ),
        Refusal(
            "An internal transfer in the payer's name signed with the payee's key",
            (signed(ledger, world, payment(1), by=payee.client),),
            (Result.authorisation_signature_invalid,),
        ),
        Refusal(
            "The payer's signature of one unit copied onto a payment of two",
            (replace(payment(2), authorisation=signed_for_one.authorisation),),
            (Result.authorisation_signature_invalid,),
        ),
    ]


def _idempotency_refusals(world: World) -> list[Refusal]:
    """A retry is acknowledged as ``exists``; the same id with another body is refused."""
    deposit = world.first_deposit
    assert deposit is not None
    assert deposit.amount is not None
    altered = Transfer(
        deposit.id, deposit.debit_account, deposit.credit_account, deposit.amount + 1, _deposit
    )
    return [
        Refusal(
            "A deposit retried under its id with a different amount",
            (altered,),
            (Result.exists_with_different_amount,),
        ),
        # Not a refusal (the report lists only those): the unchanged retry changes nothing.
        Refusal("A deposit retried unchanged", (deposit,), (Result.exists,)),
    ]


def _chain_refusal(ledger: LedgerService, world: World, payer: Holding, payee: Holding) -> Refusal:
    """A linked chain commits or fails whole: a sound first leg fails with an unsound second."""
    hot = world.wallets[(payer.pool, payer.asset)]["hot"]
    first = signed(
        ledger,
        world,
        Transfer(
            world.transfer_id(),
            payer.account,
            payee.account,
            1,
            TransferCode.internal_transfer,
            TransferFlags.linked,
            authorised_by=payer.client,
        ),
    )
    second = Transfer(world.transfer_id(), payer.account, hot, payer.balance + 1, _withdrawal)
    return Refusal(
        "A linked pair whose second leg overdraws: the first leg is undone with it",
        (first, second),
        (Result.linked_event_failed, Result.exceeds_available_balance),
    )


def _two_clients(world: World) -> tuple[Holding, Holding]:
    """Two clients of one omnibus custody pool, in one asset, each with something to move."""
    for (pool, _), holdings in world.positions.items():
        if world.pools[pool].terms is not Terms.custody:
            continue
        funded = [holding for holding in holdings if holding.balance >= 2]
        if len(funded) >= 2:
            payer, payee = world.rng.sample(funded, 2)
            return payer, payee
    raise AssertionError("no omnibus custody pool has two funded clients")


def _oversized_sweep(ledger: LedgerService, world: World) -> Refusal:
    """A sweep one unit above a pool's residual interest would take clients' assets."""
    codes = {plan.asset.number: code for code, plan in world.plans.items()}
    for position in ledger.positions():
        key = (position.pool.name, codes[position.asset])
        if not position.enforced or key == world.target or position.liabilities == 0:
            continue
        amount = position.excess_worst + 1
        event = Transfer(
            world.transfer_id(),
            world.house[(key[1], "wallet")],
            world.wallets[key]["hot"],
            amount,
            TransferCode.sweep,
        )
        return Refusal(
            "A sweep of one unit more than the pool's residual interest",
            (event,),
            (Result.pool_coverage_would_break,),
        )
    raise AssertionError("no custody pool owes its clients anything")
