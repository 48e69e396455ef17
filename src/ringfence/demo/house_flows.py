"""The house's side of the demo's day: its own capital into its hot wallets, sweeps of its
residual interest out of the custody pools, a loan out of the title-transfer earn pool, a
misdirected deposit (which opens a break) and its half cure, time passing past a pending
withdrawal's timeout, and the end-of-day rebalancing from hot to warm and cold wallets.

Shares of balances (a sweep, a loan, a rebalancing) are rounded down: the house never moves
more than the share it means to.
"""

from __future__ import annotations

from ringfence.core.ledger.model import Transfer, TransferCode
from ringfence.core.money import mul_div_floor
from ringfence.demo.client_flows import pending_timeout_s
from ringfence.demo.world import World
from ringfence.service.ledger import LedgerService

sweep_percent = 75  # of the residual interest swept out; the rest stays as a buffer
cold_percent = 70  # of a hot wallet's free holdings moved to cold storage at end of day
warm_percent = 20
loan_percent = 50  # of the earn pool's BTC lent to the house


def house_funding(world: World) -> list[Transfer]:
    """The house puts its own capital into its hot wallets (to fund cures and fees later)."""
    return [
        Transfer(
            world.transfer_id(),
            world.house[(code, "wallet")],
            world.house[(code, "capital")],
            plan.house_funding_units,
            TransferCode.house_funding,
        )
        for code, plan in world.plans.items()
    ]


def sweeps(ledger: LedgerService, world: World) -> list[Transfer]:
    """The house takes its residual interest (the fees) out of each custody pool, leaving a
    buffer; the misdirected deposit's pool is swept bare, so its break will show as a
    shortfall."""
    codes = {plan.asset.number: code for code, plan in world.plans.items()}
    events = []
    for position in ledger.positions():
        if not position.enforced:
            continue
        key = (position.pool.name, codes[position.asset])
        excess = position.excess_worst
        amount = excess if key == world.target else mul_div_floor(excess, sweep_percent, 100)
        if amount <= 0:
            continue
        events.append(
            Transfer(
                world.transfer_id(),
                world.house[(key[1], "wallet")],
                world.wallets[key]["hot"],
                amount,
                TransferCode.sweep,
            )
        )
    return events


def loan_out(ledger: LedgerService, world: World) -> list[Transfer]:
    """Half the earn pool's BTC is lent to the house: allowed only because earn clients gave
    up title (the Celsius Earn story, which the report shows as not segregated)."""
    hot = world.wallets[("earn", "BTC")]["hot"]
    amount = mul_div_floor(ledger.balance(hot).balance, loan_percent, 100)
    assert amount > 0
    loans = world.house[("BTC", "loans")]
    return [Transfer(world.transfer_id(), loans, hot, amount, TransferCode.loan_out)]


def misdirect(world: World) -> tuple[Transfer, Transfer]:
    """A client of the target pool sends funds to a house wallet by mistake: the ledger records
    the client's claim (opening a break, as the pool is now short) and the house makes half of
    it good by moving its own coins into the pool's cold wallet."""
    pool, code = world.target
    victim = world.rng.choice(world.positions[world.target])
    # A sizeable sum (for BTC, 1 to 10 coins): the kind of mistake a report must not bury.
    exponent_max = world.plans[code].deposit_exponent_max
    amount = world.rng.randrange(10 ** (exponent_max - 3), 10 ** (exponent_max - 2))
    victim.balance += amount
    house_wallet = world.house[(code, "wallet")]
    misdirected = Transfer(
        world.transfer_id(), house_wallet, victim.account, amount, TransferCode.misdirected_deposit
    )
    cure = Transfer(
        world.transfer_id(),
        world.wallets[(pool, code)]["cold"],
        house_wallet,
        mul_div_floor(amount, 1, 2),
        TransferCode.break_cure,
        reference=misdirected.id,
    )
    return misdirected, cure


def let_time_pass(ledger: LedgerService, world: World) -> bool:
    """Move a hand-driven clock past the pending timeout; say so when the clock cannot move."""
    advance = getattr(ledger.clock, "advance", None)
    if not callable(advance):
        world.notes.append(
            f"One pending withdrawal has a timeout of {pending_timeout_s} s and is still open: "
            "the ledger's clock cannot be moved by hand, so the demo does not wait for it to "
            "expire."
        )
        return False
    advance(seconds=pending_timeout_s + 1)
    # The next batch, whatever it holds, releases the hold before any of its events is decided.
    timed = world.timed
    assert timed is not None
    assert timed.event.amount is not None
    timed.holding.balance += timed.event.amount
    world.notes.append(
        f"The clock was moved forward {pending_timeout_s + 1} s so that the pending withdrawal "
        f"with a {pending_timeout_s} s timeout expired, and its amount went back to the client."
    )
    return True


def rebalance(ledger: LedgerService, world: World) -> list[Transfer]:
    """End of day: most of each hot wallet's free holdings go to warm and cold storage."""
    events = []
    for tiers in world.wallets.values():
        hot = tiers["hot"]
        balance = ledger.balance(hot)
        free = balance.balance - balance.credits_pending  # pending withdrawals stay payable
        for tier, percent in (("cold", cold_percent), ("warm", warm_percent)):
            amount = mul_div_floor(free, percent, 100)
            if tier in tiers and amount > 0:
                events.append(
                    Transfer(
                        world.transfer_id(), tiers[tier], hot, amount, TransferCode.wallet_transfer
                    )
                )
    return events
