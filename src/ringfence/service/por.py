"""Proof-of-liabilities rounds over the ledger: gather, build, audit.

Gather: the client liabilities per asset at a snapshot (the journal position the ledger
stands at), read from the ledger's own state. Build: ``core.reserves`` places and hashes the
trees; the subtrees are built in worker processes (``subtree_map``), the core joins them and
signs the round. Audit: replay the journal up to the round's snapshot in a fresh engine,
rebuild every tree from it, check each root and total against the round record and the
ledger's own pool totals, and verify a sample of client proofs chosen from a public seed with
the standard-library verifier.

A client liability here is what a client-class account is owed (credits posted minus debits
posted), summed per client and asset over every pool the client has accounts in; pending
transfers count once posted. Title-transfer pools are included: the firm owes those clients
too, and leaving them out would understate what is owed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from ringfence.core.custody.holdings import Observation
from ringfence.core.custody.registry import Chain, Registry
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.engine import Ledger
from ringfence.core.ledger.journal import (
    EntryKind,
    decode_definitions,
    genesis_hash,
    ledger_definition_kinds,
)
from ringfence.core.ledger.model import AccountClass
from ringfence.core.money import Asset
from ringfence.core.por import reserves
from ringfence.core.por.attestation import (
    Reserves,
    attest_reserves,
    parse_control_file,
    totals_in_proof_units,
)
from ringfence.service.ledger import apply_definitions, collector_paused, replay_transfers
from ringfence.service.ports import LedgerStore
from ringfence.verifier import ProofRejectedError, verify_inclusion

workers_default: Final = 2
client_key_bytes: Final = 32
sample_size_max: Final = 100_000
_sample_tag: Final = b"ringfence/por/audit-sample/1\x00"

Liabilities = list[tuple[Asset, dict[str, int]]]


def client_liabilities(ledger: Ledger) -> Liabilities:
    """Per asset (every asset defined), client -> minor units owed, in account order."""
    owed: dict[str, dict[str, int]] = {code: {} for code in ledger.assets}
    for account in ledger.accounts.values():
        definition = account.definition
        if definition.account_class is not AccountClass.client:
            continue
        balance = account.credits_posted - account.debits_posted
        assert balance >= 0  # guarantee 2: a client account never goes below zero
        per_client = owed[definition.asset]
        per_client[definition.owner] = per_client.get(definition.owner, 0) + balance
    return [(ledger.assets[code], owed[code]) for code in ledger.assets]


def ledger_at(store: LedgerStore, snapshot: int) -> Ledger:
    """A fresh engine with the journal replayed up to and including entry ``snapshot``:
    the auditor's own view of the balances, independent of any checkpoint."""
    ledger = Ledger()
    kinds = (*ledger_definition_kinds, EntryKind.transfers)
    for entry in store.entries(kinds=kinds):
        if entry.seq > snapshot:
            break
        if entry.kind is EntryKind.transfers:
            replay_transfers(ledger, entry.body, store)
        else:
            header, definitions = decode_definitions(entry.body)
            apply_definitions(ledger, header.kind, definitions)
    return ledger


@contextmanager
def subtree_map(workers: int) -> Iterator[reserves.MapJobs]:
    """A ``map`` that builds subtree jobs in ``workers`` processes (in this one if 1)."""
    assert 1 <= workers <= 64
    if workers == 1:
        yield map
        return
    with ProcessPoolExecutor(max_workers=workers) as executor:
        yield executor.map


def build_round(
    liabilities: Liabilities,
    *,
    snapshot: int,
    previous_round_hash: bytes,
    master_secret: bytes,
    signing_seed: bytes,
    seed: bytes,
    snapshot_hash: bytes,
    workers: int = workers_default,
    reserves_attestation: reserves.ReservesAttestation | None = None,
) -> reserves.Round:
    """Build and sign a round over gathered liabilities, subtrees in worker processes; the
    round signs the journal head it was built at (``snapshot``, ``snapshot_hash``)."""
    with collector_paused(), subtree_map(workers) as map_jobs:
        return reserves.build_round(
            snapshot=snapshot,
            previous_round_hash=previous_round_hash,
            liabilities=liabilities,
            master_secret=master_secret,
            signing_seed=signing_seed,
            seed=seed,
            reserves=reserves_attestation,
            map_jobs=map_jobs,
            snapshot_hash=snapshot_hash,
        )


# ---------------------------------------------------------------------- verify


def verify_bundle(
    bundle: dict[str, Any], record: dict[str, Any], key_hex: str, balances: dict[str, int]
) -> tuple[bool, list[dict[str, Any]]]:
    """Check the round's signature, then each proof with the standard-library verifier."""
    proofs = bundle.get("proofs", [bundle])
    key_text = key_hex or bundle.get("client_key", "")
    try:
        key = bytes.fromhex(key_text)
    except (TypeError, ValueError):
        raise InputError(Result.line_malformed, "the client key is not hex") from None
    if len(key) != client_key_bytes:
        raise InputError(Result.field_required, "a 32-byte client key (--key or in the proof)")
    if not reserves.verify_round_signature(record):
        return False, [
            {
                "asset": None,
                "ok": False,
                "reason": "bad_signature",
                "detail": "the round record's Ed25519 signature does not check",
            }
        ]
    results = []
    for found in proofs:
        asset = found.get("asset") if isinstance(found, dict) else None
        try:
            total = verify_inclusion(found, record, key, balances.get(str(asset)))
        except ProofRejectedError as rejection:
            results.append(
                {"asset": asset, "ok": False, "reason": rejection.reason, "detail": str(rejection)}
            )
        else:
            results.append({"asset": asset, "ok": True, "proof_units": str(total)})
    return all(result["ok"] for result in results) and bool(results), results


# ---------------------------------------------------------------------- audit


@dataclass(frozen=True, slots=True)
class Problem:
    problem: str  # signature_invalid, root_mismatch, total_mismatch, proof_rejected, ...
    asset: str
    detail: str


@dataclass
class AuditReport:
    round_hash: str
    snapshot: int
    assets: list[dict[str, Any]] = field(default_factory=list)
    sampled: list[dict[str, str]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "round_hash": self.round_hash,
            "snapshot": self.snapshot,
            "assets": self.assets,
            "sampled": self.sampled,
            "problems": [
                {"problem": p.problem, "asset": p.asset, "detail": p.detail} for p in self.problems
            ],
        }


def sample(candidates: Sequence[tuple[str, str]], seed: bytes, count: int) -> list[int]:
    """``count`` distinct positions in ``candidates`` (or all of them), drawn from a public
    seed by SHA-256 in counter mode with rejection: anyone can recompute the choice, and the
    firm cannot know it before the seed is published."""
    assert 0 <= count <= sample_size_max
    wanted = min(count, len(candidates))
    chosen: list[int] = []
    seen: set[int] = set()
    bound = len(candidates)
    counter = 0
    while len(chosen) < wanted:
        digest = hashlib.sha256(_sample_tag + seed + counter.to_bytes(8, "big")).digest()
        counter += 1
        value = int.from_bytes(digest, "big")
        if value >= (2**256 // bound) * bound:
            continue  # no modulo bias
        position = value % bound
        if position not in seen:
            seen.add(position)
            chosen.append(position)
    return chosen


def audit_round(
    store: LedgerStore,
    record: Mapping[str, Any],
    stored: Mapping[int, reserves.AssetTree],
    *,
    master_secret: bytes,
    build_seed: bytes,
    sample_seed: bytes,
    sample_size: int,
    workers: int = workers_default,
) -> AuditReport:
    """Check a round against the journal; see the module docstring. Never changes the store."""
    report = AuditReport(reserves.round_hash(record).hex(), int(record["snapshot"]))
    if not reserves.verify_round_signature(record):
        report.problems.append(Problem("signature_invalid", "", "the round's signature fails"))
    head_seq, _ = store.head()
    if report.snapshot > head_seq:
        report.problems.append(
            Problem("snapshot_beyond_journal", "", f"snapshot {report.snapshot} > head {head_seq}")
        )
        return report
    head = record.get("journal_head")
    if isinstance(head, dict) and head.get("hash") != snapshot_hash(store, report.snapshot).hex():
        report.problems.append(Problem(
            "journal_head_mismatch", "",
            f"the round signs head {head.get('hash')} at entry {report.snapshot}; the journal "
            "holds another"))
    ledger = ledger_at(store, report.snapshot)
    liabilities = client_liabilities(ledger)
    round_id = bytes.fromhex(record["round_id"])
    with collector_paused(), subtree_map(workers) as map_jobs:
        rebuilt = reserves.build_trees(round_id, liabilities, master_secret, build_seed, map_jobs)
    entries = {entry["asset_number"]: entry for entry in record["assets"]}
    for asset, owed in liabilities:
        _audit_asset(
            report,
            ledger,
            asset,
            owed,
            entry=entries.pop(asset.number, None),
            rebuilt=rebuilt[asset.number],
            stored=stored.get(asset.number),
        )
    for number in entries:
        report.problems.append(Problem("asset_unexpected", str(number), "not in the ledger"))
    _audit_sample(
        report,
        record,
        liabilities,
        stored=stored,
        master_secret=master_secret,
        seed=sample_seed,
        count=sample_size,
    )
    return report


def _audit_asset(
    report: AuditReport,
    ledger: Ledger,
    asset: Asset,
    owed: Mapping[str, int],
    *,
    entry: Mapping[str, Any] | None,
    rebuilt: reserves.AssetTree,
    stored: reserves.AssetTree | None,
) -> None:
    code = asset.code
    divisor = 10 ** reserves.proof_unit_exponent(asset)
    # Each client rounded up to the proof unit, computed here apart from the core's own path.
    expected = sum(-(-units // divisor) for units in owed.values())
    pools = sum(
        p.liabilities for (_, number), p in ledger.positions.items() if number == asset.number
    )
    report.assets.append(
        {
            "asset": code,
            "clients": sum(1 for u in owed.values() if u),
            "liabilities_units": str(sum(owed.values())),
            "proof_units": str(expected),
        }
    )
    if sum(owed.values()) != pools:
        report.problems.append(
            Problem(
                "liabilities_mismatch", code, f"client accounts {sum(owed.values())}, pools {pools}"
            )
        )
    if entry is None:
        report.problems.append(Problem("asset_missing", code, "the round has no tree for it"))
        return
    root = (int(entry["root"]["sum"]), bytes.fromhex(entry["root"]["hash"]))
    if root[0] != expected:
        report.problems.append(
            Problem("total_mismatch", code, f"root sum {root[0]}, ledger (rounded up) {expected}")
        )
    if rebuilt.root != root or rebuilt.height != entry["height"]:
        report.problems.append(
            Problem("root_mismatch", code, "the tree rebuilt from the journal has another root")
        )
    if stored is None or stored.root != root:
        report.problems.append(
            Problem("stored_tree_mismatch", code, "the stored tree that answers proofs differs")
        )


def _audit_sample(
    report: AuditReport,
    record: Mapping[str, Any],
    liabilities: Liabilities,
    *,
    stored: Mapping[int, reserves.AssetTree],
    master_secret: bytes,
    seed: bytes,
    count: int,
) -> None:
    candidates = sorted(
        (asset.code, client)
        for asset, owed in liabilities
        for client, units in owed.items()
        if units and asset.number in stored
    )
    by_code = {asset.code: (asset, owed) for asset, owed in liabilities}
    round_hash = report.round_hash
    if count > 1:
        for tree in stored.values():
            tree.index_clients()
    for position in sample(candidates, seed, count):
        code, client = candidates[position]
        asset, owed = by_code[code]
        report.sampled.append({"asset": code, "client": client})
        proof = reserves.inclusion_proof(stored[asset.number], client, round_hash)
        if proof is None:
            report.problems.append(Problem("proof_missing", code, client))
            continue
        balance = -(-owed[client] // 10 ** reserves.proof_unit_exponent(asset))
        key = reserves.client_key(master_secret, client)
        try:
            verify_inclusion(proof, record, key, balance)
        except ProofRejectedError as rejection:
            report.problems.append(
                Problem("proof_rejected", code, f"{client}: {rejection.reason}: {rejection}")
            )


# ---------------------------------------------------------------------- reserves


def snapshot_hash(store: LedgerStore, snapshot: int) -> bytes:
    """The journal's hash at entry ``snapshot`` (the genesis hash for 0)."""
    if snapshot == 0:
        return genesis_hash
    for entry in store.entries(after_seq=snapshot - 1):
        return entry.hash
    raise InputError(Result.field_unknown, f"snapshot {snapshot} is beyond the journal")


def snapshot_time_ns(store: LedgerStore, snapshot: int) -> int:
    """The timestamp of journal entry ``snapshot`` (0 for an empty journal)."""
    if snapshot == 0:
        return 0
    for entry in store.entries(after_seq=snapshot - 1):
        return entry.timestamp
    raise InputError(Result.field_unknown, f"snapshot {snapshot} is beyond the journal")


def attest(
    registry: Registry,
    ledger: Ledger,
    *,
    round_id: bytes,
    snapshot_ns: int,
    observations: list[Observation],
    control_text: bytes | None,
    block_hashes: Mapping[Chain, str],
) -> tuple[Reserves, reserves.ReservesAttestation]:
    """The round's reserves: observed holdings of pool-designated wallets, proven controlled
    for this round over the blocks the firm named, net of encumbrances; totals in proof units
    rounded down."""
    proofs = parse_control_file(control_text) if control_text else []
    attested = attest_reserves(
        round_id.hex(), snapshot_ns, observations=observations, proofs=proofs,
        block_hashes=block_hashes, registry=registry, pools=ledger.pools,
        asset_chains={code: asset.chain for code, asset in ledger.assets.items()},
    )  # fmt: skip
    exponents = {code: reserves.proof_unit_exponent(a) for code, a in ledger.assets.items()}
    net, gross = totals_in_proof_units(attested, ledger.assets, exponents)
    for number, units in gross.items():
        if units > reserves.proof_value_max:
            raise InputError(
                Result.amount_must_be_below_2_64,
                f"reserves of asset {number}: {units} proof units do not fit 64 bits",
            )
    return attested, reserves.ReservesAttestation(attested.file_hash(), net, gross)
