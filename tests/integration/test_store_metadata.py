"""The LedgerStore contract for transfers' metadata, held against every store (memory, SQLite,
PostgreSQL): the pairs are kept from the journal body as it is appended (through every way of
appending), read back per transfer in canonical form, found by pair in timestamp order, and
projected for the audit; a reopened store still has them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from tests.integration.test_store_contract import (  # noqa: F401 - the parametrized fixtures
    StoreFactory,
    Writer,
    factory,
    record,
    store,
)

from ringfence.core.ledger.journal import EntryKind, encode_transfers, seal
from ringfence.core.ledger.metadata import RecordMetadata, encode_metadata
from ringfence.core.ledger.model import TransferRecord
from ringfence.service.ports import LedgerStore

DEPOSIT = {"txid": "aa" * 32, "vout": "1"}
PAYOUT = {"txid": "bb" * 32, "reference": "inv-7"}


def append_with_metadata(
    writer: Writer,
    records: list[TransferRecord],
    metadata: dict[int, dict[str, str]],
    *,
    begun: bool = False,
) -> None:
    """One transfers entry whose records (by index) carry ``metadata``."""
    writer.timestamp += 1_000
    sections = [RecordMetadata(i, encode_metadata(m)) for i, m in sorted(metadata.items())]
    body = encode_transfers(writer.seq + 1, writer.timestamp, records, [], metadata=sections)
    entry = seal(writer.seq + 1, EntryKind.transfers, writer.timestamp, body, writer.hash)
    if begun:
        writer.store.append_begin(entry, records).wait()
    else:
        writer.store.append(entry, records)
    writer.commit(entry)


def filled(store: LedgerStore) -> list[TransferRecord]:  # noqa: F811 - the fixture's name
    writer = Writer(store)
    base = writer.timestamp + 10_000
    first = [record(1, base + 1), record(2, base + 2), record(3, base + 3)]
    append_with_metadata(writer, first, {0: DEPOSIT, 2: PAYOUT})
    second = [record(4, base + 4), record(5, base + 5)]
    append_with_metadata(writer, second, {1: {**DEPOSIT, "vout": "2"}}, begun=True)
    writer.transfers([record(6, base + 6)])  # no metadata at all
    return [*first, *second]


def test_metadata_is_read_back_per_transfer_in_canonical_form(store: LedgerStore) -> None:  # noqa: F811
    filled(store)
    assert store.transfer_metadata([1, 2, 3, 4, 5, 6, 99]) == {
        1: encode_metadata(DEPOSIT),
        3: encode_metadata(PAYOUT),
        5: encode_metadata({**DEPOSIT, "vout": "2"}),
    }
    assert store.transfer_metadata([]) == {}
    assert store.transfer_metadata([2**128, 0]) == {}


def test_transfers_are_found_by_pair_in_timestamp_order(store: LedgerStore) -> None:  # noqa: F811
    records = filled(store)
    by_id = {r.id: r for r in records}
    found = list(store.transfers_with_metadata({"txid": "aa" * 32}))
    assert found == [by_id[1], by_id[5]]
    both = {"txid": "aa" * 32, "vout": "2"}
    assert list(store.transfers_with_metadata(both)) == [by_id[5]]
    assert list(store.transfers_with_metadata({"reference": "inv-7"})) == [by_id[3]]
    assert list(store.transfers_with_metadata({"txid": "aa" * 32, "vout": "9"})) == []
    assert list(store.transfers_with_metadata({"txid": "AA" * 32})) == []  # exact, by case
    after_first = list(store.transfers_with_metadata({"txid": "aa" * 32}, by_id[1].timestamp))
    assert after_first == [by_id[5]]


def test_the_projection_lists_every_pair_in_timestamp_and_key_order(store: LedgerStore) -> None:  # noqa: F811
    records = filled(store)
    stamps = {r.id: r.timestamp for r in records}
    assert list(store.projected_metadata()) == [
        (stamps[1], "txid", "aa" * 32),
        (stamps[1], "vout", "1"),
        (stamps[3], "reference", "inv-7"),
        (stamps[3], "txid", "bb" * 32),
        (stamps[5], "txid", "aa" * 32),
        (stamps[5], "vout", "2"),
    ]


def test_a_reopened_store_still_has_the_metadata(factory: StoreFactory) -> None:  # noqa: F811
    first = factory.open()
    filled(first)
    again = factory.reopen(first)
    assert set(again.transfer_metadata([1, 3, 5])) == {1, 3, 5}
    assert [r.id for r in again.transfers_with_metadata({"vout": "1"})] == [1]


def test_sqlite_metadata_rows_are_append_only(tmp_path: Path) -> None:
    from ringfence.adapters.storage.sqlite import SqliteStore

    path = tmp_path / "ledger.db"
    sqlite_store = SqliteStore(str(path))
    filled(sqlite_store)
    sqlite_store.close()
    tamper = sqlite3.connect(path)
    try:
        for statement in (
            "UPDATE transfer_metadata SET value = 'x'",
            "DELETE FROM transfer_metadata",
        ):
            with pytest.raises(sqlite3.IntegrityError, match="immutable"):
                tamper.execute(statement)
    finally:
        tamper.close()


def test_a_sqlite_file_of_the_schema_before_metadata_opens_and_moves_on(tmp_path: Path) -> None:
    from ringfence.adapters.storage.sqlite import SqliteStore, schema_version

    path = tmp_path / "ledger.db"
    SqliteStore(str(path)).close()
    with sqlite3.connect(path) as db:  # as a file written before metadata existed
        db.execute("DROP TABLE transfer_metadata")
        db.execute("UPDATE meta SET value = 4 WHERE key = 'schema_version'")
    reopened = SqliteStore(str(path))
    try:
        assert reopened.transfer_metadata([1]) == {}
        filled(reopened)
        assert [r.id for r in reopened.transfers_with_metadata({"vout": "1"})] == [1]
    finally:
        reopened.close()
    with sqlite3.connect(path) as db:
        version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert version == (schema_version,)
    assert schema_version == 5
