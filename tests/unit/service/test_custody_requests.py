"""service/custody_requests.py: words in, documents out; an unknown word is a named error.

Method: BIP84's test vector (the "abandon … about" account key) derives known addresses; the
registry requests run over the firm of test_recon.py on a memory store.
"""

from __future__ import annotations

import pytest
from tests.unit.service.test_recon import Firm

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core.errors import InputError, Result
from ringfence.service import custody_requests as requests

ZPUB = (
    "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31m"
    "GDtKsAYz2oz2AGutZYs"
)
RECEIVE = [
    "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu",
    "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g",
]


def test_derive_reports_progress_and_returns_the_document() -> None:
    seen: list[tuple[str, int, int]] = []
    document = requests.derive_addresses(
        "bip84", [ZPUB], 2, progress=lambda *report: seen.append(report)
    )
    assert document["addresses"] == RECEIVE
    assert (document["kind"], document["network"], document["chain"]) == (
        "bip84",
        "mainnet",
        "receive",
    )
    assert seen == [("derive", 2, 2)]


@pytest.mark.parametrize(
    ("kind", "network", "code"),
    [
        ("p2tr", None, Result.address_kind_unknown),
        ("bip84", "signet", Result.network_unknown),
    ],
)
def test_an_unknown_word_is_a_named_error(kind: str, network: str | None, code: Result) -> None:
    with pytest.raises(InputError) as refused:
        requests.derive_addresses(kind, [ZPUB], 1, network=network)
    assert refused.value.code is code


def test_registry_requests_return_a_result_per_record() -> None:
    firm = Firm(MemoryStore(), ManualClock(10**18))
    with pytest.raises(InputError) as refused:
        requests.create_wallet(firm.custody, "w", chain="dogecoin", scheme="bip84", keys=[ZPUB])
    assert refused.value.code is Result.chain_unknown
    created = requests.create_wallet(
        firm.custody, "omni-btc", chain="bitcoin", scheme="bip84", keys=[ZPUB], pool="main"
    )
    assert created == {"ok": True, "results": [{"record": "omni-btc", "result": "ok"}]}
    assigned = requests.assign_addresses(firm.custody, "omni-btc", count=2, client="alice")
    assert [entry["record"] for entry in assigned["results"]] == RECEIVE
    again = requests.designate_wallet(firm.custody, "nowhere", "main", "cold")
    assert again["ok"] is False
    listed = requests.list_wallets(firm.custody)["wallets"]
    assert [w["name"] for w in listed][-1] == "omni-btc"


def test_designating_changes_only_what_is_given() -> None:
    # A cold wallet moved to another pool stays cold, and a new tier keeps the pool: neither
    # falls back to a default (hot, the house) that the operator never asked for.
    firm = Firm(MemoryStore(), ManualClock(10**18))
    created = requests.create_wallet(firm.custody, "vault", chain="bitcoin", scheme="bip84",
                                     keys=[ZPUB], pool="main", tier="cold")  # fmt: skip
    assert created["ok"] is True

    def designation() -> tuple[str, str]:
        state = firm.custody.registry.wallets["vault"]
        return state.pool, state.tier

    assert requests.designate_wallet(firm.custody, "vault", pool="margin")["ok"] is True
    assert designation() == ("margin", "cold")
    assert requests.designate_wallet(firm.custody, "vault", tier="warm")["ok"] is True
    assert designation() == ("margin", "warm")
    assert requests.designate_wallet(firm.custody, "vault", pool="")["ok"] is True
    assert designation() == ("", "warm")
    with pytest.raises(InputError) as refused:
        requests.designate_wallet(firm.custody, "vault")
    assert refused.value.code is Result.field_required
