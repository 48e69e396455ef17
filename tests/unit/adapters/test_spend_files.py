"""The spend store, the Bitcoin outbox and the signing service's settings file, and the
composition root wiring them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.support import journal_signer

from ringfence import bootstrap
from ringfence.adapters.chains.bitcoin_outbox import OutboxBroadcaster
from ringfence.adapters.clock import ManualClock
from ringfence.adapters.files.spends import SpendDirectory
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core.custody.spends import SpendRecord, SpendState
from ringfence.core.errors import InputError, Result
from ringfence.service.ledger import LedgerService
from ringfence.service.spends import SpendService


def test_a_spend_reads_back_whole_and_names_its_withdrawal(tmp_path: Path) -> None:
    store = SpendDirectory(tmp_path / "spends")
    assert store.records() == []
    assert store.for_withdrawal("wd:1") is None
    first = SpendRecord("ab" * 32, "wd:1", "bitcoin", "omni", "BTC", b"psbt", outpoints=("x:0",))
    store.put(first)
    later = SpendRecord(
        "cd" * 32, "wd:1", "bitcoin", "omni", "BTC", b"\x00", SpendState.signed, signed=b"\x01"
    )
    store.put(later)
    again = SpendDirectory(tmp_path / "spends")  # another process
    assert again.get("ab" * 32) == first
    assert again.for_withdrawal("wd:1") == later
    assert sorted(r.spend_id for r in again.records()) == ["ab" * 32, "cd" * 32]
    assert again.get("../etc") is None


def test_the_outbox_holds_each_transaction_once_whole(tmp_path: Path) -> None:
    outbox = OutboxBroadcaster(tmp_path / "outbox")
    outbox.broadcast("ef" * 32, b"\x02\x00")
    outbox.broadcast("ef" * 32, b"\x02\x00")
    assert outbox.sent() == ["ef" * 32]
    assert (tmp_path / "outbox" / f"{'ef' * 32}.hex").read_text() == "0200\n"


def test_the_composition_root_wires_the_signing_service(tmp_path: Path) -> None:
    ledger = LedgerService(MemoryStore(), ManualClock(10**18), journal_signer())
    settings = tmp_path / "spends.json"
    settings.write_text(json.dumps({
        "store": "spends",
        "wallets": {"omni-vault": {"keys": [], "script": ["02" + "11" * 32], "threshold": 1}},
        "bitcoin": {"snapshots": "utxo", "outbox": "outbox", "network": "regtest",
                    "fee_rate_sat_per_kvb": 2000},
    }))  # fmt: skip
    with pytest.raises(InputError) as refused:
        bootstrap.withdrawal_chain(ledger, str(settings))
    assert refused.value.code is Result.spend_keys_invalid  # 02 11..11 is not on the curve
    document = json.loads(settings.read_text())
    document["wallets"] = {}
    settings.write_text(json.dumps(document))
    chain = bootstrap.withdrawal_chain(ledger, str(settings))
    assert isinstance(chain, SpendService)
    assert chain.bitcoin is not None
    assert chain.ethereum is None
    for broken in ({"store": "s", "extra": 1}, {"store": "s", "bitcoin": {"network": "x"}}, []):
        settings.write_text(json.dumps(broken))
        with pytest.raises(InputError) as refused:
            bootstrap.withdrawal_chain(ledger, str(settings))
        assert refused.value.code is Result.spend_keys_invalid
