"""The clients' side of the demo's day: deposits (small to whale), internal transfers between
clients of one pool (each signed by its payer), custody fees, withdrawals (some two-phase:
posted in full or in part, voided, left to expire) and a client moving between pools.

Each function returns the transfers to submit and updates the balances the world expects, so
that the day can be checked against the ledger at its end. Amounts are built from integers
only (a decade drawn, then ``randrange`` inside it); shares of balances are rounded down.
"""

from __future__ import annotations

import random

from ringfence.core.errors import Result
from ringfence.core.ledger.model import PoolKind, Terms, Transfer, TransferCode, TransferFlags
from ringfence.core.money import mul_div_floor
from ringfence.demo.world import AssetPlan, Pending, World
from ringfence.service.ledger import LedgerService

internal_transfer_percent = 10  # of a pool's accounts pay another client of the pool
withdrawal_percent = 15  # of all client accounts withdraw part of their balance
fee_bps = 25  # the day's custody fee, in basis points of the balance, rounded down
pending_withdrawals_per_accounts = 200  # one two-phase withdrawal per this many accounts
pending_withdrawals_min = 4  # posted in part, posted in full, voided, left to expire
pending_timeout_s = 3_600  # a withdrawal held for an hour of compliance review

_deposit = TransferCode.deposit
_withdrawal = TransferCode.withdrawal
_ok = Result.ok


def draw_amount(rng: random.Random, plan: AssetPlan) -> int:
    """Log-uniform-ish, from integers only: a decade (the smaller of two draws, so small
    deposits outnumber whales), then any amount inside it."""
    low, high = plan.deposit_exponent_min, plan.deposit_exponent_max
    exponent = min(rng.randrange(low, high), rng.randrange(low, high))
    return rng.randrange(10**exponent, 10 ** (exponent + 1))


def deposits(world: World) -> list[Transfer]:
    """One or two deposits per client account into its pool's hot wallet."""
    rng = world.rng
    events = []
    for holding in world.holdings:
        plan = world.plans[holding.asset]
        hot = world.wallets[(holding.pool, holding.asset)]["hot"]
        for _ in range(1 + rng.randrange(2)):
            amount = draw_amount(rng, plan)
            holding.balance += amount
            events.append(Transfer(world.transfer_id(), hot, holding.account, amount, _deposit))
    world.first_deposit = events[0]
    return events


def whale_deposit(world: World) -> list[Transfer]:
    """In the afternoon, after every client outflow of the day, the first client deposits
    25 ETH and some wei: a balance no u64 can hold stays on the books at close."""
    whale = world.positions[("omni-1", "ETH")][0]
    amount = 25 * 10**18 + world.rng.randrange(10**18)
    assert amount > 2**64
    whale.balance += amount
    hot = world.wallets[("omni-1", "ETH")]["hot"]
    return [Transfer(world.transfer_id(), hot, whale.account, amount, _deposit)]


def internal_transfers(world: World) -> list[Transfer]:
    """Clients of one omnibus custody pool pay each other, each payment authorised by its payer."""
    rng = world.rng
    events = []
    for (pool, _), holdings in world.positions.items():
        if world.pools[pool].terms is not Terms.custody or len(holdings) < 2:
            continue
        count = max(1, len(holdings) * internal_transfer_percent // 100)
        for payer_index in rng.sample(range(len(holdings)), count):
            payee_index = rng.randrange(len(holdings) - 1)
            payee_index += payee_index >= payer_index  # anyone but the payer
            payer, payee = holdings[payer_index], holdings[payee_index]
            amount = mul_div_floor(payer.balance, rng.randrange(1, 51), 100)
            if amount == 0:
                continue
            payer.balance -= amount
            payee.balance += amount
            events.append(
                Transfer(
                    world.transfer_id(),
                    payer.account,
                    payee.account,
                    amount,
                    TransferCode.internal_transfer,
                    authorised_by=payer.client,
                )
            )
    return events


def fees(world: World) -> list[Transfer]:
    """The day's custody fee from every account large enough to owe one unit: it becomes the
    pool's residual interest until swept."""
    events = []
    for holding in world.holdings:
        fee = mul_div_floor(holding.balance, fee_bps, 10_000)
        if fee == 0:
            continue
        holding.balance -= fee
        revenue = world.house[(holding.asset, "revenue")]
        events.append(
            Transfer(world.transfer_id(), holding.account, revenue, fee, TransferCode.fee)
        )
    return events


def withdrawals(world: World) -> list[Transfer]:
    """Some clients take out between a tenth and all of what they hold, from the hot wallet."""
    rng = world.rng
    events = []
    count = len(world.holdings) * withdrawal_percent // 100
    for index in sorted(rng.sample(range(len(world.holdings)), count)):
        holding = world.holdings[index]
        amount = mul_div_floor(holding.balance, rng.randrange(10, 101), 100)
        if amount == 0:
            continue
        holding.balance -= amount
        hot = world.wallets[(holding.pool, holding.asset)]["hot"]
        events.append(Transfer(world.transfer_id(), holding.account, hot, amount, _withdrawal))
    return events


def pending_withdrawals(world: World) -> list[Pending]:
    """Withdrawals held for review: half the balance each; the last one has a timeout."""
    rng = world.rng
    candidates = [holding for holding in world.holdings if holding.balance >= 4]
    count = max(pending_withdrawals_min, len(world.holdings) // pending_withdrawals_per_accounts)
    chosen = rng.sample(candidates, min(count, len(candidates)))
    assert len(chosen) >= pending_withdrawals_min
    pendings = []
    for index, holding in enumerate(chosen):
        timeout_s = pending_timeout_s if index == len(chosen) - 1 else 0
        amount = mul_div_floor(holding.balance, 1, 2)
        holding.balance -= amount
        hot = world.wallets[(holding.pool, holding.asset)]["hot"]
        event = Transfer(
            world.transfer_id(),
            holding.account,
            hot,
            amount,
            _withdrawal,
            TransferFlags.pending,
            timeout_s=timeout_s,
        )
        pendings.append(Pending(event, holding))
    world.timed = pendings[-1]
    return pendings


def resolve_pendings(world: World, pendings: list[Pending]) -> list[Transfer]:
    """The first is posted in part (the rest goes back to the client), the next ones in full,
    the second to last is voided; the last is left alone with its timeout running."""
    events = []
    for index, pending in enumerate(pendings[:-1]):
        held = pending.event.amount
        assert held is not None
        amount: int | None = None
        flags = TransferFlags.post_pending
        if index == 0:
            amount = mul_div_floor(held, 1, 2)
            pending.holding.balance += held - amount
        elif index == len(pendings) - 2:
            flags = TransferFlags.void_pending
            pending.holding.balance += held
        events.append(
            Transfer(
                world.transfer_id(), 0, 0, amount, _withdrawal, flags, pending_id=pending.event.id
            )
        )
    return events


def move_between_pools(ledger: LedgerService, world: World) -> list[Transfer]:
    """A client leaves one omnibus pool for another: the withdrawal from the first and the
    deposit into the second are a linked pair, so the client is never in neither or both."""
    rng = world.rng
    omnibus = [
        pool.name
        for pool in world.pools.values()
        if pool.kind is PoolKind.omnibus and pool.terms is Terms.custody
    ]
    candidates = [
        holding
        for holding in world.holdings
        if holding.pool in omnibus
        and holding.balance > 0
        and (holding.pool, holding.asset) != world.target
    ]
    mover = rng.choice(candidates)
    destination = omnibus[(omnibus.index(mover.pool) + 1) % len(omnibus)]
    arrival = world.hold(mover.client, destination, mover.asset)
    results = ledger.define_accounts([world.accounts[-1]])
    if results != [_ok]:
        raise AssertionError(f"move between pools: account came back {results[0].value}")
    amount = mover.balance
    mover.balance, arrival.balance = 0, amount
    source_hot = world.wallets[(mover.pool, mover.asset)]["hot"]
    target_hot = world.wallets[(destination, mover.asset)]["hot"]
    return [
        Transfer(
            world.transfer_id(),
            mover.account,
            source_hot,
            amount,
            _withdrawal,
            TransferFlags.linked,
        ),
        Transfer(world.transfer_id(), target_hot, arrival.account, amount, _deposit),
    ]
