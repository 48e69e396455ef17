"""core/ledger/engine.py with transfers' metadata: committed with the record it belongs to,
refused by name when malformed (changing nothing), part of the body a retry is compared with,
and dropped with a linked chain that fails."""

from __future__ import annotations

from dataclasses import replace

import pytest
from tests.support import results_of
from tests.unit.core.ledger.test_engine import BAD, Harness, assert_refused, deposit, funded

from ringfence.core import limits
from ringfence.core.errors import Result
from ringfence.core.ledger.metadata import RecordMetadata, encode_metadata
from ringfence.core.ledger.model import Transfer, TransferFlags

TXID = {"txid": "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b", "vout": "0"}


class MetadataHarness(Harness):
    """The harness, keeping each committed transfer's metadata as a store would and handing
    the engine that of the transfers a batch refers to."""

    def __init__(self) -> None:
        super().__init__()
        self.metadata: dict[int, bytes] = {}

    def execute(self, *events: Transfer) -> list[Result]:
        timestamp = max(self.now, self.ledger.timestamp_last + 1)
        wanted = self.ledger.references(events)
        known = {i: self.committed[i] for i in wanted if i in self.committed}
        known_metadata = {i: self.metadata[i] for i in known if i in self.metadata}
        outcome = self.ledger.execute(
            list(events), timestamp, known, known_metadata=known_metadata
        )
        for record in outcome.records:
            self.committed[record.id] = record
        for index, encoded in outcome.metadata:
            self.metadata[outcome.records[index].id] = encoded
        self.last = outcome
        return outcome.results


@pytest.fixture
def h() -> MetadataHarness:
    funded_harness = funded()
    harness = MetadataHarness()
    harness.ledger, harness.committed = funded_harness.ledger, funded_harness.committed
    return harness


def test_metadata_is_committed_with_its_record_in_canonical_form(h: MetadataHarness) -> None:
    plain = replace(deposit(h), id=BAD + 1)
    h.ok(plain, deposit(h, metadata=TXID))
    assert h.last is not None
    assert h.last.metadata == [RecordMetadata(1, encode_metadata(TXID))]
    assert [record.id for record in h.last.records] == [BAD + 1, BAD]


def test_a_batch_without_metadata_carries_none(h: MetadataHarness) -> None:
    h.ok(deposit(h), deposit(h, id=BAD + 1, metadata={}))
    assert h.last is not None
    assert h.last.metadata == []


@pytest.mark.parametrize(
    ("metadata", "code"),
    [
        ({"TXID": "a"}, Result.metadata_invalid),
        ({"txid": ""}, Result.metadata_invalid),
        ({"memo": "line\nbreak"}, Result.metadata_invalid),
        ("txid=a", Result.metadata_invalid),
        ({"memo": "x" * (limits.metadata_value_bytes_max + 1)}, Result.metadata_too_large),
        ({f"k{i}": "v" for i in range(limits.metadata_keys_max + 1)}, Result.metadata_too_large),
    ],
)
def test_malformed_or_oversized_metadata_is_refused_and_changes_nothing(
    h: MetadataHarness, metadata: object, code: Result
) -> None:
    assert_refused(h, code, deposit(h, metadata=metadata))


def test_a_retry_with_the_same_metadata_exists_and_with_other_metadata_is_named(
    h: MetadataHarness,
) -> None:
    h.ok(deposit(h, metadata=TXID))
    h.advance(1)
    assert h.one(deposit(h, metadata=dict(reversed(TXID.items())))) is Result.exists
    assert h.one(deposit(h, metadata={**TXID, "vout": "1"})) is (
        Result.exists_with_different_metadata
    )
    assert h.one(deposit(h)) is Result.exists_with_different_metadata
    # Another field differing is named first, as before metadata existed.
    assert h.one(deposit(h, amount=11, metadata={})) is Result.exists_with_different_amount


def test_a_retry_with_metadata_of_a_transfer_without_any_is_named(h: MetadataHarness) -> None:
    h.ok(deposit(h))
    h.advance(1)
    assert h.one(deposit(h)) is Result.exists
    assert h.one(deposit(h, metadata=TXID)) is Result.exists_with_different_metadata


def test_a_repeat_within_one_batch_is_compared_with_its_metadata(h: MetadataHarness) -> None:
    results = h.execute(
        deposit(h, metadata=TXID), deposit(h, metadata=TXID), deposit(h, metadata={"a": "b"})
    )
    assert results == [Result.ok, Result.exists, Result.exists_with_different_metadata]


def test_a_failed_linked_chain_leaves_no_metadata(h: MetadataHarness) -> None:
    linked = deposit(h, flags=TransferFlags.linked, metadata=TXID)
    failing = replace(deposit(h, id=BAD + 1, metadata={"memo": "x"}), amount=0)
    kept = deposit(h, id=BAD + 2, metadata={"memo": "kept"})
    results = h.execute(linked, failing, kept)
    assert results[:2] == [Result.linked_event_failed, Result.amount_must_not_be_zero], (
        results_of(results)
    )
    assert h.last is not None
    assert [record.id for record in h.last.records] == [BAD + 2]
    assert h.last.metadata == [RecordMetadata(0, encode_metadata({"memo": "kept"}))]
    # The rolled-back id is new again, with or without its metadata.
    h.advance(1)
    assert h.one(deposit(h)) is Result.ok
