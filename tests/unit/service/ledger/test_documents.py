"""service/ledger/documents.py: definitions asked with text fields, and the documents the
CLI renders (amounts already formatted)."""

from __future__ import annotations

import pytest
from tests.support import Custodian

from ringfence.core.errors import InputError, Result
from ringfence.service.ledger import LedgerService
from ringfence.service.ledger.documents import (
    balances_document,
    create_account,
    create_asset,
    create_clients,
    create_pool,
    journal_head,
    positions_document,
    signed_head_document,
)


def test_definitions_are_asked_with_text(memory_service: LedgerService) -> None:
    service = memory_service
    assert create_asset(service, code="BTC", scale=8, number=1, chain="", contract="") == [
        Result.ok
    ]
    assert create_clients(service, ["alice"]) == [Result.ok]
    pool = create_pool(
        service, name="omni", kind="omnibus", terms="custody", purpose="spot_custody", client=""
    )
    assert pool == [Result.ok]
    created = create_account(
        service,
        account_id="0007",
        asset="BTC",
        account_class="client",
        owner="alice",
        kind="available",
        pool="omni",
    )
    assert created == ("7", [Result.ok])


@pytest.mark.parametrize(
    ("kind", "terms", "purpose", "code"),
    [
        ("shared", "custody", "spot_custody", Result.pool_kind_invalid),
        ("omnibus", "loan", "spot_custody", Result.pool_terms_invalid),
        ("omnibus", "custody", "spot", Result.pool_purpose_invalid),
    ],
)
def test_a_pool_option_that_names_nothing_is_refused_by_name(
    memory_service: LedgerService, kind: str, terms: str, purpose: str, code: Result
) -> None:
    with pytest.raises(InputError) as refused:
        create_pool(memory_service, name="omni", kind=kind, terms=terms, purpose=purpose, client="")
    assert refused.value.code is code


def test_an_unknown_account_class_is_refused_by_name(memory_service: LedgerService) -> None:
    with pytest.raises(InputError) as refused:
        create_account(
            memory_service,
            account_id="1",
            asset="BTC",
            account_class="vip",
            owner="alice",
            kind="available",
            pool="",
        )
    assert refused.value.code is Result.account_class_invalid


def test_balances_name_what_they_filter_by(
    memory_service: LedgerService, custodian: Custodian
) -> None:
    memory_service.submit([custodian.deposit(1, "alice", 150_000_000)])
    document = balances_document(memory_service, client="alice", asset="BTC")
    assert document["ok"] is True
    rows = document["balances"]
    assert isinstance(rows, list)
    alice = [row for row in rows if row["account"] == str(custodian.client("alice"))]
    assert alice[0]["balance"] == "1.50000000"
    for missing, code in (
        ({"client": "zed"}, Result.client_not_found),
        ({"pool": "nowhere"}, Result.pool_not_found),
        ({"asset": "DOGE"}, Result.asset_not_found),
    ):
        with pytest.raises(InputError) as refused:
            balances_document(memory_service, **missing)
        assert refused.value.code is code


def test_positions_and_heads_are_documents(
    memory_service: LedgerService, custodian: Custodian
) -> None:
    memory_service.submit([custodian.deposit(1, "alice", 150_000_000)])
    positions = positions_document(memory_service)["positions"]
    assert isinstance(positions, list)
    main_btc = [row for row in positions if (row["pool"], row["asset"]) == ("main", "BTC")]
    assert main_btc[0]["liabilities"] == "1.50000000"
    head = journal_head(memory_service)
    signed = signed_head_document(memory_service)
    assert signed["expect_head"] == f"{head['head_seq']}:{head['head_hash']}"
