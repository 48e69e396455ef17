"""``ringfence por ...``: proof-of-reserves rounds (liabilities trees and attested reserves),
the challenges wallets sign, client proofs, verification, audit.

A round's files live in a directory next to the database (``--out``, default ``por/`` beside
a SQLite file, else ``./por``)::

    por/master.key                     the master secret clients' keys derive from (0600)
    por/signing.key                    the Ed25519 seed rounds are signed with (0600)
    por/pending.json                   the round ``challenges`` announced (snapshot, blocks)
    por/rounds/000001/round.json       the public, signed round record
    por/rounds/000001/reserves.json    the attested reserves the round pins by hash (public)
    por/rounds/000001/private/         the build seed and the trees that answer proofs

Only ``round.json``, ``reserves.json`` and the proofs are public. Everything under
``private/`` and the two keys are the firm's (and its auditor's): with them the trees can be
rebuilt from the journal.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from ringfence.core import errors
from ringfence.core.custody.registry import Chain
from ringfence.core.errors import InputError, Result, StorageError
from ringfence.core.money import Asset
from ringfence.core.por import reserves
from ringfence.core.por.attestation import challenges_for
from ringfence.core.recon.files import parse_observations
from ringfence.entrypoints.cli.output import (
    JsonOption,
    console,
    new_table,
    opened,
    reported,
    say,
    target,
    write_json,
)
from ringfence.service import por
from ringfence.service.custody import CustodyService

name = "por"
app = typer.Typer(
    help="Proof of reserves and liabilities: rounds, challenges, proofs, verification, audit.",
    no_args_is_help=True,
)

OutOption = Annotated[
    Path | None,
    typer.Option("--out", help="The rounds' directory (default: por/ beside the database).",
                 file_okay=False),
]
WorkersOption = Annotated[
    int, typer.Option("--workers", min=1, max=64, help="Processes that build subtrees.")
]
_sqlite_prefix = "sqlite:///"
_key_bytes = 32


# ---------------------------------------------------------------------- files


def _folder(context: typer.Context, out: Path | None) -> Path:
    if out is not None:
        return out
    url = target(context).url
    if url.startswith(_sqlite_prefix):
        return Path(url[len(_sqlite_prefix) :]).parent / "por"
    return Path("por")


def _write_secret(path: Path, value: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(value.hex() + "\n")


def _secret(folder: Path, file_name: str, create: bool) -> bytes:
    path = folder / file_name
    if not path.exists():
        if not create:
            raise StorageError(f"no {file_name} in {folder}")
        folder.mkdir(parents=True, exist_ok=True)
        _write_secret(path, secrets.token_bytes(_key_bytes))
    try:
        value = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (ValueError, UnicodeDecodeError):
        raise StorageError(f"{path} is not hex") from None
    if len(value) != _key_bytes:
        raise StorageError(f"{path} does not hold {_key_bytes} bytes")
    return value


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StorageError(f"no {what} at {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(Result.line_malformed, f"{what} {path}: {error}") from None


def _round_numbers(folder: Path) -> list[int]:
    rounds = folder / "rounds"
    if not rounds.is_dir():
        return []
    return sorted(int(entry.name) for entry in rounds.iterdir() if entry.name.isdigit())


def _round_folder(folder: Path, number: int) -> Path:
    return folder / "rounds" / f"{number:06d}"


def _save_tree(private: Path, tree: reserves.AssetTree) -> None:
    placement = tree.placement
    arrays: dict[str, np.ndarray[Any, Any]] = {
        "client": placement.client, "piece": placement.piece, "index": placement.index,
        "value": placement.value}
    for height, level in tree.upper.items():
        arrays |= {f"index_{height}": level.index, f"sums_{height}": level.sums,
                   f"hashes_{height}": level.hashes}
    number = tree.asset.number
    np.savez(private / f"tree-{number}.npz", **arrays)  # type: ignore[arg-type]
    meta = {"asset": tree.asset.code, "height": tree.height, "hashes": tree.hashes,
            "clients": list(tree.clients)}
    (private / f"tree-{number}.json").write_text(json.dumps(meta), encoding="utf-8")


def _load_tree(
    private: Path, asset: Asset, round_id: bytes, master_secret: bytes
) -> reserves.AssetTree | None:
    if not (private / f"tree-{asset.number}.npz").exists():
        return None
    meta = _read_json(private / f"tree-{asset.number}.json", "tree")
    context = reserves.tree_context(round_id, asset, meta["height"], master_secret)
    with np.load(private / f"tree-{asset.number}.npz") as arrays:
        placement = reserves.Placement(context.height, context.block_levels, arrays["client"],
                                       arrays["piece"], arrays["index"], arrays["value"])
        upper = {height: reserves.Level(height, arrays[f"index_{height}"],
                                        arrays[f"sums_{height}"], arrays[f"hashes_{height}"])
                 for height in range(context.block_levels, context.height + 1)}
    return reserves.AssetTree(asset, context, tuple(meta["clients"]), placement, upper,
                              master_secret, meta["hashes"])


def _stored_trees(
    private: Path, assets: dict[str, Asset], record: dict[str, Any], master_secret: bytes
) -> dict[int, reserves.AssetTree]:
    round_id = bytes.fromhex(record["round_id"])
    trees = {}
    for entry in record["assets"]:
        asset = assets.get(entry["asset"])
        tree = None if asset is None else _load_tree(private, asset, round_id, master_secret)
        if tree is not None:
            trees[tree.asset.number] = tree
    return trees


# ---------------------------------------------------------------------- commands


HoldingsOption = Annotated[
    Path | None,
    typer.Option("--holdings", exists=True, dir_okay=False,
                 help="Observed holdings at the snapshot (JSON lines, as for reconcile)."),
]
ControlOption = Annotated[
    Path | None,
    typer.Option("--control", exists=True, dir_okay=False,
                 help="Proof-of-control signatures for the round (see `por challenges`)."),
]
SnapshotOption = Annotated[
    int | None, typer.Option("--snapshot", min=0, help="Journal entry (default: the head).")
]


def _previous_round_hash(folder: Path) -> tuple[int, bytes]:
    numbers = _round_numbers(folder)
    if not numbers:
        return 1, bytes(32)
    last = _read_json(_round_folder(folder, numbers[-1]) / "round.json", "round")
    return numbers[-1] + 1, reserves.round_hash(last)


@app.command("challenges")
def challenges(
    context: typer.Context,
    block: Annotated[
        list[str], typer.Option("--block", help="CHAIN=HASH: a recent block of each chain.")
    ],
    snapshot: SnapshotOption = None,
    out: OutOption = None,
    json_output: JsonOption = False,
) -> None:
    """The messages each client-designated address must sign for the next round. The round
    (its snapshot and the blocks named) is kept in ``pending.json`` for ``por build``."""
    with reported(json_output):
        blocks = dict(_block_pair(text) for text in block)
        with opened(context) as ledger:
            snapshot = ledger.seq if snapshot is None else snapshot
            custody = CustodyService(ledger, until_seq=snapshot)
            number, previous = _previous_round_hash(_folder(context, out))
            round_id = reserves.round_id_of(previous, snapshot).hex()
            found = challenges_for(custody.registry, round_id, blocks)
        pending = {"round": number, "round_id": round_id, "snapshot": snapshot,
                   "previous_round_hash": previous.hex(),
                   "blocks": {chain.value: block_hash for chain, block_hash in blocks.items()}}
        folder = _folder(context, out)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "pending.json").write_text(json.dumps(pending, indent=1) + "\n")
    document = {"ok": True, "round": number, "round_id": round_id, "snapshot": snapshot,
                "challenges": [{"wallet": wallet, "chain": c.chain.value, "address": c.address,
                                "message": c.message()} for wallet, c in found]}
    if json_output:
        write_json(document)
        return
    say(f"round {number} ({round_id}) at snapshot {snapshot}: {len(found)} challenges")


def _pending(folder: Path, previous: bytes) -> dict[str, Any]:
    """The round ``por challenges`` announced: reserves are attested only over its blocks."""
    pending = _read_json(folder / "pending.json", "pending round (run `por challenges` first)")
    if not isinstance(pending, dict) or pending.get("previous_round_hash") != previous.hex():
        raise InputError(Result.control_round_mismatch,
                         "pending.json announces a round after another one: run `por challenges`")
    return pending


def _pinned_snapshot(pending: dict[str, Any], snapshot: int | None) -> int:
    pinned = pending.get("snapshot")
    if type(pinned) is not int or (snapshot is not None and snapshot != pinned):
        raise InputError(Result.control_round_mismatch,
                         f"the challenges were issued for snapshot {pinned}, not {snapshot}")
    return pinned


def _pending_blocks(pending: dict[str, Any] | None) -> dict[Chain, str]:
    if pending is None:
        return {}
    blocks = pending.get("blocks", {})
    return {Chain(chain): block for chain, block in blocks.items() if chain in set(Chain)}


def _block_pair(text: str) -> tuple[Chain, str]:
    chain, _, block_hash = text.partition("=")
    if chain not in {c.value for c in Chain} or len(block_hash) != 64:
        raise InputError(Result.control_challenge_invalid, f"--block {text!r}: CHAIN=HASH")
    return Chain(chain), block_hash.lower()


@app.command("build")
def build(
    context: typer.Context,
    *,
    out: OutOption = None,
    workers: WorkersOption = por.workers_default,
    snapshot: SnapshotOption = None,
    holdings: HoldingsOption = None,
    control: ControlOption = None,
    json_output: JsonOption = False,
) -> None:
    """Build, sign and store a round over the client liabilities at a snapshot; with
    ``--holdings`` (and ``--control``), attest the reserves that back them."""
    with reported(json_output):
        folder = _folder(context, out)
        number, previous = _previous_round_hash(folder)
        pending = _pending(folder, previous) if holdings is not None else None
        with opened(context) as ledger:
            if pending is not None:
                snapshot = _pinned_snapshot(pending, snapshot)
            snapshot = ledger.seq if snapshot is None else snapshot
            if snapshot > ledger.seq:
                raise InputError(Result.field_unknown, f"snapshot {snapshot} beyond the head")
            engine = ledger.ledger if snapshot == ledger.seq else por.ledger_at(
                ledger.store, snapshot)
            liabilities = por.client_liabilities(engine)
            head_hash = por.snapshot_hash(ledger.store, snapshot)
            attested = None
            if holdings is not None:
                observations = parse_observations(holdings.read_bytes(), engine.assets)
                attested = por.attest(
                    CustodyService(ledger, until_seq=snapshot).registry, engine,
                    round_id=reserves.round_id_of(previous, snapshot),
                    snapshot_ns=por.snapshot_time_ns(ledger.store, snapshot),
                    observations=observations,
                    control_text=control.read_bytes() if control is not None else None,
                    block_hashes=_pending_blocks(pending))
        master_secret = _secret(folder, "master.key", create=True)
        signing_seed = _secret(folder, "signing.key", create=True)
        seed = secrets.token_bytes(_key_bytes)
        started = time.perf_counter()
        built = por.build_round(liabilities, snapshot=snapshot, previous_round_hash=previous,
                                master_secret=master_secret, signing_seed=signing_seed,
                                seed=seed, workers=workers, snapshot_hash=head_hash,
                                reserves_attestation=attested[1] if attested else None)
        seconds = time.perf_counter() - started
        round_folder = _round_folder(folder, number)
        if attested is not None:  # before the round that pins its hash
            round_folder.mkdir(parents=True, exist_ok=True)
            (round_folder / "reserves.json").write_bytes(attested[0].canonical())
        round_file = _store_round(round_folder, built, seed)
    rows: list[dict[str, Any]] = [
        {"asset": tree.asset.code, "height": tree.height, "pieces": len(tree.placement.index),
         "root_sum": str(tree.root[0])} for tree in (built.trees[n] for n in sorted(built.trees))]
    document = {"ok": True, "round": number, "round_hash": built.hash, "snapshot": snapshot,
                "round_file": str(round_file), "reserves": built.record["reserves"],
                "reserves_by_asset": attested[0].document()["assets"] if attested else [],
                "build_seconds": round(seconds, 3), "assets": rows}
    if json_output:
        write_json(document)
        return
    table = new_table("asset", "height", "pieces", "root_sum")
    for row in rows:
        table.add_row(str(row["asset"]), str(row["height"]), str(row["pieces"]),
                      str(row["root_sum"]))
    console().print(table)
    say(f"round {number} ({built.hash}) at snapshot {snapshot}: {round_file}")


def _store_round(folder: Path, built: reserves.Round, seed: bytes) -> Path:
    private = folder / "private"
    private.mkdir(parents=True, exist_ok=False)
    os.chmod(private, 0o700)
    _write_secret(private / "build.seed", seed)
    for number in sorted(built.trees):
        _save_tree(private, built.trees[number])
    round_file = folder / "round.json"
    round_file.write_text(json.dumps(built.record, indent=1) + "\n", encoding="utf-8")
    return round_file


@app.command("proof")
def proof(
    context: typer.Context,
    client: Annotated[str, typer.Argument(help="The client whose proofs to print.")],
    round_number: Annotated[
        int | None, typer.Option("--round", help="The round's number (default: the latest).")
    ] = None,
    out: OutOption = None,
    json_output: JsonOption = False,
) -> None:
    """The client's key and inclusion proofs in every asset they are owed, for one round."""
    with reported(json_output):
        folder = _folder(context, out)
        numbers = _round_numbers(folder)
        number = round_number if round_number is not None else (numbers or [0])[-1]
        if number not in numbers:
            raise StorageError(f"no round {number} in {folder}")
        round_folder = _round_folder(folder, number)
        record = _read_json(round_folder / "round.json", "round")
        master_secret = _secret(folder, "master.key", create=False)
        with opened(context) as ledger:
            assets = dict(ledger.ledger.assets)
        trees = _stored_trees(round_folder / "private", assets, record, master_secret)
        round_hash = reserves.round_hash(record).hex()
        proofs = [found for n in sorted(trees)
                  if (found := reserves.inclusion_proof(trees[n], client, round_hash))]
        if not proofs:
            raise InputError(Result.client_not_found, f"{client} has no proofs in round {number}")
    document = {"ok": True, "client": client,
                "client_key": reserves.client_key(master_secret, client).hex(),
                "round": number, "round_hash": round_hash, "proofs": proofs}
    if json_output:
        write_json(document)
        return
    for found in proofs:
        say(f"{found['asset']}: {len(found['pieces'])} pieces")
    say(f"client key {document['client_key']}; add --json for the proof document")


def _balances(texts: list[str]) -> dict[str, int]:
    found = {}
    for text in texts:
        code, _, units = text.partition("=")
        if not code or not units.isascii() or not units.isdigit():
            raise InputError(Result.line_malformed, f"--balance {text!r} is not ASSET=UNITS")
        found[code] = int(units)
    return found


@app.command("verify")
def verify(
    proof_file: Annotated[Path, typer.Argument(
        metavar="PROOF", dir_okay=False, help="`por proof --json` output, or one proof.")],
    *,
    round_file: Annotated[Path, typer.Option(
        "--round", dir_okay=False, help="The round record (round.json), from a second channel.")],
    key: Annotated[str, typer.Option(
        "--key", help="The client key (hex), if the proof file does not carry it.")] = "",
    balance: Annotated[list[str] | None, typer.Option(
        "--balance", help="ASSET=UNITS: your statement balance in proof units.")] = None,
    public_key: Annotated[str, typer.Option(
        "--public-key", help="The firm's published signing key (hex): refuse any other.")] = "",
    json_output: JsonOption = False,
) -> None:
    """Check inclusion proofs against a round record; exit 4 with the reason if any fails.
    A round verifies against the key it carries; ``--public-key`` pins the firm's own."""
    with reported(json_output):
        bundle = _read_json(proof_file, "proof")
        record = _read_json(round_file, "round")
        if not isinstance(bundle, dict) or not isinstance(record, dict):
            raise InputError(Result.line_malformed, "proof and round must be JSON objects")
        ok, results = por.verify_bundle(bundle, record, key, _balances(balance or []))
        if public_key and record.get("public_key") != public_key.lower():
            ok = False
            results = [{"asset": "", "ok": False, "reason": "signing_key_not_pinned",
                        "detail": "the round is signed by another key than the one given"}]
    if json_output:
        write_json({"ok": ok, "round_hash": reserves.round_hash(record).hex(),
                    "results": results})
    else:
        for result in results:
            verdict = "OK" if result["ok"] else f"REJECTED ({result['reason']})"
            say(f"{result['asset']}: {verdict} {result.get('detail', '')}".rstrip())
    if not ok:
        raise typer.Exit(errors.exit_status_integrity)


@app.command("audit")
def audit(
    context: typer.Context,
    *,
    round_file: Annotated[Path, typer.Option(
        "--round", dir_okay=False, help="The round record, in its round's directory.")],
    seed: Annotated[str, typer.Option(
        "--seed", help="The public seed that picks the sampled proofs (e.g. a block hash).")],
    sample_size: Annotated[int, typer.Option(
        "--sample", min=0, max=por.sample_size_max, help="Proofs to verify.")] = 100,
    out: OutOption = None,
    workers: WorkersOption = por.workers_default,
    json_output: JsonOption = False,
) -> None:
    """Rebuild the trees from the journal, check roots and totals, verify sampled proofs.

    The journal is replayed up to the round's snapshot; the sample is drawn from SEED (publish
    one the firm cannot know in advance). Exit 4 on any problem."""
    with reported(json_output):
        record = _read_json(round_file, "round")
        folder = _folder(context, out)
        private = round_file.parent / "private"
        master_secret = _secret(folder, "master.key", create=False)
        build_seed = _secret(private, "build.seed", create=False)
        with opened(context) as ledger:
            assets = dict(ledger.ledger.assets)
            stored = _stored_trees(private, assets, record, master_secret)
            report = por.audit_round(
                ledger.store, record, stored, master_secret=master_secret,
                build_seed=build_seed, sample_seed=seed.encode("utf-8"),
                sample_size=sample_size, workers=workers)
        _check_chain(folder, round_file, record, report)
        _check_reserves_file(round_file, record, report)
    if json_output:
        write_json(report.to_json())
    else:
        for problem in report.problems:
            say(f"{problem.problem} {problem.asset}: {problem.detail}")
        say(f"{len(report.sampled)} proofs sampled; {len(report.problems)} problems")
    if not report.ok:
        raise typer.Exit(errors.exit_status_integrity)


def _check_chain(
    folder: Path, round_file: Path, record: dict[str, Any], report: por.AuditReport
) -> None:
    """The round must name the one stored before it (a split view breaks the chain)."""
    if not round_file.parent.name.isdigit():
        return
    number = int(round_file.parent.name)
    if number == 1:
        if record.get("previous_round_hash") != bytes(32).hex():
            report.problems.append(por.Problem("chain_broken", "", "round 1 names a previous"))
        return
    before = _read_json(_round_folder(folder, number - 1) / "round.json", "round")
    if not reserves.verify_chain([before, record]):
        report.problems.append(por.Problem(
            "chain_broken", "", f"round {number} does not follow round {number - 1}"))
    if before.get("public_key") != record.get("public_key"):
        # A round signed by another key than the one before it is no continuation of it.
        report.problems.append(por.Problem(
            "signing_key_changed", "", f"round {number} is signed by another key"))


def _check_reserves_file(round_file: Path, record: dict[str, Any], report: por.AuditReport) -> None:
    """An attested round pins its reserves file: it must be there, hashing as recorded."""
    pinned = record.get("reserves", {})
    if pinned.get("status") != "attested":
        return
    path = round_file.parent / "reserves.json"
    if not path.is_file():
        report.problems.append(por.Problem("reserves_file_missing", "", str(path)))
        return
    if hashlib.sha256(path.read_bytes()).hexdigest() != pinned.get("file_hash"):
        report.problems.append(por.Problem(
            "reserves_file_mismatch", "", f"{path} does not hash to the round's file_hash"))
