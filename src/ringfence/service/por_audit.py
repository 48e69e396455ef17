"""The audit of a proof-of-liabilities round.

Replay the journal up to the round's snapshot in a fresh engine (``service/batch.py``'s
``ledger_at``), rebuild every tree from it (its subtrees on the run's executor),
check each root and total against the round record and the ledger's own pool totals, and
verify a sample of client proofs chosen from a public seed with the standard-library verifier
(a private-mode round: its trees rebuilt as private trees, its roots compared with their
commitments and openings, its sampled proofs checked as ``por verify`` checks them).
The audit recomputes what each client is owed in proof units through ``core/money.py``
(``coarsen_ceil``), apart from the core's own conversion, so that a fault there shows.
A round built spilled is audited with the same checks, partition by partition on the
executor, by ``service/por_audit_spilled.py``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sized
from dataclasses import dataclass, field
from typing import Any, Final

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.engine import Ledger
from ringfence.core.ledger.journal import genesis_hash
from ringfence.core.money import Asset, coarsen_ceil
from ringfence.core.por.hashes import client_secret, version_of_round
from ringfence.core.por.inclusion import inclusion_proof
from ringfence.core.por.liabilities import (
    Liabilities,
    client_liabilities,
    pool_liabilities,
    proof_unit_exponent,
)
from ringfence.core.por.private import PrivateTree, build_private_tree, private_proof
from ringfence.core.por.round import round_hash, verify_chain, verify_round_signature
from ringfence.core.por.solvency import commitment_opens
from ringfence.core.por.tree import AssetTree, build_trees
from ringfence.service.batch import ledger_at
from ringfence.service.ledger import collector_paused
from ringfence.service.por_verify import check_private_proof
from ringfence.service.ports import Executor, LedgerStore
from ringfence.verifier import ProofRejectedError, verify_inclusion

sample_size_max: Final = limits.proof_audit_sample_size_max
_sample_tag: Final = b"ringfence/por/audit-sample/1\x00"


def snapshot_hash(store: LedgerStore, snapshot: int) -> bytes:
    """The journal's hash at entry ``snapshot`` (the genesis hash for 0)."""
    if snapshot == 0:
        return genesis_hash
    for entry in store.entries(after_seq=snapshot - 1):
        return entry.hash
    raise InputError(Result.field_unknown, f"snapshot {snapshot} is beyond the journal")


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


def sample(candidates: Sized, seed: bytes, count: int) -> list[int]:
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


def check_head(report: AuditReport, store: LedgerStore, record: Mapping[str, Any]) -> int | None:
    """The round's signature, its snapshot and the journal head it signs; the round's format
    version, or None when the audit cannot go on (the problem is in the report)."""
    if not verify_round_signature(record):
        report.problems.append(Problem("signature_invalid", "", "the round's signature fails"))
    head_seq, _ = store.head()
    if report.snapshot > head_seq:
        report.problems.append(
            Problem("snapshot_beyond_journal", "", f"snapshot {report.snapshot} > head {head_seq}")
        )
        return None
    head = record.get("journal_head")
    if isinstance(head, dict) and head.get("hash") != snapshot_hash(store, report.snapshot).hex():
        report.problems.append(
            Problem(
                "journal_head_mismatch",
                "",
                f"the round signs head {head.get('hash')} at entry {report.snapshot}; the journal "
                "holds another",
            )
        )
    version = version_of_round(record)
    if version is None:
        report.problems.append(Problem("format_unknown", "", f"round format {record.get('v')!r}"))
    return version


def audit_round(
    store: LedgerStore,
    record: Mapping[str, Any],
    stored: Mapping[int, AssetTree | PrivateTree],
    *,
    master_secret: bytes,
    build_seed: bytes,
    sample_seed: bytes,
    sample_size: int,
    executor: Executor,
) -> AuditReport:
    """Check a round against the journal; see the module docstring. Never changes the store."""
    report = AuditReport(round_hash(record).hex(), int(record["snapshot"]))
    version = check_head(report, store, record)
    if version is None:
        return report
    ledger = ledger_at(store, report.snapshot)
    liabilities = client_liabilities(ledger)
    with collector_paused():
        # A round of format 2 is rebuilt as it was made: its audit stays possible.
        rebuilt = _rebuild(record, liabilities, (master_secret, build_seed), executor)
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
    audit_pools(report, record, ledger, master_secret)
    _audit_sample(
        report,
        record,
        liabilities,
        stored=stored,
        secrets=(version, master_secret),
        seed=sample_seed,
        count=sample_size,
    )
    return report


def _rebuild(
    record: Mapping[str, Any], liabilities: Liabilities, secrets: tuple[bytes, bytes],
    executor: Executor,
) -> Mapping[int, AssetTree | PrivateTree]:
    """Every tree of the round rebuilt from the replayed liabilities, in the round's mode."""
    master_secret, build_seed = secrets
    round_id = bytes.fromhex(record["round_id"])
    if any(entry.get("mode") == "private" for entry in record["assets"]):
        return {asset.number: build_private_tree(round_id, asset, owed, master_secret, build_seed)
                for asset, owed in liabilities}
    version = version_of_round(record)
    assert version is not None
    return build_trees(round_id, liabilities, master_secret, build_seed, executor.map,
                       version=version)


def _same_root(tree: AssetTree | PrivateTree | None, entry: Mapping[str, Any]) -> bool:
    """The tree's root is the record's: sum and hash, and for a private tree the commitment
    and its opening too."""
    if tree is None:
        return False
    if isinstance(tree, PrivateTree):
        return entry.get("mode") == "private" and tree.root_json() == entry["root"]
    root = (int(entry["root"]["sum"]), bytes.fromhex(entry["root"]["hash"]))
    return entry.get("mode") is None and tree.root == root and tree.height == entry["height"]


@dataclass(frozen=True, slots=True)
class OwedFigures:
    """One asset's clients as the audit counts them: those owed anything, the minor units
    owed, and the proof units with each client rounded up through ``coarsen_ceil``."""

    clients: int
    units: int
    proof_units: int


def owed_figures(owed: Mapping[str, int], asset: Asset) -> OwedFigures:
    """Each client rounded up to the proof unit, computed here apart from the core's path."""
    exponent = proof_unit_exponent(asset)
    return OwedFigures(sum(1 for units in owed.values() if units), sum(owed.values()),
                       sum(coarsen_ceil(units, exponent) for units in owed.values()))


def audit_figures(
    report: AuditReport, ledger: Ledger, asset: Asset, figures: OwedFigures,
    entry: Mapping[str, Any] | None,
) -> bool:
    """An asset's row of the report, its clients' total against its pools' and the round's
    root sum; False when the round has no tree for it (nothing more to compare)."""
    code = asset.code
    pools = sum(
        p.liabilities for (_, number), p in ledger.positions.items() if number == asset.number
    )
    report.assets.append(
        {
            "asset": code,
            "clients": figures.clients,
            "liabilities_units": str(figures.units),
            "proof_units": str(figures.proof_units),
        }
    )
    if figures.units != pools:
        report.problems.append(
            Problem("liabilities_mismatch", code, f"client accounts {figures.units}, pools {pools}")
        )
    if entry is None:
        report.problems.append(Problem("asset_missing", code, "the round has no tree for it"))
        return False
    root_sum = int(entry["root"]["sum"])
    if root_sum != figures.proof_units:
        report.problems.append(
            Problem("total_mismatch", code,
                    f"root sum {root_sum}, ledger (rounded up) {figures.proof_units}")
        )
    return True


def _audit_asset(
    report: AuditReport,
    ledger: Ledger,
    asset: Asset,
    owed: Mapping[str, int],
    *,
    entry: Mapping[str, Any] | None,
    rebuilt: AssetTree | PrivateTree,
    stored: AssetTree | PrivateTree | None,
) -> None:
    if not audit_figures(report, ledger, asset, owed_figures(owed, asset), entry):
        return
    assert entry is not None
    code = asset.code
    if not _same_root(rebuilt, entry):
        report.problems.append(
            Problem("root_mismatch", code, "the tree rebuilt from the journal has another root")
        )
    if not _same_root(stored, entry):
        report.problems.append(
            Problem("stored_tree_mismatch", code, "the stored tree that answers proofs differs")
        )


def audit_pools(
    report: AuditReport, record: Mapping[str, Any], ledger: Ledger, master_secret: bytes
) -> None:
    """Each pool's commitment must open to what the pool owes in the replayed journal: the
    check clients cannot make (they see the commitments, not the split between pools)."""
    owed_by_asset = pool_liabilities(ledger)
    round_id = bytes.fromhex(record["round_id"])
    for entry in record["assets"]:
        statement = entry.get("pools")
        if not isinstance(statement, dict):
            continue
        owed = owed_by_asset.get(entry["asset"], {})
        named = {line.get("pool") for line in statement.get("pools", []) if isinstance(line, dict)}
        expected = {pool: owed.get(pool, 0) for pool in named if isinstance(pool, str)}
        expected |= {pool: units for pool, units in owed.items() if units}
        wrong = commitment_opens(
            statement, round_id, entry["asset_number"], expected, master_secret
        )
        if wrong:
            report.problems.append(
                Problem(
                    "pool_commitment_mismatch",
                    entry["asset"],
                    f"pools {', '.join(wrong)}: the committed liabilities are not the journal's",
                )
            )


def _audit_sample(
    report: AuditReport,
    record: Mapping[str, Any],
    liabilities: Liabilities,
    *,
    stored: Mapping[int, AssetTree | PrivateTree],
    secrets: tuple[int, bytes],
    seed: bytes,
    count: int,
) -> None:
    """Verify sampled proofs as each client would: with their own id and the round's nonce
    for them (the client key in format 2)."""
    version, master_secret = secrets
    round_id = bytes.fromhex(record["round_id"])
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
            if isinstance(tree, AssetTree):
                tree.index_clients()
    for position in sample(candidates, seed, count):
        code, client = candidates[position]
        asset, owed = by_code[code]
        report.sampled.append({"asset": code, "client": client})
        tree = stored[asset.number]
        proof = (private_proof(tree, client, round_hash) if isinstance(tree, PrivateTree)
                 else inclusion_proof(tree, client, round_hash))
        if proof is None:
            report.problems.append(Problem("proof_missing", code, client))
            continue
        balance = coarsen_ceil(owed[client], proof_unit_exponent(asset))
        key = client_secret(version, master_secret, round_id, client)
        try:
            if isinstance(tree, PrivateTree):
                check_private_proof(proof, record, key, client, balance)
            else:
                verify_inclusion(proof, record, key, balance, client)
        except ProofRejectedError as rejection:
            report.problems.append(
                Problem("proof_rejected", code, f"{client}: {rejection.reason}: {rejection}")
            )


def check_chain(
    report: AuditReport,
    record: Mapping[str, Any],
    number: int | None,
    before: Mapping[str, Any] | None,
) -> None:
    """The round must name the one kept before it (a split view breaks the chain); ``number``
    is the round's own (None: a record kept elsewhere, not checked), ``before`` the record of
    round ``number - 1``."""
    if number is None:
        return
    if number == 1:
        if record.get("previous_round_hash") != bytes(32).hex():
            report.problems.append(Problem("chain_broken", "", "round 1 names a previous"))
        return
    assert before is not None
    if not verify_chain([before, record]):
        report.problems.append(
            Problem("chain_broken", "", f"round {number} does not follow round {number - 1}")
        )
    if before.get("public_key") != record.get("public_key"):
        # A round signed by another key than the one before it is no continuation of it.
        report.problems.append(
            Problem("signing_key_changed", "", f"round {number} is signed by another key")
        )


def check_reserves_file(
    report: AuditReport, record: Mapping[str, Any], reserves_file: bytes | None, location: str
) -> None:
    """An attested round pins its reserves file: it must be there, hashing as recorded."""
    pinned = record.get("reserves", {})
    if pinned.get("status") != "attested":
        return
    if reserves_file is None:
        report.problems.append(Problem("reserves_file_missing", "", location))
        return
    if hashlib.sha256(reserves_file).hexdigest() != pinned.get("file_hash"):
        report.problems.append(
            Problem(
                "reserves_file_mismatch", "", f"{location} does not hash to the round's file_hash"
            )
        )
