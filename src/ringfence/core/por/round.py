"""A proof-of-reserves round: the signed record of every asset's root and reserves.

A round record holds per-asset roots and totals, the reserves (or that they are not yet
attested), the journal head it was built at and the previous round's hash, and is signed
with Ed25519 (attack 10). Rounds chain: a round's id derives from the round before it and
its snapshot, so salts change every round (attack 11).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import nacl.exceptions
import nacl.signing

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.money import Asset, basis_points_floor
from ringfence.core.por.hashes import format_version, round_format_of, tag_round, tag_round_id
from ringfence.core.por.inclusion import inclusion_proof
from ringfence.core.por.liabilities import proof_unit_exponent
from ringfence.core.por.private import PrivateTree, build_private_job, private_proof
from ringfence.core.por.solvency import PoolPosition, prove_pools
from ringfence.core.por.tree import AssetTree, MapJobs, Node, build_trees


# ---------------------------------------------------------------------- rounds
def _node_json(node: Node) -> dict[str, str]:
    return {"sum": str(node[0]), "hash": node[1].hex()}


@dataclass(frozen=True, slots=True)
class ReservesAttestation:
    """The reserves side's input to a round (the seam for the wallet registry): the hash of
    the reserves file and, per asset number, the unencumbered holdings of client-designated
    wallets in proof units, rounded down (so reserves are never overstated)."""

    file_hash: bytes
    totals: Mapping[int, int]
    gross: Mapping[int, int] = field(default_factory=dict)  # before encumbrances and proofs
    # Per asset number, each pool's liabilities and own reserves: proved pool by pool in zero
    # knowledge (``solvency.prove_pools``) and published in the asset's line as ``pools``.
    pools: Mapping[int, Sequence[PoolPosition]] = field(default_factory=dict)


def reserves_entry(
    liabilities: int, reserves: int | None, gross: int | None = None
) -> dict[str, Any] | None:
    """An asset's reserves line: the net total (what the round attests), whether it covers
    the liabilities, and net and gross coverage in basis points rounded down (none when
    nothing is owed); None = not attested."""
    if reserves is None:
        return None
    gross = reserves if gross is None else gross
    assert 0 <= reserves <= gross <= limits.proof_value_max
    net_bp = None if liabilities == 0 else str(basis_points_floor(reserves, liabilities))
    gross_bp = None if liabilities == 0 else str(basis_points_floor(gross, liabilities))
    return {"total": str(reserves), "gross": str(gross), "covered": reserves >= liabilities,
            "coverage_net_bp": net_bp, "coverage_gross_bp": gross_bp}


def asset_entry(
    tree: AssetTree, reserves: int | None = None, gross: int | None = None
) -> dict[str, Any]:
    """The asset's line in the round record. From format 3 it carries the asset's scale
    (decimals of its major unit), so a client's verifier reads balances as the statement
    shows them without being told the decimals."""
    entry: dict[str, Any] = {
        "asset": tree.asset.code,
        "asset_number": tree.asset.number,
        "unit_exponent": proof_unit_exponent(tree.asset),
        "height": tree.height,
        "root": _node_json(tree.root),
        "reserves": reserves_entry(tree.root[0], reserves, gross),
    }
    if tree.context.version >= 3:
        entry["scale"] = tree.asset.scale
    return entry


def private_asset_entry(
    tree: PrivateTree, reserves: int | None = None, gross: int | None = None
) -> dict[str, Any]:
    """A private-mode asset's line: ``mode`` private, the root's commitment and hash with its
    opening (the total, against which reserves and pools are set as in public mode)."""
    return {"asset": tree.asset.code, "asset_number": tree.asset.number, "mode": "private",
            "unit_exponent": proof_unit_exponent(tree.asset), "height": tree.height,
            "root": tree.root_json(), "reserves": reserves_entry(tree.root[0], reserves, gross),
            "scale": tree.asset.scale}


def round_id_of(previous_round_hash: bytes, snapshot: int) -> bytes:
    """A round is named by the round before it and the ledger position of its snapshot."""
    assert len(previous_round_hash) == 32
    assert 0 <= snapshot < 2**64
    return hashlib.sha256(tag_round_id + previous_round_hash + snapshot.to_bytes(8, "big")).digest()


def round_hash(record: Mapping[str, Any]) -> bytes:
    """SHA-256 over the record's canonical JSON without its signature."""
    body = {key: value for key, value in record.items() if key != "signature"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(tag_round + canonical.encode("ascii")).digest()


@dataclass(frozen=True, slots=True)
class Round:
    record: dict[str, Any]
    trees: Mapping[int, AssetTree]  # by asset number
    private_trees: Mapping[int, PrivateTree] = field(default_factory=dict)  # private mode

    @property
    def hash(self) -> str:
        return round_hash(self.record).hex()

    def proofs(self, client: str) -> Iterator[dict[str, Any]]:
        for number in sorted(self.trees):
            proof = inclusion_proof(self.trees[number], client, self.hash)
            if proof is not None:
                yield proof
        for number in sorted(self.private_trees):
            found = private_proof(self.private_trees[number], client, self.hash)
            if found is not None:
                yield found


def build_round(
    *,
    snapshot: int,
    previous_round_hash: bytes,
    liabilities: Sequence[tuple[Asset, Mapping[str, int]]],
    master_secret: bytes,
    signing_seed: bytes,
    seed: bytes,
    reserves: ReservesAttestation | None = None,
    map_jobs: MapJobs = map,
    snapshot_hash: bytes | None = None,
    snapshot_ns: int | None = None,
    version: int = format_version,
    private: bool = False,
) -> Round:
    """Build every asset's tree and the signed round record. ``seed`` must be fresh each
    round; ``reserves`` None records the reserves as not yet attested; ``snapshot_hash`` is
    the journal's hash at entry ``snapshot`` and ``snapshot_ns`` its time, which the round
    then signs. ``version`` 2 builds a round of the format before identity binding (tests and
    audits of older rounds only). ``private`` builds private-mode trees (``private.py``), one
    asset per job."""
    round_id = round_id_of(previous_round_hash, snapshot)
    trees, private_trees = {}, {}
    if private:
        assert version == format_version
        jobs = [(round_id, asset, balances, master_secret, seed) for asset, balances in liabilities]
        # The shell's map is generic; ``MapJobs`` names the public subtree jobs only.
        built: Iterable[PrivateTree] = cast(Any, map_jobs)(build_private_job, jobs)
        private_trees = {tree.asset.number: tree for tree in built}
    else:
        trees = build_trees(round_id, liabilities, master_secret, seed, map_jobs, version=version)
    statements = {} if reserves is None else {
        number: prove_pools(round_id, number, positions, master_secret=master_secret, seed=seed)
        for number, positions in reserves.pools.items()
        if positions and (number in trees or number in private_trees)}
    return sign_round(round_id, previous_round_hash, snapshot, trees,
                      signing_seed=signing_seed, reserves=reserves, snapshot_hash=snapshot_hash,
                      snapshot_ns=snapshot_ns, pool_statements=statements,
                      private_trees=private_trees)


def sign_round(
    round_id: bytes, previous_round_hash: bytes, snapshot: int, trees: Mapping[int, AssetTree],
    *, signing_seed: bytes, reserves: ReservesAttestation | None = None,
    snapshot_hash: bytes | None = None, snapshot_ns: int | None = None,
    pool_statements: Mapping[int, Mapping[str, Any]] | None = None,
    private_trees: Mapping[int, PrivateTree] | None = None,
) -> Round:
    """The round record over built trees, signed. With ``snapshot_hash`` it carries the
    journal head it was built at (``journal_head``): anyone holding the round can later check
    that the journal still holds that exact head (``ringfence audit verify --round``). With
    ``snapshot_ns`` it carries the time of that entry (ns since the epoch, UTC)."""
    totals = reserves.totals if reserves is not None else {}
    gross = reserves.gross if reserves is not None else {}
    private_trees = private_trees or {}
    assert not (trees and private_trees)  # one round, one mode
    versions = {tree.context.version for tree in trees.values()} or {format_version}
    assert len(versions) == 1  # one round, one format
    version = versions.pop()
    key = nacl.signing.SigningKey(signing_seed)
    record: dict[str, Any] = {
        "v": round_format_of(version),
        "round_id": round_id.hex(),
        "previous_round_hash": previous_round_hash.hex(),
        "snapshot": snapshot,
        "reserves": (
            {"status": "not_attested"} if reserves is None
            else {"status": "attested", "file_hash": reserves.file_hash.hex()}),
        "assets": [asset_entry(trees[number], totals.get(number), gross.get(number))
                   for number in sorted(trees)] + [
            private_asset_entry(private_trees[number], totals.get(number), gross.get(number))
            for number in sorted(private_trees)],
        "public_key": key.verify_key.encode().hex(),
    }
    for entry in record["assets"]:
        statement = (pool_statements or {}).get(entry["asset_number"])
        if statement is not None:
            entry["pools"] = dict(statement)
    if snapshot_hash is not None:
        assert len(snapshot_hash) == 32
        record["journal_head"] = {"seq": snapshot, "hash": snapshot_hash.hex()}
    if snapshot_ns is not None:
        assert 0 <= snapshot_ns < limits.proof_snapshot_ns_max
        # A decimal string: a browser reads JSON numbers beyond 2^53 inexactly.
        record["snapshot_ns"] = str(snapshot_ns)
    record["signature"] = key.sign(round_hash(record)).signature.hex()
    assert verify_round_signature(record)
    return Round(record, trees, private_trees)


def round_public_key(signing_seed: bytes) -> str:
    """The public key (hex) rounds signed with ``signing_seed`` carry: the key a firm
    publishes, and a client pins, to tell its rounds from anyone else's."""
    assert len(signing_seed) == 32
    return nacl.signing.SigningKey(signing_seed).verify_key.encode().hex()


def verify_round_signature(record: Mapping[str, Any]) -> bool:
    """True when the record's Ed25519 signature over its hash checks with its public key."""
    try:
        key = nacl.signing.VerifyKey(bytes.fromhex(record["public_key"]))
        key.verify(round_hash(record), bytes.fromhex(record["signature"]))
    except (nacl.exceptions.BadSignatureError, ValueError, KeyError, TypeError):
        return False
    return True


def round_journal_head(record: Mapping[str, Any]) -> tuple[int, bytes]:
    """The journal head a signed round was built at; ``InputError`` if the round's signature
    fails or it names no head."""
    if not verify_round_signature(record):
        raise InputError(Result.published_head_invalid, "the round's signature does not check")
    head = record.get("journal_head")
    if not isinstance(head, dict):
        raise InputError(Result.published_head_invalid, "the round names no journal head")
    seq, hash_hex = head.get("seq"), head.get("hash")
    if type(seq) is not int or not 0 < seq < 2**64 or not isinstance(hash_hex, str):
        raise InputError(Result.published_head_invalid, f"journal head {head!r}")
    try:
        head_hash = bytes.fromhex(hash_hex)
    except ValueError:
        raise InputError(Result.published_head_invalid, f"hash {hash_hex!r}") from None
    if len(head_hash) != 32:
        raise InputError(Result.published_head_invalid, f"hash {hash_hex!r}")
    return seq, head_hash


def verify_chain(records: Sequence[Mapping[str, Any]]) -> bool:
    """True when each record names the previous one's hash and derives its round id from it."""
    for before, after in itertools.pairwise(records):
        if after.get("previous_round_hash") != round_hash(before).hex():
            return False
        expected = round_id_of(bytes.fromhex(after["previous_round_hash"]), after["snapshot"])
        if after.get("round_id") != expected.hex():
            return False
    return True

