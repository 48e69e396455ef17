"""Proof-of-reserves rounds over the ledger: the workflows ``ringfence por`` (and, later, the
REST API) call, one function per command, each returning the JSON document it renders.

- ``announce_round`` (``por challenges``): the messages client-designated addresses must sign
  for the next round; the round (snapshot, blocks) is kept as pending for the build.
- ``build_and_keep_round`` (``por build``): gather the client liabilities at a snapshot,
  attest the reserves if holdings are given, build and sign the round (subtrees in worker
  processes), and keep it in the ``RoundStore``.
- ``client_proofs`` (``por proof``) and ``audit_kept_round`` (``por audit``, checks in
  ``service/por_audit.py``, of a spilled round in ``service/por_audit_spilled.py``);
  ``por verify`` and ``por page`` are ``service/por_verify.py``'s.

Where things come from. The rounds, their keys, the pending round, the private trees and the
reserves files are the ``RoundStore``'s (port in ``service/ports.py``; a directory,
``adapters/files/rounds.py``). The files a caller hands in (holdings, control signatures, a
proof and a round record to verify) arrive as bytes, parsed here or by the core with named
errors: a REST API receives the same documents as request bodies, so the CLI reads the files
it is given and both call the same function. Nothing here knows a path.

Gather: the client liabilities per asset at a snapshot (``core/por/liabilities.py``), a batch
run over ranges of clients read from one cut of the store (``service/batch.py``), or from a
fresh replay for a past snapshot. Build: ``core/por`` places and hashes the trees; the
subtrees are built by tasks on the run's ``Executor`` (in this process, or on Dask), the core
joins them and signs the round. The executor changes where the work runs, never its result:
the same seed gives the same round, bit for bit. A run that fails (an executor that lost its
scheduler, a store that moved) raises before the round is kept.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Mapping
from typing import Any, Final

from ringfence.core import limits
from ringfence.core.custody.holdings import Observation
from ringfence.core.custody.registry import Chain, Registry
from ringfence.core.errors import InputError, Result, StorageError
from ringfence.core.ledger.engine import Ledger
from ringfence.core.money import Asset
from ringfence.core.por.attestation import (
    Reserves,
    attest_reserves,
    challenges_for,
    parse_control_file,
    pool_reserves_in_proof_units,
    totals_in_proof_units,
)
from ringfence.core.por.hashes import client_secret, version_of_round
from ringfence.core.por.inclusion import inclusion_proof
from ringfence.core.por.liabilities import (
    Liabilities,
    pool_liabilities,
    proof_unit_exponent,
)
from ringfence.core.por.private import PrivateTree, private_proof
from ringfence.core.por.round import (
    ReservesAttestation,
    Round,
    round_hash,
    round_id_of,
)
from ringfence.core.por.round import build_round as core_build_round
from ringfence.core.por.solvency import PoolPosition
from ringfence.core.por.tree import AssetTree
from ringfence.core.recon.files import parse_observations
from ringfence.service.batch import gather_liabilities, ledger_at, ledger_cut
from ringfence.service.custody import CustodyService
from ringfence.service.ledger import LedgerService, collector_paused
from ringfence.service.por_audit import (
    audit_round,
    check_chain,
    check_reserves_file,
    sample_size_max,
    snapshot_hash,
)
from ringfence.service.por_audit_spilled import audit_spilled_round
from ringfence.service.ports import (
    BalanceCut,
    Executor,
    LedgerStore,
    RoundStore,
    SpilledRoundBuilder,
)

__all__ = [
    "announce_round", "audit_kept_round", "build_and_keep_round", "build_round",
    "client_proofs", "sample_size_max",
]  # fmt: skip

_build_seed_bytes: Final = 32
# The store's lock (``LedgerStore.exclusive``) a build of a round holds, from clearing what a
# killed build left to keeping its round, and an announcement while it reads the rounds kept.
por_build_lock: Final = "por_build"
log = logging.getLogger("ringfence.por")


def build_round(
    liabilities: Liabilities,
    *,
    snapshot: int,
    previous_round_hash: bytes,
    master_secret: bytes,
    signing_seed: bytes,
    seed: bytes,
    snapshot_hash: bytes,
    executor: Executor,
    reserves_attestation: ReservesAttestation | None = None,
    snapshot_ns: int | None = None,
    private: bool = False,
) -> Round:
    """Build and sign a round over gathered liabilities, subtrees as tasks on ``executor``;
    the round signs the journal head it was built at (``snapshot``, ``snapshot_hash``) and its
    time (``snapshot_ns``). ``private``: private-mode trees (one asset per task)."""
    with collector_paused():
        return core_build_round(
            snapshot=snapshot,
            previous_round_hash=previous_round_hash,
            liabilities=liabilities,
            master_secret=master_secret,
            signing_seed=signing_seed,
            seed=seed,
            reserves=reserves_attestation,
            map_jobs=executor.map,
            snapshot_hash=snapshot_hash,
            snapshot_ns=snapshot_ns,
            private=private,
        )


# ---------------------------------------------------------------------- challenges


def announce_round(
    ledger: LedgerService, rounds: RoundStore, *, blocks: list[str], snapshot: int | None
) -> dict[str, Any]:
    """The messages each client-designated address must sign for the next round (``blocks``:
    CHAIN=HASH, a recent block of each chain). The round (its snapshot and the blocks named)
    is kept as pending for ``build_and_keep_round``; not while a build holds the rounds
    (``por_build_busy``): the next round is the one it is keeping."""
    named = dict(_block_pair(text) for text in blocks)
    snapshot = ledger.seq if snapshot is None else snapshot
    custody = CustodyService(ledger, until_seq=snapshot)
    with ledger.store.exclusive(por_build_lock) as taken:
        if not taken:
            raise InputError(Result.por_build_busy, "a build of a round is under way: "
                             "announce the next one once it is done")
        number, previous = _next_round(rounds)
        round_id = round_id_of(previous, snapshot).hex()
        found = challenges_for(custody.registry, round_id, named)
        rounds.save_pending(
            {
                "round": number,
                "round_id": round_id,
                "snapshot": snapshot,
                "previous_round_hash": previous.hex(),
                "blocks": {chain.value: block_hash for chain, block_hash in named.items()},
            }
        )
    return {
        "ok": True,
        "round": number,
        "round_id": round_id,
        "snapshot": snapshot,
        "challenges": [
            {"wallet": wallet, "chain": c.chain.value, "address": c.address, "message": c.message()}
            for wallet, c in found
        ],
    }


def _next_round(rounds: RoundStore) -> tuple[int, bytes]:
    """The next round's number and the hash of the last round kept (zeros for the first)."""
    numbers = rounds.numbers()
    if not numbers:
        return 1, bytes(32)
    return numbers[-1] + 1, round_hash(rounds.round(numbers[-1]).record())


def _block_pair(text: str) -> tuple[Chain, str]:
    chain, _, block_hash = text.partition("=")
    if chain not in {c.value for c in Chain} or len(block_hash) != 64:
        raise InputError(Result.control_challenge_invalid, f"--block {text!r}: CHAIN=HASH")
    return Chain(chain), block_hash.lower()


# ---------------------------------------------------------------------- build


def build_and_keep_round(
    ledger: LedgerService,
    rounds: RoundStore,
    *,
    snapshot: int | None,
    holdings: bytes | None,
    control: bytes | None,
    executor: Executor,
    clients_per_range: int = limits.batch_range_clients_default,
    private: bool = False,
    spilled: SpilledRoundBuilder | None = None,
    expected_round: int | None = None,
) -> dict[str, Any]:
    """Build, sign and keep a round over the client liabilities at a snapshot (default: the
    head); with ``holdings`` (and ``control``), attest the reserves that back them, over the
    snapshot and blocks of the pending round only. The liabilities are read and the trees
    built by tasks on ``executor``, in ranges of ``clients_per_range`` clients; ``private``
    builds private-mode trees (docs/proof-of-reserves.md, "Private mode"); with ``spilled``,
    every per-client figure is written by the tasks to the round's directory (``por build
    --spill``: no process holds every client) and the round is the same. A private round is
    not spilled (its trees are built whole, asset by asset).

    One build at a time: the whole build, from clearing what a killed one left to the rename
    of its round into place, holds the store's ``por_build`` lock, so a second build (the
    command line beside ``serve``'s, or another host) can neither clear the first's staging
    folder nor empty its round mid-rename; it is ``por_build_busy`` at once, having done
    nothing. With ``expected_round``, a build whose next round is another is refused so too
    (another build kept that round meanwhile)."""
    if private and spilled is not None:
        raise InputError(Result.usage_invalid, "a private round is built whole: --private or "
                         "--spill, not both")
    with ledger.store.exclusive(por_build_lock) as taken:
        if not taken:
            raise InputError(Result.por_build_busy, "another build of a round is under way: "
                             "nothing was done; run again once it is done")
        cleared = _clear_unfinished(rounds)
        number, previous = _next_round(rounds)
        if expected_round is not None and number != expected_round:
            raise InputError(Result.por_build_busy, f"round {expected_round} was kept by "
                             f"another build meanwhile (the next is {number}): nothing was done")
        return _build_and_keep(
            ledger, rounds, (number, previous, cleared), snapshot=snapshot, holdings=holdings,
            control=control, executor=executor, clients_per_range=clients_per_range,
            private=private, spilled=spilled)


def _build_and_keep(
    ledger: LedgerService,
    rounds: RoundStore,
    following: tuple[int, bytes, list[str]],
    *,
    snapshot: int | None,
    holdings: bytes | None,
    control: bytes | None,
    executor: Executor,
    clients_per_range: int,
    private: bool,
    spilled: SpilledRoundBuilder | None,
) -> dict[str, Any]:
    """``build_and_keep_round``'s build, its lock held: round ``number``, chained to
    ``previous``, after clearing ``cleared`` (``following``)."""
    number, previous, cleared = following
    pending, snapshot = _round_snapshot(ledger, rounds, previous, holdings is not None, snapshot)
    engine = ledger.ledger if snapshot == ledger.seq else ledger_at(ledger.store, snapshot)
    started = time.perf_counter()
    head_hash = snapshot_hash(ledger.store, snapshot)
    head_ns = snapshot_time_ns(ledger.store, snapshot)
    attested = None if holdings is None else attest(
        CustodyService(ledger, until_seq=snapshot).registry, engine,
        round_id=round_id_of(previous, snapshot), snapshot_ns=head_ns,
        observations=parse_observations(holdings, engine.assets), control_text=control,
        block_hashes=_pending_blocks(pending))
    secrets_of_round = (rounds.master_secret(create=True), rounds.signing_seed(),
                        secrets.token_bytes(_build_seed_bytes))
    master_secret, signing_seed, seed = secrets_of_round
    heads = (snapshot, head_hash, head_ns)
    folder = None if spilled is None else rounds.spill_folder(number)
    try:
        with ledger_cut(ledger, snapshot, engine) as cut:
            if spilled is None or folder is None:  # both or neither: named for the type checker
                liabilities = gather_liabilities(executor, cut, engine.assets, clients_per_range)
            else:
                built, pieces = _build_spilled(
                    spilled, executor, cut, engine.assets, folder, previous=previous, heads=heads,
                    secrets_of_round=secrets_of_round, clients_per_range=clients_per_range,
                    reserves=attested[1] if attested else None)
        if folder is None:
            built = build_round(
                liabilities, snapshot=snapshot, previous_round_hash=previous,
                master_secret=master_secret, signing_seed=signing_seed, seed=seed,
                executor=executor, snapshot_hash=head_hash, snapshot_ns=head_ns,
                reserves_attestation=attested[1] if attested else None, private=private)
            pieces = {n: len(tree.placement.index) for n, tree in built.trees.items()}
        seconds = time.perf_counter() - started
        round_file = rounds.save_round(
            number, built.record, built.trees, seed,
            attested[0].canonical() if attested else None, spilled=folder,
            private_trees=built.private_trees)
    except BaseException:
        if folder is not None:
            rounds.discard_spill(folder)
        raise
    report = _round_report(built, pieces, attested[0].document()["assets"] if attested else [])
    return {"ok": True, "round": number, "round_hash": built.hash, "snapshot": snapshot,
            "round_file": round_file, "reserves": built.record["reserves"], **report,
            "build_seconds": round(seconds, 3), "executor": executor.name,
            "spilled": folder is not None, "cleared": cleared}  # fmt: skip


def _clear_unfinished(rounds: RoundStore) -> list[str]:
    """Remove what a build killed mid-save left, each named in the log: it would stop this
    build, and none of it was ever a round."""
    cleared = rounds.clear_unfinished()
    for location in cleared:
        log.warning("cleared %s: a round build stopped before its round was kept", location)
    return cleared


def _round_snapshot(
    ledger: LedgerService, rounds: RoundStore, previous: bytes, attesting: bool,
    snapshot: int | None,
) -> tuple[Any, int]:
    """The pending round announced for reserves (when ``attesting``) and the snapshot the
    round is built at: the one its announcement pinned, else the one asked, else the head."""
    pending = _pending(rounds, previous) if attesting else None
    if pending is not None:
        snapshot = _pinned_snapshot(pending, snapshot)
    snapshot = ledger.seq if snapshot is None else snapshot
    if snapshot > ledger.seq:
        raise InputError(Result.field_unknown, f"snapshot {snapshot} beyond the head")
    return pending, snapshot


def _build_spilled(
    spilled: SpilledRoundBuilder, executor: Executor, cut: BalanceCut,
    assets: Mapping[str, Asset], folder: str, *, previous: bytes,
    heads: tuple[int, bytes, int], secrets_of_round: tuple[bytes, bytes, bytes],
    clients_per_range: int, reserves: ReservesAttestation | None,
) -> tuple[Round, dict[int, int]]:
    snapshot, head_hash, head_ns = heads
    master_secret, signing_seed, seed = secrets_of_round
    with collector_paused():
        return spilled(
            executor, cut, assets, folder, snapshot=snapshot, previous_round_hash=previous,
            master_secret=master_secret, signing_seed=signing_seed, seed=seed,
            snapshot_hash=head_hash, snapshot_ns=head_ns, reserves=reserves,
            clients_per_range=clients_per_range)


def _round_report(
    built: Round, pieces: Mapping[int, int], reserves_by_asset: list[Any]
) -> dict[str, Any]:
    """Each asset's tree and coverage, as ``por build`` reports them."""
    coverage = {entry["asset"]: entry["reserves"] or {} for entry in built.record["assets"]}
    rows: list[dict[str, Any]] = [
        {
            "asset": tree.asset.code,
            "height": tree.height,
            "pieces": pieces[tree.asset.number],
            "root_sum": str(tree.root[0]),
            "covered": coverage[tree.asset.code].get("covered"),
            "coverage_net_bp": coverage[tree.asset.code].get("coverage_net_bp"),
        }
        for tree in (built.trees[n] for n in sorted(built.trees))
    ] + [
        {
            "asset": tree.asset.code,
            "mode": "private",
            "height": tree.height,
            "leaves": len(tree.leaves),
            "root_sum": str(tree.root[0]),
            "covered": coverage[tree.asset.code].get("covered"),
            "coverage_net_bp": coverage[tree.asset.code].get("coverage_net_bp"),
        }
        for tree in (built.private_trees[n] for n in sorted(built.private_trees))
    ]
    return {"reserves_by_asset": reserves_by_asset, "assets": rows}


def _pending(rounds: RoundStore, previous: bytes) -> dict[str, Any]:
    """The round ``por challenges`` announced: reserves are attested only over its blocks."""
    pending = rounds.pending()
    if not isinstance(pending, dict) or pending.get("previous_round_hash") != previous.hex():
        raise InputError(
            Result.control_round_mismatch,
            "pending.json announces a round after another one: run `por challenges`",
        )
    return pending


def _pinned_snapshot(pending: dict[str, Any], snapshot: int | None) -> int:
    pinned = pending.get("snapshot")
    if type(pinned) is not int or (snapshot is not None and snapshot != pinned):
        raise InputError(
            Result.control_round_mismatch,
            f"the challenges were issued for snapshot {pinned}, not {snapshot}",
        )
    return pinned


def _pending_blocks(pending: dict[str, Any] | None) -> dict[Chain, str]:
    if pending is None:
        return {}
    blocks = pending.get("blocks", {})
    return {Chain(chain): block for chain, block in blocks.items() if chain in set(Chain)}


# ---------------------------------------------------------------------- proofs


def client_proofs(
    ledger: LedgerService, rounds: RoundStore, client: str, round_number: int | None = None
) -> dict[str, Any]:
    """The client's inclusion proofs in every asset they are owed, for one round (default:
    the latest), with the round's nonce for them (``client_key`` in a round of format 2);
    ``client_not_found`` when they are owed nothing in it. The client checks the proofs with
    their own client id, which the bundle names only for reading."""
    numbers = rounds.numbers()
    number = round_number if round_number is not None else (numbers or [0])[-1]
    if number not in numbers:
        raise StorageError(f"no round {number} in {rounds.location}")
    kept = rounds.round(number)
    record = kept.record()
    master_secret = rounds.master_secret(create=False)
    trees = kept.client_trees(dict(ledger.ledger.assets), record, master_secret, client)
    round_hash_hex = round_hash(record).hex()
    private_trees = kept.private_trees(dict(ledger.ledger.assets), record, master_secret)
    proofs = [
        found for n in sorted(trees) if (found := inclusion_proof(trees[n], client, round_hash_hex))
    ] + [
        found for n in sorted(private_trees)
        if (found := private_proof(private_trees[n], client, round_hash_hex))
    ]
    if not proofs:
        raise InputError(Result.client_not_found, f"{client} has no proofs in round {number}")
    version = version_of_round(record)
    assert version is not None  # the store read its trees
    secret = client_secret(version, master_secret, bytes.fromhex(record["round_id"]), client)
    return {
        "ok": True,
        "client": client,
        "nonce" if version >= 3 else "client_key": secret.hex(),
        "round": number,
        "round_hash": round_hash_hex,
        "proofs": proofs,
    }


# ---------------------------------------------------------------------- audit


def audit_kept_round(
    ledger: LedgerService,
    rounds: RoundStore,
    round_location: str,
    *,
    seed: str,
    sample_size: int,
    executor: Executor,
) -> dict[str, Any]:
    """Audit the round whose record is at ``round_location`` against the journal
    (``service/por_audit.py``), its chain to the round kept before it and its pinned reserves
    file; ``ok`` false on any problem. ``seed`` picks the sampled proofs (publish one the firm
    cannot know in advance). A spilled round is checked partition by partition on
    ``executor``, its rebuild in a scratch directory of the round store removed after."""
    kept = rounds.round_at(round_location)
    record = kept.record()
    master_secret = rounds.master_secret(create=False)
    build_seed = kept.build_seed()
    assets = dict(ledger.ledger.assets)
    spilled = kept.spilled(assets, record, master_secret)
    if spilled is not None:  # checked partition by partition: no process holds every client
        scratch = rounds.spill_folder(kept.number or 0)
        try:
            report = audit_spilled_round(
                ledger.store, record, spilled, secrets=(master_secret, build_seed),
                sample_seed=seed.encode("utf-8"), sample_size=sample_size, executor=executor,
                scratch=scratch)
        finally:
            rounds.discard_spill(scratch)
    else:
        stored: dict[int, AssetTree | PrivateTree] = {
            **kept.trees(assets, record, master_secret),
            **kept.private_trees(assets, record, master_secret)}
        report = audit_round(
            ledger.store, record, stored, master_secret=master_secret, build_seed=build_seed,
            sample_seed=seed.encode("utf-8"), sample_size=sample_size, executor=executor)
    number = kept.number
    before = rounds.round(number - 1).record() if number is not None and number > 1 else None
    check_chain(report, record, number, before)
    check_reserves_file(report, record, kept.reserves_file(), kept.reserves_location)
    return report.to_json()


# ---------------------------------------------------------------------- reserves


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
) -> tuple[Reserves, ReservesAttestation]:
    """The round's reserves: observed holdings of pool-designated wallets, proven controlled
    for this round over the blocks the firm named, net of encumbrances; totals in proof units
    rounded down."""
    proofs = parse_control_file(control_text) if control_text else []
    attested = attest_reserves(
        round_id.hex(), snapshot_ns, observations=observations, proofs=proofs,
        block_hashes=block_hashes, registry=registry, pools=ledger.pools,
        asset_chains={code: asset.chain for code, asset in ledger.assets.items()},
    )  # fmt: skip
    exponents = {code: proof_unit_exponent(a) for code, a in ledger.assets.items()}
    net, gross = totals_in_proof_units(attested, ledger.assets, exponents)
    pools = _pool_positions(
        ledger, pool_reserves_in_proof_units(attested, ledger.assets, exponents)
    )
    for number, units in gross.items():
        if units > limits.proof_value_max:
            raise InputError(
                Result.amount_must_be_below_2_64,
                f"reserves of asset {number}: {units} proof units do not fit 64 bits",
            )
    return attested, ReservesAttestation(attested.file_hash(), net, gross, pools)


def _pool_positions(
    ledger: Ledger, reserves: Mapping[int, Mapping[str, int]]
) -> dict[int, list[PoolPosition]]:
    """Per asset number, every pool that owes or holds it: what it owes (each client rounded
    up) and what its own wallets hold, proven and unencumbered (rounded down)."""
    owed = pool_liabilities(ledger)
    found = {}
    for code, asset in ledger.assets.items():
        held = reserves.get(asset.number, {})
        names = sorted(
            name
            for name in {*owed.get(code, {}), *held}
            if owed.get(code, {}).get(name, 0) or held.get(name, 0)
        )
        found[asset.number] = [
            PoolPosition(name, owed.get(code, {}).get(name, 0), held.get(name, 0)) for name in names
        ]
    return found
