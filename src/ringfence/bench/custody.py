"""``ringfence bench custody``: the custody feature's hot paths.

Method. Watch-only derivation (``core/custody/addresses.py``) from published keys: the BIP84
test vector's account key, and a 2-of-3 vault of BIP48 account keys (m/48'/0'/k'/2' of the
same "abandon … about" mnemonic). Keys are parsed and checked inside the timed call, as a
caller would pay for them; each run derives its count of addresses from index 0 of the receive
chain. Cases:

- ``derive_bip84``: 100,000 P2WPKH addresses in one call, one core (target ≤ 10 s).
- ``derive_bip84_2_processes``: the same 100,000 split into two halves over a warm pool of two
  worker processes, as a service could run it (the core itself starts no process).
- ``derive_multisig``: 10,000 2-of-3 P2WSH vault addresses (three derivations each).
- ``derive_eth``: 10,000 EIP-55 Ethereum addresses.
- ``reference_bip84_bip_utils``: bip-utils deriving the same addresses one index at a time,
  the library the research measured at 12.6 s per 100,000: the same machine, the same moment.
- ``ingest_utxo_snapshot``: a 1,000,000-row UTXO snapshot file (131 MB) over 50,000 distinct
  valid addresses, read, hashed, checked and summed per address by ``UtxoSnapshotSource``
  (target ≤ 10 s); ``all_inflow_objects_s`` adds what building every row's ``Inflow`` costs.
- ``ingest_statement``: a 999,999-row custodian statement (three assets per account), read,
  checked and turned into one observation per row by ``StatementSource``.

Each case is a function of ``quick`` returning its result row; ``cases`` lists them in order,
so a new case is one more function. Rates are medians of runs (one in quick
mode, with smaller counts); the machine is shared, so the load average is reported too.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from ringfence.bench.machine import Progress, machine, peak_memory_mib
from ringfence.core.custody.addresses import AddressKind, derive_addresses
from ringfence.core.money import Asset, format_amount

Case = Callable[[bool], dict[str, Any]]

# BIP84's test vector: the account key and its first receive address.
bip84_account = (
    "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31m"
    "GDtKsAYz2oz2AGutZYs"
)
bip84_first_address = "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
mnemonic = " ".join(["abandon"] * 11 + ["about"])


def _runs(quick: bool) -> int:
    return 1 if quick else 3


def _timed(case: str, count: int, runs: int, work: Callable[[], int]) -> dict[str, Any]:
    """Median over ``runs`` calls of ``work``, which returns how many addresses it made."""
    rates = []
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        made = work()
        elapsed = time.perf_counter() - started
        assert made == count
        seconds.append(elapsed)
        rates.append(count / elapsed)
    median_s = statistics.median(seconds)
    return {
        "case": case,
        "ops_per_s": round(count / median_s, 1),
        "seconds": round(median_s, 3),
        "count": count,
        "runs": runs,
        "runs_ops_per_s": [round(rate, 1) for rate in rates],
    }


def _bip84(start: int, count: int) -> list[str]:
    return derive_addresses(AddressKind.bip84, [bip84_account], start, count)


def derive_bip84(quick: bool) -> dict[str, Any]:
    count = 10_000 if quick else 100_000
    assert _bip84(0, 1) == [bip84_first_address]
    return _timed("derive_bip84", count, _runs(quick), lambda: len(_bip84(0, count)))


def derive_bip84_2_processes(quick: bool) -> dict[str, Any]:
    count = 10_000 if quick else 100_000
    half = count // 2
    with ProcessPoolExecutor(max_workers=2) as pool:
        # Warm the workers (start, import) outside the clock: a service keeps its pool.
        assert list(pool.map(_bip84, [0, 1], [1, 1])) == [[bip84_first_address], _bip84(1, 1)]

        def work() -> int:
            halves = pool.map(_bip84, [0, half], [half, count - half])
            return sum(len(addresses) for addresses in halves)

        row = _timed("derive_bip84_2_processes", count, _runs(quick), work)
    row["processes"] = 2
    return row


def _account_key(path: str) -> str:
    """An account's xpub at ``path`` below the mnemonic's master key (bip-utils, untimed)."""
    from bip_utils import (  # type: ignore[import-untyped]
        Bip32Secp256k1,
        Bip39SeedGenerator,
    )

    master = Bip32Secp256k1.FromSeed(Bip39SeedGenerator(mnemonic).Generate())
    return str(master.DerivePath(path).PublicKey().ToExtended())


def derive_multisig(quick: bool) -> dict[str, Any]:
    count = 2_000 if quick else 10_000
    keys = [_account_key(f"m/48'/0'/{k}'/2'") for k in range(3)]
    row = _timed(
        "derive_multisig",
        count,
        _runs(quick),
        lambda: len(derive_addresses(AddressKind.multisig, keys, 0, count)),
    )
    row["keys"] = 3
    return row


def derive_eth(quick: bool) -> dict[str, Any]:
    count = 2_000 if quick else 10_000
    account = _account_key("m/44'/60'/0'")
    return _timed(
        "derive_eth",
        count,
        _runs(quick),
        lambda: len(derive_addresses(AddressKind.eth, [account], 0, count)),
    )


def reference_bip84_bip_utils(quick: bool) -> dict[str, Any]:
    from bip_utils import Bip44Changes, Bip84, Bip84Coins

    count = 1_000 if quick else 10_000

    def work() -> int:
        account = Bip84.FromExtendedKey(bip84_account, Bip84Coins.BITCOIN)
        chain = account.Change(Bip44Changes.CHAIN_EXT)
        made = [chain.AddressIndex(k).PublicKey().ToAddress() for k in range(count)]
        assert made[0] == bip84_first_address
        return len(made)

    row = _timed("reference_bip84_bip_utils", count, _runs(quick), work)
    row["library"] = "bip-utils"
    return row


# ---------------------------------------------------------------------- holdings ingest
#
# Ingest cases (target: 1,000,000 holdings rows in ≤ 10 s). Each generates its file
# once per process in a temporary folder, outside the clock, then times the adapter as the
# service uses it: read the file, hash it, check every row, sum per address (snapshots) or
# build one observation per row (statements). Deriving a million distinct addresses would take
# minutes, so the snapshot's rows are spread over 50,000 distinct addresses (5,000 in quick
# mode), 20 outputs each on average: P2WPKH 50%, P2TR 20%, P2WSH 10%, P2PKH 10%, P2SH 10%,
# encoded by embit from random programs, so each is valid and checked once per file.

ingest_addresses = 50_000
ingest_addresses_quick = 5_000
_ingest_files: dict[tuple[str, bool], Any] = {}


def _snapshot_addresses(count: int, rng: random.Random) -> list[str]:
    from embit.networks import NETWORKS
    from embit.script import Script

    network = NETWORKS["main"]
    shapes = [
        (5, lambda: b"\x00\x14" + rng.randbytes(20)),
        (2, lambda: b"\x51\x20" + rng.randbytes(32)),
        (1, lambda: b"\x00\x20" + rng.randbytes(32)),
        (1, lambda: b"\x76\xa9\x14" + rng.randbytes(20) + b"\x88\xac"),
        (1, lambda: b"\xa9\x14" + rng.randbytes(20) + b"\x87"),
    ]
    makers = [make for weight, make in shapes for _ in range(weight)]
    return [Script(makers[n % len(makers)]()).address(network) for n in range(count)]


def _snapshot_file(quick: bool) -> tuple[Any, int, int]:
    """(path, rows, distinct addresses) of a mainnet snapshot, written once per process."""
    key = ("snapshot", quick)
    if key not in _ingest_files:
        rows = 100_000 if quick else 1_000_000
        rng = random.Random(84)
        addresses = _snapshot_addresses(ingest_addresses_quick if quick else ingest_addresses, rng)
        folder = tempfile.TemporaryDirectory(prefix="ringfence-bench-")
        path = Path(folder.name) / "snapshot.csv"
        with path.open("w", encoding="ascii") as file:
            file.write(
                "# ringfence utxo snapshot v1\n# chain: bitcoin\n# network: mainnet\n"
                f"# height: 871002\n# block_hash: {rng.randbytes(32).hex()}\n"
                "# time: 2026-11-21T00:00:00Z\naddress,txid,vout,amount,height\n"
            )
            file.writelines(
                f"{addresses[rng.randrange(len(addresses))]},{rng.randbytes(32).hex()},"
                f"{rng.randrange(4)},{rng.randrange(546, 10**9)},"
                f"{rng.randrange(700_000, 871_003)}\n"
                for _ in range(rows)
            )
        _ingest_files[key] = (folder, path, rows, len(addresses))
    _, path, rows, distinct = _ingest_files[key]
    return path, rows, distinct


def _ingest_timed(case: str, rows: int, runs: int, work: Callable[[], int]) -> dict[str, Any]:
    """As ``_timed``, in rows, with the process's CPU seconds beside the wall clock: on a
    shared machine the CPU time says what the work costs, the wall time what it took."""
    cpu_seconds: list[float] = []

    def measured() -> int:
        started = time.process_time()
        made = work()
        cpu_seconds.append(time.process_time() - started)
        return made

    row = _timed(case, rows, runs, measured)
    row["rows"] = row.pop("count")
    row["rows_per_s"] = row["ops_per_s"]
    row["cpu_seconds"] = round(statistics.median(cpu_seconds), 3)
    return row


def ingest_utxo_snapshot(quick: bool) -> dict[str, Any]:
    from ringfence.adapters.chains.utxo_snapshot import UtxoSnapshotSource

    path, rows, distinct = _snapshot_file(quick)
    sources: list[UtxoSnapshotSource] = []

    def work() -> int:
        sources[:] = [UtxoSnapshotSource([path], "mainnet")]
        return len(sources[0].latest.utxos)

    row = _ingest_timed("ingest_utxo_snapshot", rows, _runs(quick), work)
    snapshot = sources[0].latest
    assert len(snapshot.observations) == distinct
    started = time.perf_counter()
    inflows = snapshot.inflows()
    row["all_inflow_objects_s"] = round(time.perf_counter() - started, 3)
    row["inflows"] = len(inflows)
    row["addresses"] = distinct
    row["file_bytes"] = path.stat().st_size
    return row


def _statement_file(quick: bool) -> tuple[Any, int, dict[str, Asset]]:
    """(path, rows, assets) of a statement of three assets per account, written once."""
    assets = {
        asset.code: asset
        for asset in (
            Asset("BTC", 8, 1, "bitcoin"),
            Asset("ETH", 18, 2, "ethereum"),
            Asset("USDC", 6, 3, "ethereum", "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"),
        )
    }
    key = ("statement", quick)
    if key not in _ingest_files:
        rows = 100_002 if quick else 999_999
        rng = random.Random(75)
        codes = list(assets)
        folder = tempfile.TemporaryDirectory(prefix="ringfence-bench-")
        path = Path(folder.name) / "statement.csv"
        with path.open("w", encoding="ascii") as file:
            file.write("# ringfence custodian statement v1\n# custodian: bench\n")
            file.write("account,asset,amount,as_of\n")
            for n in range(rows):
                asset = assets[codes[n % 3]]
                units = rng.randrange(10 ** (asset.scale + 5))
                file.write(
                    f"acct-{n // 3},{asset.code},{format_amount(units, asset)},"
                    "2026-11-21T00:00:00Z\n"
                )
        _ingest_files[key] = (folder, path, rows)
    _, path, rows = _ingest_files[key]
    return path, rows, assets


def ingest_statement(quick: bool) -> dict[str, Any]:
    from ringfence.adapters.chains.custodian_statements import StatementSource

    path, rows, assets = _statement_file(quick)

    def work() -> int:
        source = StatementSource([path], assets)
        return len(source.statements[0].observations)

    row = _ingest_timed("ingest_statement", rows, _runs(quick), work)
    row["file_bytes"] = path.stat().st_size
    return row


cases: list[Case] = [
    derive_bip84,
    derive_bip84_2_processes,
    derive_multisig,
    derive_eth,
    reference_bip84_bip_utils,
    ingest_utxo_snapshot,
    ingest_statement,
]


def run_bench(quick: bool = False, progress: Progress | None = None) -> dict[str, Any]:
    results = []
    for done, case in enumerate(cases):
        if progress is not None:
            progress("custody", done, len(cases))
        results.append(case(quick))
    if progress is not None:
        progress("custody", len(cases), len(cases))
    return {
        "bench": "custody",
        "machine": machine(),
        "load_average": list(os.getloadavg()),
        "method": "watch-only derivation from published keys, keys parsed inside the clock, "
        "median of runs; see ringfence/bench/custody.py",
        "peak_memory_mib": peak_memory_mib(),
        "results": results,
    }
