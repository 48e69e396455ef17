"""A custodian ready to move ETH: the small custodian of ``tests/support.py`` with its ETH
wallets registered (one fixed address each), alice and bob funded, some residual interest in
``main``, staff principals with their test keys, and the policy of ``tests/support_policy.py``
published and in force.

Staff: ``ops`` (operator), ``ann``, ``ben``, ``cat`` (approvers: treasury), ``ceo`` and
``cfo`` (approvers: executives), ``carl`` (compliance) and ``audrey`` (auditor); ``root`` is
the admin.

``RecordingChain`` stands in for the chain side (the ``WithdrawalChain`` port): it records
every call, answers with ids derived from the order, and can be told to refuse a step (an
``InputError``, as a signer refusing a transaction would) or to be unreachable (a
``SourceError``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from tests.support import ADMIN, Custodian, build_custodian, key_seed, principal_for
from tests.support_policy import HOUSE_ADDRESS, policy_text

from ringfence.adapters.clock import ManualClock
from ringfence.core.custody.registry import Chain, Scheme, Wallet
from ringfence.core.custody.spends import SpendOrder
from ringfence.core.errors import InputError, Result, SourceError
from ringfence.core.ledger.model import Transfer, TransferCode
from ringfence.core.principals.records import PrincipalRole, endorse
from ringfence.service import policy
from ringfence.service.access import Actor
from ringfence.service.custody import CustodyService
from ringfence.service.ledger import LedgerService

ETH = 10**18
MAIN_HOT_ADDRESS = "0x8617E340B3D01FA5F11F306F4090FD50E238070D"
MAIN_COLD_ADDRESS = "0xde709f2102306220921060314715629080e2fb77"
STAFF = {
    "ops": PrincipalRole.operator,
    "ann": PrincipalRole.approver,
    "ben": PrincipalRole.approver,
    "cat": PrincipalRole.approver,
    "ceo": PrincipalRole.approver,
    "cfo": PrincipalRole.approver,
    "carl": PrincipalRole.compliance,
    "audrey": PrincipalRole.auditor,
}
ROOT = Actor(ADMIN, PrincipalRole.admin)


def actor(name: str) -> Actor:
    if name in STAFF:
        return Actor(name, STAFF[name])
    if name == ADMIN:
        return ROOT
    return Actor(name, PrincipalRole.client, name)


@dataclass
class World:
    ledger: LedgerService
    clock: ManualClock
    custodian: Custodian


def withdrawal_world(ledger: LedgerService, clock: ManualClock) -> World:
    custodian = build_custodian(ledger)
    changes = [
        endorse(ledger.ledger_id, ADMIN, key_seed(ADMIN), principal_for(name, role))
        for name, role in STAFF.items()
    ]
    assert all(result is Result.ok for result in ledger.change_principals(changes))
    wallets = [
        Wallet("main-hot", Chain.ethereum, Scheme.address, (MAIN_HOT_ADDRESS,), "main", "hot"),
        Wallet("main-cold", Chain.ethereum, Scheme.address, (MAIN_COLD_ADDRESS,), "main", "cold"),
        Wallet("house-hot", Chain.ethereum, Scheme.address, (HOUSE_ADDRESS,), "", "hot"),
    ]
    custody = CustodyService(ledger)
    assert custody.change(wallets, custody_accounts=False) == [Result.ok] * 3
    eth = {"asset": "ETH"}
    to_cold = Transfer(
        4, custodian.wallet("main", "ETH", which=1), custodian.wallet("main", "ETH"),
        10 * ETH, TransferCode.wallet_transfer,
    )  # fmt: skip
    results = ledger.submit(
        [
            custodian.deposit(1, "alice", 20 * ETH, **eth),
            custodian.deposit(2, "bob", 20 * ETH, **eth),
            custodian.fee(3, "alice", 4 * ETH, **eth),  # stays in main's wallet: residual
            to_cold,
        ]
    )
    assert results == [Result.ok] * 4, results
    publish_policy(ledger, clock, policy_text())
    clock.advance(seconds=60)  # the whitelist's cool-down
    return World(ledger, clock, custodian)


def publish_policy(ledger: LedgerService, clock: ManualClock, text: bytes) -> int:
    """Draft ``text`` as root, approve it by ann and ben, publish it, and wait out its
    time-lock; returns the version."""
    version = int(policy.draft(ledger, ROOT, text)["version"])
    policy.approve(ledger, actor("ann"), version)
    policy.approve(ledger, actor("ben"), version)
    published = policy.publish(ledger, ROOT, version)
    clock.advance(seconds=(int(published["effective_at_ns"]) - clock.now_ns()) // 10**9 + 1)
    return version


@dataclass
class RecordingChain:
    """The chain side as a test double: records calls, refuses on request."""

    calls: list[tuple[str, str]] = field(default_factory=list)
    refuse: dict[str, Result] = field(default_factory=dict)  # step -> the code it refuses with
    unreachable: set[str] = field(default_factory=set)
    confirmations_seen: int = 6
    fee: int = 0  # what the chain took, in the native asset's minor units

    def _call(self, step: str, order: SpendOrder) -> None:
        self.calls.append((step, order.withdrawal_id))
        if step in self.unreachable:
            raise SourceError(f"{step}: the node does not answer")
        if step in self.refuse:
            raise InputError(self.refuse[step], f"{step} of {order.withdrawal_id}")

    def build(self, order: SpendOrder) -> str:
        self._call("build", order)
        return "spend-" + hashlib.sha256(repr(order).encode()).hexdigest()[:16]

    def sign(self, order: SpendOrder, spend_id: str) -> None:
        self._call("sign", order)

    def broadcast(self, order: SpendOrder, spend_id: str) -> str:
        self._call("broadcast", order)
        return "0x" + hashlib.sha256(spend_id.encode()).hexdigest()

    def confirmations(self, order: SpendOrder, txid: str) -> int:
        self._call("confirmations", order)
        return self.confirmations_seen

    def fee_paid(self, order: SpendOrder, txid: str) -> int:
        self._call("fee_paid", order)
        return self.fee

    def abandon(self, order: SpendOrder, spend_id: str) -> None:
        self._call("abandon", order)
