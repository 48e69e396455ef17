"""``ringfence transfers submit`` with metadata and ``ringfence transfers list`` with its
filters, ``--metadata KEY=VALUE`` among them, end to end against a SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.e2e.test_cli import database, deposit  # noqa: F401 - the module's ledger fixture
from tests.support_cli import copy_of, run, run_json, write_lines

from ringfence.core import errors

TXID = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"


@pytest.fixture(scope="module")
def listed(database: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    folder = tmp_path_factory.mktemp("listed")
    db = copy_of(database, folder)
    lines = [
        deposit("1", "1", metadata={"txid": TXID, "vout": "0"}),
        deposit("2", "2", metadata={"txid": TXID, "vout": "1"}),
        deposit("3", "3", credit_account="3"),
        deposit("4", "4", metadata={"Txid": TXID}),
        deposit("5", "5", metadata={"memo": "x" * 257}),
    ]
    submitted = run_json(
        db, "transfers", "submit", str(write_lines(folder / "t.jsonl", lines)), status=1
    )
    assert [row["result"] for row in submitted["results"]] == [
        "ok", "ok", "ok", "metadata_invalid", "metadata_too_large",
    ]  # fmt: skip
    return db


def test_the_list_shows_each_transfer_s_metadata(listed: Path) -> None:
    page = run_json(listed, "transfers", "list")
    assert [row["id"] for row in page["items"]] == ["1", "2", "3"]
    assert [row["metadata"] for row in page["items"]] == [
        {"txid": TXID, "vout": "0"},
        {"txid": TXID, "vout": "1"},
        {},
    ]
    assert page["next_cursor"] is None


def test_the_list_filters_by_metadata_and_the_other_filters(listed: Path) -> None:
    by_txid = run_json(listed, "transfers", "list", "--metadata", f"txid={TXID}")
    assert [row["id"] for row in by_txid["items"]] == ["1", "2"]
    both = run_json(
        listed, "transfers", "list", "--metadata", f"txid={TXID}", "--metadata", "vout=1"
    )
    assert [row["id"] for row in both["items"]] == ["2"]
    bob = run_json(listed, "transfers", "list", "--client", "bob")
    assert [row["id"] for row in bob["items"]] == ["3"]
    first = run_json(listed, "transfers", "list", "--metadata", f"txid={TXID}", "--limit", "1")
    assert [row["id"] for row in first["items"]] == ["1"]
    rest = run_json(
        listed, "transfers", "list", "--metadata", f"txid={TXID}", "--cursor",
        first["next_cursor"],
    )  # fmt: skip
    assert [row["id"] for row in rest["items"]] == ["2"]


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        (("--metadata", "TXID=1"), "metadata_invalid"),
        (("--metadata", "txid"), "metadata_invalid"),
        (("--metadata", "a=1", "--metadata", "a=2"), "metadata_invalid"),
        (tuple(f"--metadata=k{n}=v" for n in range(5)), "metadata_too_large"),
        (("--code", "gift"), "code_unknown"),
    ],
)
def test_a_bad_filter_is_refused_by_name(
    listed: Path, arguments: tuple[str, ...], code: str
) -> None:
    document = run_json(listed, "transfers", "list", *arguments, status=errors.exit_status_input)
    assert document["error"] == code


def test_the_table_shows_the_pairs(listed: Path) -> None:
    shown = run(listed, "transfers", "list", "--metadata", "vout=1")
    assert shown.status == 0, shown.stderr
    assert "vout=1" in shown.stdout  # the column may wrap the txid; the short pair stays whole
    assert "vout=0" not in shown.stdout


def test_metadata_that_looks_like_markup_is_shown_as_written(
    database: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    # A memo is anyone's text: "[/bold]" once crashed the table (a Rich MarkupError) and a
    # "[link=...]" rendered as a terminal hyperlink.
    db = copy_of(database, tmp_path)
    link = "[link=https://evil.example]refund here[/link]"
    lines = [
        deposit("1", "1", metadata={"memo": "[/bold]"}),
        deposit("2", "2", metadata={"memo": link}),
    ]
    submitted = run_json(db, "transfers", "submit", str(write_lines(tmp_path / "t.jsonl", lines)))
    assert [row["result"] for row in submitted["results"]] == ["ok", "ok"]
    listed = run(db, "transfers", "list")
    assert listed.status == 0, listed.stderr
    assert "memo=[/bold]" in listed.stdout
    assert "memo=[link=https://evil.example]refund" in listed.stdout
    assert "\x1b]8;" not in listed.stdout  # no OSC 8 hyperlink
