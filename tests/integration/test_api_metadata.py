"""Transfers' metadata over the REST API and the typed client: submitted in the wire format,
shown on every read, the list filtered by pairs (``metadata=KEY=VALUE``, repeated) within the
principal's scope, and bad metadata or a bad filter refused by name with nothing changed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.integration.test_api_inputs import assert_problem, deposit
from tests.support import journal_signer
from tests.support_api import ApiWorld, api_world

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core import limits
from ringfence.remote import RemoteService
from ringfence.service.ledger import LedgerService

TXID = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"


@pytest.fixture
def world() -> Iterator[ApiWorld]:
    service = LedgerService(MemoryStore(), ManualClock(), journal_signer())
    built = api_world(service)
    transfers = [
        {**deposit(built, 1), "metadata": {"txid": TXID, "vout": "0"}},
        {**deposit(built, 2), "metadata": {"txid": TXID, "vout": "1"}},
        deposit(built, 3),
        {
            **deposit(built, 4),
            "credit_account": str(built.custodian.client("bob")),
            "metadata": {"txid": TXID, "vout": "2", "memo": "für bob"},
        },
    ]
    answer = built.post("operator", "/v1/transfers", {"transfers": transfers}).json()
    assert answer["ok"], answer
    yield built
    built.http.close()


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()["items"]]


def test_reads_show_metadata(world: ApiWorld) -> None:
    one = world.get("operator", "/v1/transfers/1").json()
    assert one["metadata"] == {"txid": TXID, "vout": "0"}
    assert world.get("operator", "/v1/transfers/3").json()["metadata"] == {}
    listed = world.get("operator", "/v1/transfers").json()["items"]
    assert [row["metadata"] for row in listed][2:] == [
        {},
        {"memo": "für bob", "txid": TXID, "vout": "2"},
    ]


def test_the_list_filters_by_one_pair_or_several(world: ApiWorld) -> None:
    assert ids(world.get("operator", "/v1/transfers", metadata=f"txid={TXID}")) == ["1", "2", "4"]
    both = [f"txid={TXID}", "vout=1"]
    assert ids(world.get("operator", "/v1/transfers", metadata=both)) == ["2"]
    assert ids(world.get("operator", "/v1/transfers", metadata="memo=für bob")) == ["4"]
    assert ids(world.get("operator", "/v1/transfers", metadata="vout=9")) == []
    # With the other filters and pages.
    by_client = world.get("operator", "/v1/transfers", metadata=f"txid={TXID}", client="alice")
    assert ids(by_client) == ["1", "2"]
    first = world.get("operator", "/v1/transfers", metadata=f"txid={TXID}", limit=1).json()
    assert [row["id"] for row in first["items"]] == ["1"]
    rest = world.get(
        "operator", "/v1/transfers", metadata=f"txid={TXID}", cursor=first["next_cursor"]
    )
    assert ids(rest) == ["2", "4"]


def test_a_client_finds_by_metadata_only_its_own_transfers(world: ApiWorld) -> None:
    assert ids(world.get("alice", "/v1/transfers", metadata=f"txid={TXID}")) == ["1", "2"]
    assert ids(world.get("bob", "/v1/transfers", metadata=f"txid={TXID}")) == ["4"]
    assert ids(world.get("alice", "/v1/transfers", metadata="vout=2")) == []


@pytest.mark.parametrize(
    ("metadata", "code"),
    [
        ("TXID=1", "metadata_invalid"),
        ("txid", "metadata_invalid"),
        ("txid=", "metadata_invalid"),
        (["txid=1", "txid=2"], "metadata_invalid"),
        ([f"k{n}=v" for n in range(limits.metadata_filters_max + 1)], "metadata_too_large"),
    ],
)
def test_a_bad_filter_is_refused_by_name(world: ApiWorld, metadata: object, code: str) -> None:
    assert_problem(world.get("operator", "/v1/transfers", metadata=metadata), 422, code)


@pytest.mark.parametrize(
    ("metadata", "code"),
    [
        ({"Memo": "x"}, "metadata_invalid"),
        ({"memo": "a\tb"}, "metadata_invalid"),
        ({"memo": 7}, "metadata_invalid"),
        (["memo", "x"], "metadata_invalid"),
        ({"memo": "x" * (limits.metadata_value_bytes_max + 1)}, "metadata_too_large"),
    ],
)
def test_bad_metadata_is_refused_by_name_and_changes_nothing(
    world: ApiWorld, metadata: object, code: str
) -> None:
    seq = world.bundle.ledger.seq
    response = world.post(
        "operator", "/v1/transfers", {"transfers": [{**deposit(world, 9), "metadata": metadata}]}
    )
    assert_problem(response, 422, code)
    assert world.bundle.ledger.seq == seq
    assert_problem(world.get("operator", "/v1/transfers/9"), 404, "transfer_not_found")


def test_a_retry_with_other_metadata_is_named(world: ApiWorld) -> None:
    again = {**deposit(world, 1), "metadata": {"txid": TXID, "vout": "0"}}
    other = {**deposit(world, 1), "metadata": {"txid": TXID, "vout": "5"}}
    response = world.post("operator", "/v1/transfers", {"transfers": [again, other]})
    # A result in the batch's answer, not a problem of its own.
    assert response.status_code == 200
    answer = response.json()
    assert answer["ok"] is False
    assert [row["result"] for row in answer["results"]] == [
        "exists",
        "exists_with_different_metadata",
    ]


def test_the_typed_client_filters_by_metadata(world: ApiWorld) -> None:
    with RemoteService(token=world.keys["operator"], http=world.http) as remote:
        page = remote.transfers(metadata={"txid": TXID, "vout": "2"})
        assert [row["id"] for row in page["items"]] == ["4"]
        assert page["items"][0]["metadata"]["memo"] == "für bob"
        every = remote.each(remote.transfers, metadata={"txid": TXID}, limit=1)
        assert [row["id"] for row in every] == ["1", "2", "4"]
