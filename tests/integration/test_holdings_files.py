"""The holdings-file adapters reading real files: UTXO snapshots and custodian statements."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringfence.adapters.chains.custodian_statements import StatementSource
from ringfence.adapters.chains.utxo_snapshot import UtxoSnapshotSource
from ringfence.core import limits
from ringfence.core.custody.addresses import Network
from ringfence.core.errors import InputError, Result
from ringfence.core.money import Asset
from ringfence.service.ports import HoldingsSource

alice = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
house = "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3"
stranger = "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"
txids = [f"{n:02x}" * 32 for n in range(1, 6)]
btc = Asset("BTC", 8, 1, "bitcoin")
usdc = Asset("USDC", 6, 3, "ethereum", "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48")


def write_snapshot(path: Path, height: int, rows: list[str], network: str = "mainnet") -> Path:
    header = [
        "# ringfence utxo snapshot v1",
        "# chain: bitcoin",
        f"# network: {network}",
        f"# height: {height}",
        f"# block_hash: {height:064x}",
        "address,txid,vout,amount,height",
    ]
    path.write_text("\n".join([*header, *rows]) + "\n")
    return path


def write_statement(path: Path, custodian: str, rows: list[str]) -> Path:
    lines = ["# ringfence custodian statement v1", f"# custodian: {custodian}"]
    path.write_text("\n".join([*lines, "account,asset,amount,as_of", *rows]) + "\n")
    return path


@pytest.fixture
def day_one(tmp_path: Path) -> Path:
    rows = [f"{alice},{txids[0]},0,100000,100", f"{house},{txids[1]},1,5000,101"]
    return write_snapshot(tmp_path / "day1.csv", 110, rows)


@pytest.fixture
def day_two(tmp_path: Path) -> Path:
    # txids[0]:0 is still unspent, txids[1]:1 was spent, two new outputs paid alice.
    rows = [
        f"{alice},{txids[0]},0,100000,100",
        f"{alice},{txids[2]},0,7,115",
        f"{alice},{txids[3]},4,3,120",
        f"{stranger},{txids[4]},0,1,120",
    ]
    return write_snapshot(tmp_path / "day2.csv", 120, rows)


def test_a_snapshot_source_is_a_holdings_source_answering_from_the_latest_file(
    day_one: Path, day_two: Path
) -> None:
    source: HoldingsSource = UtxoSnapshotSource([day_two, day_one], Network.mainnet)
    held = source.holdings([alice, house])
    assert [(o.address, o.amount, o.height) for o in held] == [(alice, 100_010, 120)]
    assert held[0].source.startswith("utxo-snapshot:")
    assert source.name == "utxo-snapshot"


def test_inflows_come_from_every_snapshot_each_output_once(day_one: Path, day_two: Path) -> None:
    source = UtxoSnapshotSource([day_one, day_two], "mainnet")
    inflows, last = source.inflows([alice, house], 0)
    assert last == 120
    assert sorted((i.reference, i.address, i.amount) for i in inflows) == [
        (f"{txids[0]}:0", alice, 100_000),
        (f"{txids[1]}:1", house, 5_000),
        (f"{txids[2]}:0", alice, 7),
        (f"{txids[3]}:4", alice, 3),
    ]
    later, _ = source.inflows([alice], 116)
    assert [i.reference for i in later] == [f"{txids[3]}:4"]


def test_a_bad_line_in_any_file_names_the_file_and_line_and_builds_nothing(
    tmp_path: Path, day_one: Path
) -> None:
    bad = write_snapshot(tmp_path / "bad.csv", 130, [f"{alice},{txids[0]},0,1.5,100"])
    with pytest.raises(InputError) as caught:
        UtxoSnapshotSource([day_one, bad], "mainnet")
    assert caught.value.code is Result.snapshot_amount_must_be_whole_sats
    assert caught.value.detail.startswith("bad.csv: line 7:")


def test_contradicting_snapshots_and_the_wrong_network_are_refused(
    tmp_path: Path, day_one: Path
) -> None:
    moved = write_snapshot(tmp_path / "moved.csv", 111, [f"{house},{txids[0]},0,100000,100"])
    with pytest.raises(InputError) as caught:
        UtxoSnapshotSource([day_one, moved], "mainnet")
    assert caught.value.code is Result.outpoint_duplicate
    twin = write_snapshot(tmp_path / "twin.csv", 110, [])
    with pytest.raises(InputError) as caught:
        UtxoSnapshotSource([day_one, twin], "mainnet")
    assert caught.value.code is Result.holdings_file_header_invalid
    with pytest.raises(InputError) as caught:
        UtxoSnapshotSource([day_one], "testnet")
    assert caught.value.code is Result.network_mismatch


def test_an_oversized_file_is_refused_before_it_is_read(
    day_one: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "holdings_file_bytes_max", day_one.stat().st_size - 1)
    with pytest.raises(InputError) as caught:
        UtxoSnapshotSource([day_one], "mainnet")
    assert caught.value.code is Result.holdings_file_too_large


def test_a_statement_source_keeps_each_accounts_latest_row(tmp_path: Path) -> None:
    first = write_statement(
        tmp_path / "s1.csv",
        "prime-2",
        ["omnibus-1,BTC,1.5,2026-11-20T00:00:00Z", "omnibus-1,USDC,10,2026-11-20T00:00:00Z"],
    )
    second = write_statement(
        tmp_path / "s2.csv", "prime-2", ["omnibus-1,BTC,2,2026-11-21T00:00:00Z"]
    )
    source: HoldingsSource = StatementSource([second, first], [btc, usdc])
    held = sorted((o.asset, o.amount, o.source[:18]) for o in source.holdings(["omnibus-1", "x"]))
    assert held == [
        ("BTC", 200_000_000, "statement:prime-2:"),
        ("USDC", 10_000_000, "statement:prime-2:"),
    ]
    assert source.inflows(["omnibus-1"], 0) == ([], 0)


def test_statements_that_contradict_or_name_unknown_assets_are_refused(tmp_path: Path) -> None:
    one = write_statement(tmp_path / "a.csv", "prime-2", ["omnibus-1,BTC,1,2026-11-21T00:00:00Z"])
    two = write_statement(tmp_path / "b.csv", "other", ["omnibus-1,BTC,2,2026-11-21T00:00:00Z"])
    with pytest.raises(InputError) as caught:
        StatementSource([one, two], {"BTC": btc})
    assert caught.value.code is Result.statement_row_duplicate
    with pytest.raises(InputError) as caught:
        StatementSource([one], {"USDC": usdc})
    assert caught.value.code is Result.asset_not_found
    assert caught.value.detail.startswith("a.csv: line 4:")
