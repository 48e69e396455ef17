"""Journal entries already written decode byte for byte as they always did: the policy,
withdrawal, reconciliation and wallet-registry codecs against bodies they encoded once and
that are kept as written (tests/data/journal/golden_records.json: never regenerate it), every
record type of each.

A journal's hashes and signatures cover these bytes, so a codec that wrote or read them one
byte differently would break every journal kept so far: each golden body must decode to the
events below, and the events must encode to the golden body again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ringfence.core.custody.codec import Numbers, decode_registry, encode_registry
from ringfence.core.custody.registry import (
    AddressAssignment,
    Chain,
    ClientAddress,
    Designation,
    Encumbrance,
    EncumbranceKind,
    RegistryRecord,
    Release,
    Scheme,
    Wallet,
)
from ringfence.core.errors import Result
from ringfence.core.ledger.journal import EntryKind
from ringfence.core.policy.codec import decode_policy_events, encode_policy_events
from ringfence.core.policy.decide import Decision
from ringfence.core.policy.document import Action
from ringfence.core.policy.movement import MovementKind
from ringfence.core.policy.versions import PolicyApproved, PolicyDrafted, PolicyPublished
from ringfence.core.principals.records import PrincipalRole
from ringfence.core.recon.breaks import BreakState, Cause, ReconBreak
from ringfence.core.recon.codec import (
    Action as BreakAction,
)
from ringfence.core.recon.codec import (
    ActionKind,
    Coverage,
    RunSummary,
    decode_recon_entry,
    encode_action,
    encode_run,
)
from ringfence.core.recon.segregation_statement import Alert, FundsBasis
from ringfence.core.withdrawals.codec import decode_withdrawal_events, encode_withdrawal_events
from ringfence.core.withdrawals.lifecycle import (
    Approved,
    Decided,
    Rejected,
    Requested,
    Status,
    Step,
    Voided,
    WithdrawalSpec,
)

GOLDEN = Path(__file__).parents[3] / "data" / "journal" / "golden_records.json"
BIG = 2**128 - 1
S = 10**9

POLICY_TEXT = b'{"format": 1, "rules": [' + b'{"id": "r%03d"}, ' * 40 + b"]}"
POLICY_EVENTS = [
    PolicyDrafted(1, "root", S, POLICY_TEXT),
    PolicyApproved(1, "ann", 2 * S),
    PolicyPublished(1, "root", 3 * S, 4 * S),
    PolicyDrafted(2, "ben", 5 * S, b"{}"),
]

SPEC = WithdrawalSpec(
    7, MovementKind.client_withdrawal, "alice", PrincipalRole.client, "main", "main-hot", "hot",
    "ETH", 10**18, "0x52908400098527886E0F7030069857D2E4169EE7", 10**16, client="alice",
)  # fmt: skip
SWEEP = WithdrawalSpec(
    BIG, MovementKind.residual_sweep, "ops", PrincipalRole.operator, "main", "main-cold",
    "cold", "BTC", BIG, "", 0, destination_wallet="house-hot",
)  # fmt: skip
DECISION = Decision(
    Action.require, 2, ("treasury", "desk"), "large", ("rule large matched", "x" * 250), 3, 1,
    "executives", True, None,
)  # fmt: skip
BLOCKED = Decision(
    Action.block, 0, (), "deny", ("rule deny matched",), 4, 0, "", False, Result.blocked_by_rule
)
WITHDRAWAL_EVENTS = [
    Requested(SPEC, 1),
    Decided(SPEC.id, DECISION, frozenset({"ann", "ben"}), frozenset({"ceo"}), 100, 2),
    Requested(SWEEP, 3),
    Decided(SWEEP.id, BLOCKED, frozenset(), frozenset(), 0, 4),
    Approved(SPEC.id, "ann", 5),
    Rejected(SPEC.id, "ben", 6),
    Step(SPEC.id, Status.held, 7, transfer_id=BIG),
    Step(SPEC.id, Status.broadcast, 8, reference="0x" + "ab" * 32),
    Step(SPEC.id, Status.confirmed, 9, confirmations=12),
    Voided(SPEC.id, "withdrawal_expired", 10, transfer_id=3),
]

SUMMARY = RunSummary(1, 10, FundsBasis.observed, True, 3, 1, 1, 0, 1, 0, 2)
COVERAGE = [
    Coverage("omni", "ETH", BIG, BIG - 1, 0, 2**70, True, Alert.undersegregated),
    Coverage("earn", "BTC", 5, 7, 1, 0, False, Alert.none),
]
BROKEN = ReconBreak(1, "w" * 32, "USDC", BIG, 0, 10, 10, BIG, cause=Cause.unrecorded_outflow)
CURED = ReconBreak(
    2, "main-hot", "BTC", 9, 8, 11, 12, 1, BreakState.cured, Cause.loss, True, True, 13
)
BREAK_ACTION = BreakAction(1, ActionKind.make_good, 200, BIG, "tx 42, made good")

WALLETS = [
    Wallet("main-hot", Chain.bitcoin, Scheme.bip84, ("xpub" + "a" * 107,), "main", "hot"),
    Wallet("vault", Chain.bitcoin, Scheme.multisig, ("k1", "k2", "k3"), "vault-dave", "cold"),
    Wallet("house-eth", Chain.ethereum, Scheme.address, ("0x" + "ab" * 20,), "", "warm"),
]
REGISTRY_ENTRIES: list[tuple[EntryKind, list[RegistryRecord]]] = [
    (EntryKind.wallets, list(WALLETS)),
    (
        EntryKind.designations,
        [Designation("vault", "vault-dave", "warm"), Designation("main-hot", "", "hot")],
    ),
    (
        EntryKind.addresses,
        [
            AddressAssignment("bc1q" + "x" * 86, "main-hot", 2**31 - 1, True, "alice"),
            AddressAssignment("bc1qpool", "main-hot", 3),
            ClientAddress("0x" + "cd" * 20, "bob"),
        ],
    ),
    (
        EntryKind.encumbrances,
        [
            Encumbrance(BIG, "house-eth", "ETH", BIG, EncumbranceKind.lock, "v" * 32, 1, 2 * S),
            Encumbrance(9, "vault", "BTC", 1, EncumbranceKind.pledge, "lender", 5),
            Release(5),
        ],
    ),
]


def _numbers() -> Numbers:
    wallets = {wallet.name: number for number, wallet in enumerate(WALLETS, start=1)}
    clients = {"alice": 1, "bob": 2}
    assets = {"BTC": 1, "ETH": 2}
    return Numbers(
        wallet_number=wallets.__getitem__,
        wallet_name={v: k for k, v in wallets.items()}.__getitem__,
        client_number=clients.__getitem__,
        client_name={v: k for k, v in clients.items()}.__getitem__,
        asset_number=assets.__getitem__,
        asset_code={v: k for k, v in assets.items()}.__getitem__,
    )


def encoded_now() -> dict[str, str]:
    """Every body as the codecs encode it today, by name."""
    bodies = {
        "policies": encode_policy_events(5, 9, POLICY_EVENTS),
        "withdrawals": encode_withdrawal_events(6, 11, WITHDRAWAL_EVENTS),
        "reconciliations": encode_run(7, 12, SUMMARY, COVERAGE, [BROKEN, CURED]),
        "break_actions": encode_action(8, 13, BREAK_ACTION, BROKEN),
    }
    for seq, (kind, records) in enumerate(REGISTRY_ENTRIES, start=9):
        bodies[kind.name] = encode_registry(kind, seq, 1000 + seq, records, _numbers())
    return {name: body.hex() for name, body in bodies.items()}


@pytest.fixture(scope="module")
def golden() -> dict[str, bytes]:
    kept: dict[str, Any] = json.loads(GOLDEN.read_text())
    return {name: bytes.fromhex(text) for name, text in kept.items()}


def test_every_body_encodes_as_it_first_did(golden: dict[str, bytes]) -> None:
    now = encoded_now()
    assert sorted(now) == sorted(golden)
    for name, text in now.items():
        assert bytes.fromhex(text) == golden[name], name


def test_policy_and_withdrawal_bodies_decode_as_they_first_did(golden: dict[str, bytes]) -> None:
    assert decode_policy_events(golden["policies"]) == POLICY_EVENTS
    assert decode_withdrawal_events(golden["withdrawals"]) == WITHDRAWAL_EVENTS


def test_reconciliation_bodies_decode_as_they_first_did(golden: dict[str, bytes]) -> None:
    run = decode_recon_entry(golden["reconciliations"])
    assert (run.kind, run.summary, run.coverage) == (EntryKind.reconciliations, SUMMARY, COVERAGE)
    assert (run.action, run.snapshots) == (None, [BROKEN, CURED])
    action = decode_recon_entry(golden["break_actions"])
    assert (action.kind, action.action, action.snapshots) == (
        EntryKind.break_actions, BREAK_ACTION, [BROKEN])  # fmt: skip


def test_registry_bodies_decode_as_they_first_did(golden: dict[str, bytes]) -> None:
    for seq, (kind, records) in enumerate(REGISTRY_ENTRIES, start=9):
        header, decoded = decode_registry(golden[kind.name], _numbers(), 1)
        assert (header.kind, header.seq, header.timestamp) == (kind, seq, 1000 + seq)
        assert decoded == records
