"""Proof-of-reserves rounds in a directory (the ``RoundStore`` port).

The layout (``--out``, default ``por/`` beside a SQLite database, else ``./por``)::

    por/master.key                     the master secret clients' keys derive from (0600)
    por/signing.key                    the Ed25519 seed rounds are signed with (0600)
    por/pending.json                   the round ``challenges`` announced (snapshot, blocks)
    por/rounds/000001/round.json       the public, signed round record
    por/rounds/000001/reserves.json    the attested reserves the round pins by hash (public)
    por/rounds/000001/private/         the build seed and the trees that answer proofs (0700)
    por/rounds/000001/private/spill/   a spilled round's trees (``adapters/por_spill.py``)
    por/spilling/                      spilled builds under way (moved into their round)
    por/building/                      rounds being saved (renamed into rounds/ when whole)

Only ``round.json``, ``reserves.json`` and the proofs are public. Everything under
``private/`` and the two keys are the firm's (and its auditor's): with them the trees can be
rebuilt from the journal. Keys are hex text files made with ``O_EXCL`` and never replaced. A
tree is kept as numpy arrays (``tree-N.npz``: the placement and every level from the block
height up) and a small JSON file (``tree-N.json``: asset, height, hash count, clients); a
private-mode tree as ``private-N.npz`` (every node's opening) and ``private-N.json``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ringfence.adapters.por_spill import SpilledTrees
from ringfence.adapters.por_spill_audit import SpilledRoundFiles
from ringfence.adapters.signing import write_key_file
from ringfence.core.errors import InputError, Result, StorageError
from ringfence.core.money import Asset
from ringfence.core.por.hashes import version_of_round
from ringfence.core.por.placement import Placement
from ringfence.core.por.private import Opening, PrivateTree, prover_seed_of
from ringfence.core.por.tree import AssetTree, Level, tree_context

key_bytes = 32


def read_secret(folder: Path, file_name: str, create: bool) -> bytes:
    """The 32-byte secret in ``folder/file_name`` (hex), made first if ``create``."""
    path = folder / file_name
    if not path.exists():
        if not create:
            raise StorageError(f"no {file_name} in {folder}")
        folder.mkdir(parents=True, exist_ok=True)
        write_key_file(path, secrets.token_bytes(key_bytes))
    try:
        value = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (ValueError, UnicodeDecodeError):
        raise StorageError(f"{path} is not hex") from None
    if len(value) != key_bytes:
        raise StorageError(f"{path} does not hold {key_bytes} bytes")
    return value


def read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StorageError(f"no {what} at {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(Result.line_malformed, f"{what} {path}: {error}") from None


def save_tree(private: Path, tree: AssetTree) -> None:
    placement = tree.placement
    arrays: dict[str, np.ndarray[Any, Any]] = {
        "client": placement.client,
        "piece": placement.piece,
        "index": placement.index,
        "value": placement.value,
    }
    for height, level in tree.upper.items():
        arrays |= {
            f"index_{height}": level.index,
            f"sums_{height}": level.sums,
            f"hashes_{height}": level.hashes,
        }
    number = tree.asset.number
    np.savez(private / f"tree-{number}.npz", **arrays)  # type: ignore[arg-type]
    meta = {
        "asset": tree.asset.code,
        "height": tree.height,
        "hashes": tree.hashes,
        "clients": list(tree.clients),
    }
    (private / f"tree-{number}.json").write_text(json.dumps(meta), encoding="utf-8")


def load_tree(
    private: Path, asset: Asset, round_id: bytes, master_secret: bytes, version: int
) -> AssetTree | None:
    if not (private / f"tree-{asset.number}.npz").exists():
        return None
    meta = read_json(private / f"tree-{asset.number}.json", "tree")
    context = tree_context(round_id, asset, meta["height"], master_secret, version)
    with np.load(private / f"tree-{asset.number}.npz") as arrays:
        placement = Placement(
            context.height,
            context.block_levels,
            arrays["client"],
            arrays["piece"],
            arrays["index"],
            arrays["value"],
        )
        upper = {
            height: Level(
                height,
                arrays[f"index_{height}"],
                arrays[f"sums_{height}"],
                arrays[f"hashes_{height}"],
            )
            for height in range(context.block_levels, context.height + 1)
        }
    return AssetTree(
        asset, context, tuple(meta["clients"]), placement, upper, master_secret, meta["hashes"]
    )


def save_private_tree(private: Path, tree: PrivateTree) -> None:
    """A private-mode tree (``private-N.npz``): per level the indexes, values, blindings,
    commitments and hashes; the clients' names and leaf indexes beside them (JSON)."""
    arrays: dict[str, np.ndarray[Any, Any]] = {}
    for height, level in enumerate(tree.levels):
        indexes = sorted(level)
        rows = [level[index] for index in indexes]
        arrays |= {
            f"index_{height}": np.array(indexes, dtype=np.uint64),
            f"value_{height}": np.array([row[0] for row in rows], dtype=np.uint64),
            f"opening_{height}": np.frombuffer(b"".join(
                row[1].to_bytes(32, "little") + row[2] + row[3] for row in rows),
                dtype=np.uint8).reshape(-1, 96),
        }
    number = tree.asset.number
    np.savez(private / f"private-{number}.npz", **arrays)  # type: ignore[arg-type]
    meta = {"asset": tree.asset.code, "height": tree.height, "leaves": dict(tree.leaves)}
    (private / f"private-{number}.json").write_text(json.dumps(meta), encoding="utf-8")


def load_private_tree(
    private: Path, asset: Asset, round_id: bytes, master_secret: bytes
) -> PrivateTree | None:
    if not (private / f"private-{asset.number}.npz").exists():
        return None
    meta = read_json(private / f"private-{asset.number}.json", "private tree")
    levels: list[dict[int, Opening]] = []
    with np.load(private / f"private-{asset.number}.npz") as arrays:
        for height in range(meta["height"] + 1):
            openings = arrays[f"opening_{height}"].tobytes()
            levels.append({
                index: (value, int.from_bytes(openings[at * 96 : at * 96 + 32], "little"),
                        openings[at * 96 + 32 : at * 96 + 64],
                        openings[at * 96 + 64 : at * 96 + 96])
                for at, (index, value) in enumerate(zip(
                    arrays[f"index_{height}"].tolist(), arrays[f"value_{height}"].tolist(),
                    strict=True))})
    return PrivateTree(asset, round_id, tuple(levels), meta["leaves"],
                       prover_seed_of(master_secret, round_id, asset.number))


def _write_round(
    folder: Path,
    record: Mapping[str, Any],
    trees: Mapping[int, AssetTree],
    build_seed: bytes,
    reserves_file: bytes | None,
    *,
    private_trees: Mapping[int, PrivateTree],
    spilled: str | None,
) -> None:
    """A round's files in ``folder`` (new and empty): the reserves file, then the private
    parts, the record last."""
    os.chmod(folder, 0o755)
    if reserves_file is not None:  # before the round that pins its hash
        (folder / "reserves.json").write_bytes(reserves_file)
    private = folder / "private"
    private.mkdir(mode=0o700)
    os.chmod(private, 0o700)
    write_key_file(private / "build.seed", build_seed)
    if spilled is not None:  # the tasks wrote the trees: moved in whole
        os.replace(spilled, private / "spill")
    else:
        for asset_number in sorted(trees):
            save_tree(private, trees[asset_number])
    for asset_number in sorted(private_trees):
        save_private_tree(private, private_trees[asset_number])
    (folder / "round.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


def _is_real_folder(entry: Path) -> bool:
    """A directory itself, not a symlink to one (``rmtree`` refuses those, and what one
    points to is not this store's to remove)."""
    return entry.is_dir() and not entry.is_symlink()


def _has_record(folder: Path) -> bool:
    """A round folder holding its record. A ``round.json`` empty or starting with a NUL byte
    is none: never a record a save wrote (it writes the record whole, synced before the
    rename), but what a file system may leave of one after a power loss hit a round saved
    without ``fsync``; counted as a round, it would stop every later build, so it is cleared
    with the other leftovers. A record unreadable otherwise is kept, and refused by name
    when read (``line_malformed``): only the operator may decide to remove a signed round."""
    record = folder / "round.json"
    try:
        with record.open("rb") as file:
            return file.read(1) not in (b"", b"\0")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return False
    except OSError:  # there but unreadable (a permission): kept, and refused by name when read
        return True


def _is_staging_name(name: str) -> bool:
    """A name ``_building_folder`` gives: the round's six digits, a dash, a random tail."""
    number, dash, tail = name.partition("-")
    return len(number) == 6 and number.isascii() and number.isdigit() and dash == "-" and tail != ""


def sync_path(path: Path | str) -> None:
    """``fsync`` a file or a folder (a folder's entries: names made or renamed in it)."""
    descriptor = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if os.path.isdir(path) else 0))
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def sync_tree(root: Path) -> None:
    """Every file under ``root``, then every folder from the deepest up, ``root`` last: what
    a rename of ``root`` then publishes is on disk, so a power loss after it cannot leave a
    round whose ``round.json`` or trees are empty (the file system may otherwise persist the
    rename before the data)."""
    for directory, _, files in os.walk(root, topdown=False):
        for name in files:
            sync_path(os.path.join(directory, name))
        sync_path(directory)


class RoundFolder:
    """One round's directory: ``round.json``, ``reserves.json`` and ``private/``."""

    def __init__(self, folder: Path, number: int | None) -> None:
        self.folder = folder
        self.number = number
        self.location = str(folder / "round.json")
        self.reserves_location = str(folder / "reserves.json")

    def record(self) -> Any:
        return read_json(self.folder / "round.json", "round")

    def reserves_file(self) -> bytes | None:
        path = self.folder / "reserves.json"
        return path.read_bytes() if path.is_file() else None

    def build_seed(self) -> bytes:
        return read_secret(self.folder / "private", "build.seed", create=False)

    def trees(
        self, assets: Mapping[str, Asset], record: Mapping[str, Any], master_secret: bytes
    ) -> dict[int, AssetTree]:
        private = self.folder / "private"
        round_id = bytes.fromhex(record["round_id"])
        version = version_of_round(record)
        if version is None and record["assets"]:
            raise InputError(Result.line_malformed, f"{self.location}: unknown round format")
        if (private / "spill" / "spill.json").is_file():
            return self._spilled(assets, record, master_secret).whole_trees()
        trees = {}
        for entry in record["assets"]:
            asset = assets.get(entry["asset"])
            tree = None if asset is None or version is None else load_tree(
                private, asset, round_id, master_secret, version)
            if tree is not None:
                trees[tree.asset.number] = tree
        return trees

    def private_trees(
        self, assets: Mapping[str, Asset], record: Mapping[str, Any], master_secret: bytes
    ) -> dict[int, PrivateTree]:
        round_id = bytes.fromhex(record["round_id"])
        found = (load_private_tree(self.folder / "private", asset, round_id, master_secret)
                 for entry in record["assets"]
                 if entry.get("mode") == "private" and (asset := assets.get(entry["asset"])))
        return {tree.asset.number: tree for tree in found if tree is not None}


    def client_trees(
        self, assets: Mapping[str, Asset], record: Mapping[str, Any], master_secret: bytes,
        client: str,
    ) -> dict[int, AssetTree]:
        if (self.folder / "private" / "spill" / "spill.json").is_file():
            return self._spilled(assets, record, master_secret).client_trees(client)
        return self.trees(assets, record, master_secret)

    def spilled(
        self, assets: Mapping[str, Asset], record: Mapping[str, Any], master_secret: bytes
    ) -> SpilledRoundFiles | None:
        """The round's partitions if it was built spilled (its ``private/spill`` directory:
        a manifest missing there is refused by name, not taken for a round kept whole)."""
        folder = self.folder / "private" / "spill"
        if not folder.is_dir():
            return None
        if version_of_round(record) is None:
            raise InputError(Result.line_malformed, f"{self.location}: unknown round format")
        return SpilledRoundFiles(str(folder), record, assets, master_secret)

    def _spilled(
        self, assets: Mapping[str, Asset], record: Mapping[str, Any], master_secret: bytes
    ) -> SpilledTrees:
        if version_of_round(record) is None:
            raise InputError(Result.line_malformed, f"{self.location}: unknown round format")
        return SpilledTrees(str(self.folder / "private" / "spill"), record, assets,
                            master_secret)


class RoundFiles:
    """The rounds of one firm in ``folder`` (see the module docstring for the layout)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.location = str(folder)

    def numbers(self) -> list[int]:
        """The rounds kept: the all-digit folders of ``rounds/`` holding their ``round.json``
        (``_has_record``; a folder without one was never a round: a build killed mid-save,
        before saves were renamed in whole, left it, and the next build clears it)."""
        return sorted(int(entry.name) for entry in self._round_folders() if _has_record(entry))

    def _round_folders(self) -> list[Path]:
        """The entries of ``rounds/`` named by a round number (ASCII digits only: ``int`` takes
        more digits than those, and an operator's ``2025-q4-audit`` is not a round)."""
        rounds = self.folder / "rounds"
        if not rounds.is_dir():
            return []
        return [entry for entry in rounds.iterdir()
                if entry.name.isascii() and entry.name.isdigit()]

    def round(self, number: int) -> RoundFolder:
        return RoundFolder(self.folder / "rounds" / f"{number:06d}", number)

    def round_at(self, location: str) -> RoundFolder:
        folder = Path(location).parent
        return RoundFolder(folder, int(folder.name) if folder.name.isdigit() else None)

    def master_secret(self, create: bool) -> bytes:
        return read_secret(self.folder, "master.key", create)

    def signing_seed(self) -> bytes:
        return read_secret(self.folder, "signing.key", create=True)

    def pending(self) -> Any:
        return read_json(self.folder / "pending.json", "pending round (run `por challenges` first)")

    def save_pending(self, pending: Mapping[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "pending.json").write_text(json.dumps(pending, indent=1) + "\n")

    def save_round(
        self,
        number: int,
        record: Mapping[str, Any],
        trees: Mapping[int, AssetTree],
        build_seed: bytes,
        reserves_file: bytes | None,
        *,
        private_trees: Mapping[int, PrivateTree] | None = None,
        spilled: str | None = None,
    ) -> str:
        """The round is written whole in ``building/`` and renamed into ``rounds/`` last:
        a save that fails half-way leaves no ``rounds/N`` without its record, which would stop
        every later build (the next number, the previous hash, both read from ``rounds/``)."""
        folder = self.round(number).folder
        if folder.exists():
            raise StorageError(f"{folder} exists: a round is never replaced")
        staging = Path(self._building_folder(number))
        try:
            _write_round(staging, record, trees, build_seed, reserves_file,
                         private_trees=private_trees or {}, spilled=spilled)
            sync_tree(staging)  # on disk before the rename makes it a round
            folder.parent.mkdir(parents=True, exist_ok=True)
            os.rename(staging, folder)  # atomic; refused if another build kept round N first
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        sync_path(folder.parent)  # the rename itself, past a power loss
        return str(folder / "round.json")

    def clear_unfinished(self) -> list[str]:
        """Remove what a build stopped mid-save left (a process killed in ``building/``, or a
        round folder without its record from a build before saves were renamed in whole) and
        name it: none of it was ever a round, and a round folder without ``round.json`` would
        stop the next build. The caller holds the build lock (service/por.py): another build's
        staging folder is never removed under it.

        Only what a build makes is removed: in ``rounds/`` the folders ``numbers()`` reads
        (all-digit names) without their record, in ``building/`` the ``NNNNNN-*`` folders.
        A symlink or a plain file is never followed nor removed (an operator put it there);
        one in the place of a round stops that round's save by name (``save_round``)."""
        unfinished = sorted(
            entry for entry in self._round_folders()
            if _is_real_folder(entry) and not _has_record(entry)
        )  # fmt: skip
        building = self.folder / "building"
        if building.is_dir():
            unfinished += sorted(
                entry for entry in building.iterdir()
                if _is_staging_name(entry.name) and _is_real_folder(entry)
            )  # fmt: skip
        for entry in unfinished:
            try:
                shutil.rmtree(entry)
            except OSError as error:
                raise StorageError(f"cannot clear {entry}, left by a build stopped mid-save: "
                                   f"{error.strerror or error}") from error
        return [str(entry) for entry in unfinished]

    def _building_folder(self, number: int) -> str:
        building = self.folder / "building"
        building.mkdir(parents=True, exist_ok=True)
        os.chmod(building, 0o700)
        return tempfile.mkdtemp(prefix=f"{number:06d}-", dir=building)

    def spill_folder(self, number: int) -> str:
        spilling = self.folder / "spilling"
        spilling.mkdir(parents=True, exist_ok=True)
        os.chmod(spilling, 0o700)
        return tempfile.mkdtemp(prefix=f"{number:06d}-", dir=spilling)

    def discard_spill(self, folder: str) -> None:
        shutil.rmtree(folder, ignore_errors=True)
