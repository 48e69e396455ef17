"""``/metrics``: latency by route template, results and problems by code, pool coverage."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support import BTC, journal_signer
from tests.support_api import ApiWorld, api_world

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core.ledger import wire
from ringfence.service.ledger import LedgerService


@pytest.fixture
def world() -> Iterator[ApiWorld]:
    built = api_world(LedgerService(MemoryStore(), ManualClock(), journal_signer()))
    yield built
    built.http.close()


def test_metrics_count_results_problems_latency_and_coverage(world: ApiWorld) -> None:
    custodian = world.custodian
    transfers = [
        custodian.deposit(1, "alice", 300),
        custodian.fee(2, "alice", 301),  # more than she has
        custodian.house_funding(3, 50),  # the house's own wallet: no client owes anything
    ]
    document = {"transfers": [wire.transfer_to_json(t, BTC) for t in transfers]}
    assert world.post("operator", "/v1/transfers", document).status_code == 200
    world.http.get("/v1/assets")  # no key
    world.get("alice", f"/v1/balances/{custodian.client('alice')}")
    text = world.get("compliance", "/metrics").text
    results = 'ringfence_api_results_total{code="%s",route="%s"} %s'
    assert results % ("ok", "/v1/transfers", "2.0") in text
    assert results % ("exceeds_available_balance", "/v1/transfers", "1.0") in text
    assert results % ("api_key_missing", "/v1/assets", "1.0") in text
    latency = 'ringfence_api_request_seconds_count{method="GET",route="/v1/balances/{account_id}"}'
    assert f"{latency} 1.0" in text
    assert f"/v1/balances/{custodian.client('alice')}" not in text  # never a concrete path
    # main holds 300 sats against 300 owed to alice; margin owes nothing and is not shown.
    assert 'ringfence_pool_coverage_ratio{asset="BTC",pool="main"} 1.0' in text
    assert 'pool="margin"' not in text
    assert world.get("alice", "/metrics").status_code == 403
