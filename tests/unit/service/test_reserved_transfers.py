"""Staff booking around the withdrawal lifecycle (service/reserved_transfers.py): a
``withdrawal`` or a ``sweep`` sent to the general transfer path, by every role, and the post or
void of a withdrawal's hold under any code; each refused with ``transfer_code_reserved`` and
nothing changed. What stays open (a rebalance between a pool's wallets, a network fee) stays
open, and the ledger's core keeps booking withdrawals for the lifecycle.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.support import HOUSE
from tests.support_policy import ALICE_ADDRESS
from tests.support_withdrawals import ETH, RecordingChain, World, actor
from tests.support_withdrawals import withdrawal_world as build_world

from ringfence.adapters.clock import ManualClock
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import Transfer, TransferCode
from ringfence.service import access_transfers, withdrawals
from ringfence.service.ledger import LedgerService
from ringfence.service.reserved_transfers import withdrawal_of_hold


@pytest.fixture
def world(memory_service: LedgerService, clock: ManualClock) -> World:
    return build_world(memory_service, clock)


def submitted(world: World, who: str, *transfers: dict[str, Any]) -> Result:
    """The code the general path answers ``who`` with; a refusal must change nothing."""
    head = world.ledger.seq
    try:
        answer = access_transfers.submit(world.ledger, actor(who), {"transfers": list(transfers)})
    except InputError as refusal:
        assert world.ledger.seq == head, refusal
        return refusal.code
    assert answer["ok"], answer
    return Result.ok


def transfer(
    transfer_id: int, code: str, debit: int, credit: int, amount: str = "1"
) -> dict[str, Any]:
    return {"id": str(transfer_id), "debit_account": str(debit), "credit_account": str(credit),
            "amount": amount, "code": code}  # fmt: skip


def held(world: World, withdrawal_id: int) -> int:
    """A withdrawal of alice's to her whitelisted address, held at once: its hold's id."""
    body = {"id": str(withdrawal_id), "pool": "main", "asset": "ETH", "amount": "1.5",
            "destination": ALICE_ADDRESS}  # fmt: skip
    shown = withdrawals.request(world.ledger, actor("alice"), body)
    assert shown["status"] == "held"
    return int(shown["hold_transfer"])


@pytest.mark.parametrize("who", ["ops", "alice"])  # the roles that submit transfers
def test_nobody_books_a_withdrawal_on_the_general_path(world: World, who: str) -> None:
    c = world.custodian
    out_of_alice = transfer(900, "withdrawal", c.client("alice", asset="ETH"),
                            c.wallet("main", "ETH"))  # fmt: skip
    assert submitted(world, who, out_of_alice) is Result.transfer_code_reserved


def test_nobody_sweeps_a_pool_on_the_general_path(world: World) -> None:
    c = world.custodian
    sweep = transfer(901, "sweep", c.wallet(HOUSE, "ETH"), c.wallet("main", "ETH"))
    assert submitted(world, "ops", sweep) is Result.transfer_code_reserved


@pytest.mark.parametrize("who", ["ops", "alice"])
@pytest.mark.parametrize("flag", ["post_pending", "void_pending"])
@pytest.mark.parametrize("code", ["withdrawal", "deposit"])
def test_nobody_resolves_a_withdrawals_hold_on_the_general_path(
    world: World, who: str, flag: str, code: str
) -> None:
    hold_id = held(world, 21)
    resolve = {"id": "902", "code": code, "flags": [flag], "pending_id": str(hold_id)}
    assert submitted(world, who, resolve) is Result.transfer_code_reserved
    assert withdrawals.show(world.ledger, actor("ops"), 21)["status"] == "held"
    # The lifecycle still resolves it.
    report = withdrawals.process(world.ledger, actor("ops"), RecordingChain())
    assert [row["id"] for row in report["posted"]] == ["21"]


def test_one_reserved_transfer_refuses_the_whole_request(world: World) -> None:
    c = world.custodian
    deposit = transfer(903, "deposit", c.wallet("main", "ETH"),
                       c.client("bob", asset="ETH"))  # fmt: skip
    out_of_bob = transfer(904, "withdrawal", c.client("bob", asset="ETH"),
                          c.wallet("main", "ETH"))  # fmt: skip
    assert submitted(world, "ops", deposit, out_of_bob) is Result.transfer_code_reserved


def test_a_rebalance_and_a_network_fee_stay_open_to_staff(world: World) -> None:
    """Neither takes value out of the clients' share: a rebalance stays in its pool, a fee
    is bounded by the pool's residual interest (the ledger's coverage rule)."""
    c = world.custodian
    rebalance = transfer(905, "wallet_transfer", c.wallet("main", "ETH"),
                         c.wallet("main", "ETH", which=1))  # fmt: skip
    fee = transfer(906, "network_fee", c.house("network_fees", "ETH"),
                   c.wallet("main", "ETH"), "0.001")  # fmt: skip
    assert submitted(world, "ops", rebalance, fee) is Result.ok
    too_much = transfer(907, "network_fee", c.house("network_fees", "ETH"),
                        c.wallet("main", "ETH"), "5")  # fmt: skip
    answer = access_transfers.submit(world.ledger, actor("ops"), {"transfers": [too_much]})
    assert answer["results"][0]["result"] == Result.pool_coverage_would_break.value


def test_the_ledgers_core_still_books_withdrawals(world: World) -> None:
    c = world.custodian
    booked = Transfer(908, c.client("bob", asset="ETH"), c.wallet("main", "ETH"), ETH,
                      TransferCode.withdrawal)  # fmt: skip
    assert world.ledger.submit([booked]) == [Result.ok]


def test_a_hold_is_found_by_its_id(world: World) -> None:
    hold_id = held(world, 22)
    assert withdrawal_of_hold(world.ledger, hold_id) == 22
    assert withdrawal_of_hold(world.ledger, hold_id + 1) is None
