"""What ``process`` decides again just before a signature (service/withdrawal_checks.py), and
what it retries after: a destination the whitelist dropped, or that became the firm's own,
between the approval and the signature; a network fee the house's residual interest cannot
cover, at the boundary and with other withdrawals signed; the spend of a voided withdrawal
whose first release failed.

Each refusal must void the withdrawal and its hold, sign nothing, and hand the client its
balance back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from tests.support_policy import ALICE_ADDRESS, OTHER_ADDRESS, POLICY, policy_text
from tests.support_withdrawals import ETH, RecordingChain, World, actor, publish_policy
from tests.support_withdrawals import withdrawal_world as build_world

from ringfence.adapters.clock import ManualClock
from ringfence.core.custody.registry import Chain, Scheme, Wallet
from ringfence.core.custody.spends import SpendOrder
from ringfence.core.errors import Result, SourceError
from ringfence.core.ledger.model import Transfer, TransferCode
from ringfence.service import withdrawals
from ringfence.service.custody import CustodyService
from ringfence.service.ledger import LedgerService

FEE_MAX = ETH // 100  # the policy's bound on an ETH fee (tests/support_policy.py)


@pytest.fixture
def world(memory_service: LedgerService, clock: ManualClock) -> World:
    return build_world(memory_service, clock)


def body(withdrawal_id: int, destination: str = ALICE_ADDRESS) -> dict[str, Any]:
    return {"id": str(withdrawal_id), "pool": "main", "asset": "ETH", "amount": "1.5",
            "destination": destination}  # fmt: skip


def available(world: World, client: str = "alice") -> int:
    state = world.ledger.ledger.accounts[world.custodian.client(client, asset="ETH")]
    return state.credits_posted - state.debits_posted - state.debits_pending


def shown(world: World, withdrawal_id: int) -> dict[str, Any]:
    return withdrawals.show(world.ledger, actor("ops"), withdrawal_id)


def signed(chain: RecordingChain) -> list[str]:
    return [withdrawal for step, withdrawal in chain.calls if step == "sign"]


def refused_before_signing(world: World, withdrawal_id: int, code: Result) -> RecordingChain:
    """Process once: the withdrawal is built, refused with ``code``, voided with its hold and
    its spend given up; nothing signed; alice has her balance back."""
    chain = RecordingChain()
    report = withdrawals.process(world.ledger, actor("ops"), chain)
    assert report["voided"] == [{"id": str(withdrawal_id), "reason": code.value}]
    assert signed(chain) == []
    assert ("abandon", str(withdrawal_id)) in chain.calls
    after = shown(world, withdrawal_id)
    assert (after["status"], after["reason"]) == ("voided", code.value)
    assert after["void_transfer"] is not None
    assert available(world) == 16 * ETH
    return chain


# ---------------------------------------------------------------------- the destination


def test_a_destination_the_whitelist_dropped_after_the_approval_is_not_paid(world: World) -> None:
    withdrawals.request(world.ledger, actor("alice"), body(41))  # whitelisted: held at once
    assert shown(world, 41)["status"] == "held"
    entries = [e for e in POLICY["whitelist"]["entries"] if e["address"] != ALICE_ADDRESS]
    publish_policy(world.ledger, world.clock, policy_text(
        whitelist={"cool_down_s": 60, "entries": entries}
    ))  # fmt: skip
    refused_before_signing(world, 41, Result.withdrawal_destination_not_allowed)


def test_a_destination_still_whitelisted_by_a_new_version_is_paid(world: World) -> None:
    withdrawals.request(world.ledger, actor("alice"), body(42))
    publish_policy(world.ledger, world.clock, policy_text(approval_timeout_s=3600))
    chain = RecordingChain()
    report = withdrawals.process(world.ledger, actor("ops"), chain)
    assert [row["id"] for row in report["posted"]] == ["42"]
    assert signed(chain) == ["42"]


def test_a_destination_that_became_the_firms_own_is_not_paid(world: World) -> None:
    withdrawals.request(world.ledger, actor("alice"), body(43, OTHER_ADDRESS))
    withdrawals.approve(world.ledger, actor("ann"), 43)  # not whitelisted: one of treasury
    assert shown(world, 43)["status"] == "held"
    custody = CustodyService(world.ledger)
    new_wallet = Wallet("house-new", Chain.ethereum, Scheme.address, (OTHER_ADDRESS,), "", "hot")
    assert custody.change([new_wallet]) == [Result.ok]
    refused_before_signing(world, 43, Result.withdrawal_destination_not_allowed)


# ---------------------------------------------------------------------- the network fee


def leave_residual_interest(world: World, units: int) -> None:
    """Book network fees out of main's ETH wallet until its residual interest is ``units``."""
    c = world.custodian
    position = world.ledger.ledger.positions[("main", world.ledger.ledger.assets["ETH"].number)]
    spent = position.excess_worst - units
    fee = Transfer(950, c.house("network_fees", "ETH"), c.wallet("main", "ETH"), spent,
                   TransferCode.network_fee)  # fmt: skip
    assert world.ledger.submit([fee]) == [Result.ok]
    assert position.excess_worst == units


@pytest.mark.parametrize(("residual", "signs"), [(FEE_MAX, True), (FEE_MAX - 1, False)])
def test_the_fees_bound_must_be_covered_by_the_residual_interest(
    world: World, residual: int, signs: bool
) -> None:
    withdrawals.request(world.ledger, actor("alice"), body(51))
    leave_residual_interest(world, residual)
    if not signs:
        refused_before_signing(world, 51, Result.network_fee_exceeds_residual_interest)
        return
    chain = RecordingChain(fee=FEE_MAX)
    report = withdrawals.process(world.ledger, actor("ops"), chain)
    assert report["posted"][0]["network_fee_result"] == "ok"
    assert signed(chain) == ["51"]


def test_the_bounds_of_withdrawals_signed_and_not_posted_count(world: World) -> None:
    withdrawals.request(world.ledger, actor("alice"), body(52))
    leave_residual_interest(world, FEE_MAX + FEE_MAX // 2)
    waiting = RecordingChain(confirmations_seen=0)  # 52 is signed and sent, not yet mined
    withdrawals.process(world.ledger, actor("ops"), waiting)
    assert shown(world, 52)["status"] == "broadcast"
    withdrawals.request(world.ledger, actor("alice"), body(53))
    chain = RecordingChain(confirmations_seen=0)
    report = withdrawals.process(world.ledger, actor("ops"), chain)
    assert report["voided"] == [
        {"id": "53", "reason": Result.network_fee_exceeds_residual_interest.value}
    ]
    assert signed(chain) == []


# ---------------------------------------------------------------------- a spend kept


@dataclass
class AbandonFailsOnce(RecordingChain):
    failed: bool = False

    def abandon(self, order: SpendOrder, spend_id: str) -> None:
        self.calls.append(("abandon", order.withdrawal_id))
        if not self.failed:
            self.failed = True
            raise SourceError("the spend store does not answer")


def test_a_spend_whose_release_failed_is_released_by_the_next_pass(world: World) -> None:
    withdrawals.request(world.ledger, actor("alice"), body(61))
    chain = AbandonFailsOnce(refuse={"sign": Result.spend_fee_exceeds_bound})
    first = withdrawals.process(world.ledger, actor("ops"), chain)
    assert first["voided"] == [{"id": "61", "reason": "spend_fee_exceeds_bound"}]
    assert [row["id"] for row in first["waiting"]] == ["61"]
    assert first["released"] == []
    chain.refuse.clear()
    second = withdrawals.process(world.ledger, actor("ops"), chain)
    assert [row["id"] for row in second["released"]] == ["61"]
    assert chain.calls.count(("abandon", "61")) == 2
    third = withdrawals.process(world.ledger, actor("ops"), chain)
    assert third["released"] == []
    assert chain.calls.count(("abandon", "61")) == 2  # released once, journaled: never again
