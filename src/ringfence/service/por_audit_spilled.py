"""The audit of a spilled round (``por build --spill``), with the build's bounded memory.

The checks are ``service/por_audit.py``'s, and so is the report: the same problems, the same
sampled clients, for a round whose trees are kept as partitions. What differs is where the
work runs. The journal is replayed to the round's snapshot, as for any round; then tasks on
the run's executor read the replayed balances in client ranges: one pass sums what each asset
owes (each client rounded up through ``coarsen_ceil``, apart from the core's own path), the
other rebuilds the trees partition by partition and compares each with the stored partition
(the ``SpilledRound`` port, ``adapters/por_spill_audit.py``). The coordinator gets back a few
numbers per range and partition: each tree's rebuilt root, the stored root and every fault
named (``stored_tree_mismatch``, naming the partition). The sample is drawn over the same
candidates as the in-memory audit's (every owed client, in asset code and name order), found
by rank in the rebuilt partitions' sorted names; each sampled proof is read from the one
stored partition that holds the client.

What the coordinator still holds: the replayed engine (every account, as the ledger service's
own does) and its client rows, which the range tasks read; never a tree or a per-client
figure of the round.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from ringfence.core import limits
from ringfence.core.batch import RowsCut, client_ranges, engine_rows
from ringfence.core.ledger.engine import Ledger
from ringfence.core.ledger.model import AccountClass
from ringfence.core.money import Asset, coarsen_ceil
from ringfence.core.por.hashes import client_secret
from ringfence.core.por.liabilities import partial_liabilities, proof_unit_exponent
from ringfence.core.por.round import round_hash
from ringfence.service.batch import ledger_at
from ringfence.service.ledger import collector_paused
from ringfence.service.por_audit import (
    AuditReport,
    OwedFigures,
    Problem,
    audit_figures,
    audit_pools,
    check_head,
    owed_figures,
    sample,
)
from ringfence.service.ports import (
    CutReader,
    Executor,
    LedgerStore,
    SpilledAssetCheck,
    SpilledRound,
)
from ringfence.verifier import ProofRejectedError, verify_inclusion


@dataclass(frozen=True, slots=True)
class FiguresTask:
    reader: CutReader
    assets: tuple[Asset, ...]


def figures_of_range(task: FiguresTask) -> dict[str, OwedFigures]:
    """A task: per asset, the range's clients as the audit counts them (``owed_figures``);
    a client is in one range only, so the ranges' figures add up."""
    owed = partial_liabilities(task.reader.read())
    return {asset.code: owed_figures(owed.get(asset.code, {}), asset) for asset in task.assets}


def _figures(
    executor: Executor, cut: RowsCut, assets: tuple[Asset, ...], clients_per_range: int
) -> dict[str, OwedFigures]:
    found = {asset.code: OwedFigures(0, 0, 0) for asset in assets}
    tasks = (FiguresTask(cut.reader(clients), assets)
             for clients in client_ranges(cut.client_number_max, clients_per_range))
    for part in executor.map(figures_of_range, tasks):
        for code, figures in part.items():
            total = found[code]
            found[code] = OwedFigures(total.clients + figures.clients,
                                      total.units + figures.units,
                                      total.proof_units + figures.proof_units)
    return found


def audit_spilled_round(
    store: LedgerStore,
    record: Mapping[str, Any],
    spilled: SpilledRound,
    *,
    secrets: tuple[bytes, bytes],
    sample_seed: bytes,
    sample_size: int,
    executor: Executor,
    scratch: str,
    clients_per_range: int = limits.batch_range_clients_default,
) -> AuditReport:
    """``audit_round`` for a spilled round (see the module docstring); ``secrets``: the master
    secret and the round's build seed; ``scratch``: an empty directory every task reaches,
    for the rebuilt partitions (the caller removes it). Never changes the store."""
    master_secret, build_seed = secrets
    report = AuditReport(round_hash(record).hex(), int(record["snapshot"]))
    version = check_head(report, store, record)
    if version is None:
        return report
    ledger = ledger_at(store, report.snapshot)
    assets = tuple(ledger.assets.values())
    with collector_paused():
        cut = RowsCut(report.snapshot, engine_rows(ledger))
        figures = _figures(executor, cut, assets, clients_per_range)
        checks = spilled.check(executor, cut, ledger.assets, scratch, build_seed=build_seed,
                               clients_per_range=clients_per_range)
        del cut
    entries = {entry["asset_number"]: entry for entry in record["assets"]}
    for asset in assets:
        entry = entries.pop(asset.number, None)
        if audit_figures(report, ledger, asset, figures[asset.code], entry):
            assert entry is not None
            _audit_roots(report, asset.code, entry, checks[asset.number])
    for number in entries:
        report.problems.append(Problem("asset_unexpected", str(number), "not in the ledger"))
    audit_pools(report, record, ledger, master_secret)
    stored = set(spilled.asset_numbers())
    candidates = sorted(((asset, checks[asset.number].owed) for asset in assets
                         if asset.number in stored), key=lambda candidate: candidate[0].code)
    _audit_sample(report, record, ledger, spilled, candidates,
                  secrets=(version, master_secret), seed=sample_seed, count=sample_size)
    return report


def _audit_roots(
    report: AuditReport, code: str, entry: Mapping[str, Any], check: SpilledAssetCheck
) -> None:
    """The rebuilt root against the record's; the stored root too, and each fault found in
    the stored partitions, by name."""
    signed = (int(entry["root"]["sum"]), bytes.fromhex(entry["root"]["hash"]))
    if entry.get("mode") is not None or (check.rebuilt_root, check.rebuilt_height) != (
            signed, entry["height"]):
        report.problems.append(
            Problem("root_mismatch", code, "the tree rebuilt from the journal has another root")
        )
    if entry.get("mode") is not None or (check.stored_root, check.stored_height) != (
            signed, entry["height"]):
        report.problems.append(
            Problem("stored_tree_mismatch", code, "the stored tree that answers proofs differs")
        )
    for fault in check.faults:
        report.problems.append(Problem("stored_tree_mismatch", code, fault))


def _audit_sample(
    report: AuditReport,
    record: Mapping[str, Any],
    ledger: Ledger,
    spilled: SpilledRound,
    candidates: Sequence[tuple[Asset, int]],
    *,
    secrets: tuple[int, bytes],
    seed: bytes,
    count: int,
) -> None:
    """The in-memory audit's sample: positions drawn over every owed client in asset code
    and name order, each proof verified as the client would verify it."""
    version, master_secret = secrets
    round_id = bytes.fromhex(record["round_id"])
    starts = [0, *accumulate(owed for _, owed in candidates)]
    chosen = []
    for position in sample(range(starts[-1]), seed, count):
        at = bisect.bisect_right(starts, position) - 1
        chosen.append((at, position - starts[at]))
    names: dict[tuple[int, int], str] = {}
    for at, (asset, _) in enumerate(candidates):
        ranks = sorted({rank for held, rank in chosen if held == at})
        if ranks:
            names |= {(at, rank): name for rank, name in
                      zip(ranks, spilled.rebuilt_clients(asset.number, ranks), strict=True)}
    owed = _balances(ledger, {(candidates[at][0].code, name) for (at, _), name in names.items()})
    proofs = {at: spilled.proofs(candidates[at][0].number,
                                 sorted({names[key] for key in chosen if key[0] == at}))
              for at in {held for held, _ in chosen}}
    for at, rank in chosen:
        asset, client = candidates[at][0], names[(at, rank)]
        report.sampled.append({"asset": asset.code, "client": client})
        proof = proofs[at][client]
        if proof is None:
            report.problems.append(Problem("proof_missing", asset.code, client))
            continue
        if isinstance(proof, str):
            report.problems.append(Problem("proof_rejected", asset.code, f"{client}: {proof}"))
            continue
        balance = coarsen_ceil(owed[(asset.code, client)], proof_unit_exponent(asset))
        key = client_secret(version, master_secret, round_id, client)
        try:
            verify_inclusion(proof, record, key, balance, client)
        except ProofRejectedError as rejection:
            report.problems.append(Problem(
                "proof_rejected", asset.code, f"{client}: {rejection.reason}: {rejection}"))


def _balances(ledger: Ledger, wanted: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """What the sampled clients are owed in the replayed journal: minor units per (asset
    code, client), over every pool and kind (one pass over the accounts)."""
    found = dict.fromkeys(wanted, 0)
    for account in ledger.accounts.values():
        definition = account.definition
        key = (definition.asset, definition.owner)
        if definition.account_class is AccountClass.client and key in found:
            found[key] += account.credits_posted - account.debits_posted
    return found
