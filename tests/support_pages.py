"""The console's and the portal's test world, built in process through the services: the
small custodian of ``tests/support.py`` with its wallets registered, a week of daily
reconciliations of pool ``main`` (21,212 BTC owed) whose last day finds ``main-hot`` short by
2.59 BTC on chain (a break, and the pool undersegregated), a proof-of-reserves round built
with insufficient reserves (no wallet proved its control, so none counts), and an API key for
each staff role and for the clients alice and bob.

Withdrawals: the policy of tests/support_policy.py in force, and two withdrawals awaiting
approval: ``LARGE`` (2 BTC of alice's, asked by the operator ``ops``: two of treasury) and
``SMALL`` (0.5 BTC, asked by alice herself: one of treasury). ``ops``, ``ann`` and ``ben``
(treasury approvers) have keys of their own, named like them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tests.support import (
    ADMIN,
    MAIN,
    Custodian,
    btc_address,
    build_custodian,
    journal_signer,
    key_seed,
    principal_for,
)
from tests.support_api import STAFF_ROLES, fast_hasher
from tests.support_policy import policy_text
from tests.support_withdrawals import STAFF, actor, publish_policy

from ringfence import bootstrap
from ringfence.adapters.clock import ManualClock
from ringfence.adapters.executors import InProcessExecutor
from ringfence.adapters.files.rounds import RoundFiles
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core.custody.holdings import Observation
from ringfence.core.custody.registry import Chain, Scheme, Wallet
from ringfence.core.errors import Result
from ringfence.core.principals.records import endorse
from ringfence.core.recon.run import ReconSettings
from ringfence.service import por, withdrawals
from ringfence.service.custody import CustodyService
from ringfence.service.keys import create_key
from ringfence.service.ledger import LedgerService
from ringfence.service.recon import ReconService

DAY_NS = 86_400 * 10**9
START_NS = 1_790_000_000 * 10**9  # 2026-09-21
SAT = 10**8
OWED = {"alice": 21_000 * SAT, "bob": 150 * SAT, "carol": 62 * SAT}  # 21,212 BTC in main
SHORT = 259_000_000  # 2.59 BTC
EARN_CAROL = 7 * SAT
DAYS = 7
WALLETS = [
    Wallet("main-hot", Chain.bitcoin, Scheme.address, (btc_address("mainhot"),), MAIN, "hot"),
    Wallet("main-cold", Chain.bitcoin, Scheme.address, (btc_address("maincold"),), MAIN, "cold"),
    Wallet("earn-hot", Chain.bitcoin, Scheme.address, (btc_address("earnhot"),), "earn", "hot"),
]
PORTAL_CLIENTS = ("alice", "bob", "carol")
LARGE, SMALL = 701, 702  # withdrawals awaiting approval
OUTSIDE = btc_address("outside")  # no wallet of the firm's


@dataclass
class PagesWorld:
    bundle: bootstrap.ServiceBundle
    custodian: Custodian
    keys: dict[str, str]  # a staff role's name or a client's name -> its API key
    break_id: int
    clock: ManualClock


def observed(main_hot: int, earn_hot: int) -> list[Observation]:
    return [
        Observation(Chain.bitcoin, btc_address("mainhot"), "BTC", main_hot, 900, 0, "node"),
        Observation(Chain.bitcoin, btc_address("maincold"), "BTC", 0, 900, 0, "node"),
        Observation(Chain.bitcoin, btc_address("earnhot"), "BTC", earn_hot, 900, 0, "node"),
    ]


def _withdrawals(ledger: LedgerService, clock: ManualClock) -> None:
    staff = [endorse(ledger.ledger_id, ADMIN, key_seed(ADMIN), principal_for(name, role))
             for name, role in STAFF.items()]  # fmt: skip
    assert all(result is Result.ok for result in ledger.change_principals(staff))
    publish_policy(ledger, clock, policy_text())
    asked = [
        (actor("ops"), {"id": str(LARGE), "client": "alice", "amount": "2"}),
        (actor("alice"), {"id": str(SMALL), "amount": "0.5"}),
    ]
    for who, body in asked:
        answer = withdrawals.request(ledger, who, {**body, "pool": MAIN, "asset": "BTC",
                                                    "destination": OUTSIDE})  # fmt: skip
        assert answer["status"] == "awaiting_approval", answer


def build_pages_world(folder: Path) -> PagesWorld:
    clock = ManualClock(START_NS)
    ledger = LedgerService(MemoryStore(), clock, journal_signer())
    custodian = build_custodian(ledger)
    custody = CustodyService(ledger)
    assert custody.change(WALLETS) == [Result.ok] * len(WALLETS)
    events = [
        custodian.deposit(n + 1, name, amount) for n, (name, amount) in enumerate(OWED.items())
    ]
    events.append(custodian.deposit(10, "carol", EARN_CAROL, pool="earn"))
    assert ledger.submit(events) == [Result.ok] * len(events)
    recon = ReconService(custody)
    total = sum(OWED.values())
    for day in range(DAYS):
        clock.advance(nanoseconds=DAY_NS)
        held = total - SHORT if day == DAYS - 1 else total
        recon.run(ledger.next_timestamp(), observed(held, EARN_CAROL), ReconSettings())
    (broken,) = recon.history.book.open_breaks()
    rounds = RoundFiles(folder / "por")
    holdings = "".join(
        json.dumps({"chain": o.chain.value, "address": o.address, "asset": o.asset,
                    "amount": str(o.amount), "height": o.height, "time_ns": 0,
                    "source": o.source}) + "\n"
        for o in observed(total - SHORT, EARN_CAROL)
    ).encode()  # fmt: skip
    por.announce_round(ledger, rounds, blocks=[f"bitcoin={'ab' * 32}"], snapshot=None)
    por.build_and_keep_round(ledger, rounds, snapshot=None, holdings=holdings, control=None,
                             executor=InProcessExecutor())  # fmt: skip
    _withdrawals(ledger, clock)
    bundle = bootstrap.open_service("memory://", ledger=ledger, hasher=fast_hasher(),
                                    rounds=rounds)  # fmt: skip
    keys = {}
    for name in ("ops", "ann", "ben"):
        role = STAFF[name].name
        keys[name] = create_key(bundle.keys, clock, fast_hasher(), ledger, role=role, name=name)[1]
    for role in STAFF_ROLES:
        keys[role] = create_key(bundle.keys, clock, fast_hasher(), ledger, role=role)[1]
    for client in PORTAL_CLIENTS:
        keys[client] = create_key(
            bundle.keys, clock, fast_hasher(), ledger, role="client", client=client
        )[1]
    return PagesWorld(bundle, custodian, keys, broken.id, clock)
