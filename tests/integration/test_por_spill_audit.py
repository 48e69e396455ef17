"""The audit of a spilled round (``por audit`` of a round built with ``--spill``) checks it
partition by partition and never puts a tree together: the same report as the audit over the
whole stored trees (same problems, same sampled clients), in this process and on a Dask
cluster; a stored partition changed, missing or swapped is named, and nothing crashes."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.integration.test_batch_runs import many_clients

from ringfence import bootstrap
from ringfence.adapters.dask_executor import DaskExecutor
from ringfence.adapters.executors import InProcessExecutor
from ringfence.adapters.files.rounds import RoundFiles
from ringfence.adapters.por_spill import SpilledTrees, build_spilled_round
from ringfence.adapters.por_spill_audit import kth_name
from ringfence.core import limits
from ringfence.service import por
from ringfence.service.ledger import LedgerService
from ringfence.service.por_audit import audit_round
from ringfence.service.ports import Executor

SAMPLE = 40


@pytest.fixture(scope="module")
def dask_local() -> Iterator[DaskExecutor]:
    with bootstrap.executor("dask-local:2") as executor:
        assert isinstance(executor, DaskExecutor)
        yield executor


def small_partitions(*args: Any, **options: Any) -> Any:
    """The spilled build with partitions of a few clients, so a small book has several."""
    built = build_spilled_round(*args, **options, clients_per_partition=4)
    return built.round, {entry["asset_number"]: entry["pieces"]
                         for entry in built.manifest["assets"]}


def spilled_round(service: LedgerService, folder: Path, executor: Executor) -> RoundFiles:
    many_clients(service, count=400)
    rounds = RoundFiles(folder / "por")
    built = por.build_and_keep_round(service, rounds, snapshot=None, holdings=None,
                                     control=None, executor=executor, clients_per_range=9,
                                     spilled=small_partitions)
    assert built["spilled"]
    return rounds


def spill_of(rounds: RoundFiles, asset: int = 1) -> Path:
    return Path(rounds.round(1).folder) / "private" / "spill" / f"asset-{asset}"


def whole_audit(service: LedgerService, rounds: RoundFiles, sample_size: int) -> dict[str, Any]:
    """The audit as it ran before: over the stored trees put together whole."""
    kept = rounds.round(1)
    record = kept.record()
    master = rounds.master_secret(create=False)
    stored = kept.trees(dict(service.ledger.assets), record, master)
    return audit_round(service.store, record, dict(stored), master_secret=master,
                       build_seed=kept.build_seed(), sample_seed=b"public",
                       sample_size=sample_size, executor=InProcessExecutor()).to_json()


def audit(service: LedgerService, rounds: RoundFiles, executor: Executor,
          sample_size: int = SAMPLE) -> dict[str, Any]:
    return por.audit_kept_round(service, rounds, rounds.round(1).location, seed="public",
                                sample_size=sample_size, executor=executor)


@pytest.fixture(autouse=True)
def small_subtrees(monkeypatch: pytest.MonkeyPatch) -> None:
    """Subtrees of 8 leaves: a few dozen clients make many subtrees, and so partitions (the
    coordinator cuts the trees: Dask's workers are given the subtrees' height)."""
    monkeypatch.setattr(limits, "proof_subtree_leaves_max", 8)


def problems(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(p["problem"], p["asset"], p["detail"]) for p in document["problems"]]


def test_the_spilled_audit_is_the_whole_audit_and_never_puts_a_tree_together(
    sqlite_service: LedgerService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rounds = spilled_round(sqlite_service, tmp_path, InProcessExecutor())
    assert len(list(spill_of(rounds).glob("part-*.npz"))) > 3
    expected = {size: whole_audit(sqlite_service, rounds, size) for size in (0, SAMPLE, 10_000)}
    monkeypatch.setattr(SpilledTrees, "whole_tree", _refused)
    for size, whole in expected.items():
        found = audit(sqlite_service, rounds, InProcessExecutor(), size)
        assert found == whole
        assert found["ok"], found["problems"]
    assert len(expected[SAMPLE]["sampled"]) == SAMPLE
    assert list((tmp_path / "por" / "spilling").iterdir()) == []  # the scratch is removed


def _refused(*args: Any) -> Any:
    raise AssertionError("a spilled tree was put together whole")


def test_on_dask_the_spilled_audit_is_the_whole_audit(
    sqlite_service: LedgerService, dask_local: DaskExecutor, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rounds = spilled_round(sqlite_service, tmp_path, dask_local)
    whole = whole_audit(sqlite_service, rounds, SAMPLE)
    monkeypatch.setattr(SpilledTrees, "whole_tree", _refused)
    assert audit(sqlite_service, rounds, dask_local) == whole
    assert whole["ok"]


def rewrite(path: Path, change: Any) -> None:
    with np.load(path) as part:
        arrays = {name: part[name] for name in part.files}
    change(arrays)
    np.savez(path, **arrays)


def test_a_leaf_changed_in_one_stored_partition_is_found_by_name(
    sqlite_service: LedgerService, tmp_path: Path
) -> None:
    """A leaf's value changed in partition 2 (and its level above it, so the partition holds
    together): the whole audit sees nothing unless a sampled client is there; this one names
    the partition whatever the sample."""
    rounds = spilled_round(sqlite_service, tmp_path, InProcessExecutor())

    def add_one(arrays: dict[str, Any]) -> None:
        arrays["value"][0] += 1

    rewrite(spill_of(rounds) / "part-2.npz", add_one)
    assert whole_audit(sqlite_service, rounds, 0)["ok"]
    found = audit(sqlite_service, rounds, InProcessExecutor(), 0)
    assert problems(found) == [
        ("stored_tree_mismatch", "BTC",
         "partition 2 (part-2.npz): differs from the partition rebuilt from the journal")]
    sampled = audit(sqlite_service, rounds, InProcessExecutor(), 10_000)
    names = np.load(spill_of(rounds) / "names-2.npy").tolist()
    rejected = {p["detail"].split(":")[0] for p in sampled["problems"]
                if p["problem"] == "proof_rejected"}
    assert rejected == {name.decode() for name in names}


def test_a_missing_partition_is_named_and_its_clients_have_no_proof(
    sqlite_service: LedgerService, tmp_path: Path
) -> None:
    rounds = spilled_round(sqlite_service, tmp_path, InProcessExecutor())
    names = {name.decode() for name in np.load(spill_of(rounds) / "names-1.npy").tolist()}
    (spill_of(rounds) / "part-1.npz").unlink()
    found = audit(sqlite_service, rounds, InProcessExecutor(), 10_000)
    assert not found["ok"]
    assert ("stored_tree_mismatch", "BTC", "partition 1 (part-1.npz): missing (part-1.npz)") in (
        problems(found))
    unanswered = {p["detail"].split(":")[0] for p in found["problems"]
                  if p["problem"] == "proof_rejected" and p["asset"] == "BTC"}
    assert unanswered == names
    (spill_of(rounds) / "names-1.npy").unlink()
    found = audit(sqlite_service, rounds, InProcessExecutor(), 10_000)
    assert {p["detail"] for p in found["problems"] if p["problem"] == "proof_missing"} == names


@pytest.mark.parametrize("files", [("part",), ("part", "names")])
def test_swapped_partitions_are_named_and_nothing_crashes(
    sqlite_service: LedgerService, tmp_path: Path, files: tuple[str, ...]
) -> None:
    rounds = spilled_round(sqlite_service, tmp_path, InProcessExecutor())
    folder = spill_of(rounds)
    for kind in files:
        suffix = "npz" if kind == "part" else "npy"
        shutil.move(folder / f"{kind}-1.{suffix}", folder / "held")
        shutil.move(folder / f"{kind}-3.{suffix}", folder / f"{kind}-1.{suffix}")
        shutil.move(folder / "held", folder / f"{kind}-3.{suffix}")
    found = audit(sqlite_service, rounds, InProcessExecutor(), 10_000)
    named = {detail for problem, asset, detail in problems(found)
             if problem == "stored_tree_mismatch" and asset == "BTC"}
    assert {"partition 1 (part-1.npz): differs from the partition rebuilt from the journal",
            "partition 3 (part-3.npz): differs from the partition rebuilt from the journal",
            "the stored partitions' roots are not top.npz's"} <= named
    assert all(p["problem"] in {"stored_tree_mismatch", "proof_rejected"}
               for p in found["problems"])


@pytest.mark.parametrize("damage", ["missing", "garbage", "root"])
def test_a_damaged_top_is_named(
    sqlite_service: LedgerService, tmp_path: Path, damage: str
) -> None:
    rounds = spilled_round(sqlite_service, tmp_path, InProcessExecutor())
    top = spill_of(rounds) / "top.npz"
    if damage == "missing":
        top.unlink()
    elif damage == "garbage":
        top.write_bytes(b"not a zip file")
    else:
        height = rounds.round(1).record()["assets"][0]["height"]

        def second_root(arrays: dict[str, Any]) -> None:
            for name in ("index", "sums", "hashes"):
                arrays[f"{name}_{height}"] = np.concatenate([arrays[f"{name}_{height}"]] * 2)

        rewrite(top, second_root)
    found = audit(sqlite_service, rounds, InProcessExecutor(), 10_000)
    named = [p for p in found["problems"] if p["asset"] == "BTC"]
    assert named[0] == {"problem": "stored_tree_mismatch", "asset": "BTC",
                        "detail": "the stored tree that answers proofs differs"}
    assert named[1]["detail"] == {"missing": "top.npz: missing",
                                  "garbage": "top.npz: unreadable (ValueError)",
                                  "root": "top.npz holds no single root"}[damage]
    assert {p["problem"] for p in named} == {"stored_tree_mismatch", "proof_rejected"}


def test_a_clients_proof_reads_one_partition(
    sqlite_service: LedgerService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``por proof CLIENT`` of a spilled round: the partition holding the client, per asset,
    and never the whole tree."""
    rounds = spilled_round(sqlite_service, tmp_path, InProcessExecutor())
    monkeypatch.setattr(SpilledTrees, "whole_tree", _refused)
    read: list[tuple[int, int]] = []
    tree_of = SpilledTrees.tree_of

    def counted(self: SpilledTrees, entry: dict[str, Any], partition: int) -> Any:
        read.append((entry["asset_number"], partition))
        return tree_of(self, entry, partition)

    monkeypatch.setattr(SpilledTrees, "tree_of", counted)
    bundle = por.client_proofs(sqlite_service, rounds, "x007")
    assert len(read) == len(bundle["proofs"]) == len({asset for asset, _ in read})


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=6).filter(lambda t: "\x00" not in t),
                unique=True, min_size=1, max_size=60), st.integers(1, 6), st.randoms())
def test_a_rank_among_sorted_partitions_is_the_rank_in_the_merged_order(
    names: list[str], parts: int, rng: Any
) -> None:
    cut: list[list[bytes]] = [[] for _ in range(parts)]
    for name in names:
        cut[rng.randrange(parts)].append(name.encode())
    arrays = [np.sort(np.array(part, dtype=np.bytes_)) if part else np.zeros(0, "S1")
              for part in cut]
    ordered = sorted(names)
    for rank, name in enumerate(ordered):
        assert kth_name(arrays, rank).decode() == name
