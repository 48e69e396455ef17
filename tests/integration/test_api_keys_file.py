"""The API key file (adapters/keys/sqlite.py): owner-only, durable, shared between processes."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from tests.support import journal_signer
from tests.support_api import fast_hasher

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.keys.sqlite import SqliteKeyStore
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core.errors import InputError, Result
from ringfence.service.keys import KeyVerifier, create_key, revoke_key
from ringfence.service.ledger import LedgerService


def test_keys_survive_reopening_and_a_revocation_elsewhere_is_seen_at_once(tmp_path: Path) -> None:
    path = tmp_path / "ringfence.db.api-keys"
    server_side = SqliteKeyStore(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    ledger = LedgerService(MemoryStore(), ManualClock(), journal_signer())
    assert ledger.define_clients(["alice"]) == ["ok"]
    record, text = create_key(
        server_side, ManualClock(), fast_hasher(), ledger, role="client", client="alice"
    )
    verifier = KeyVerifier(server_side, fast_hasher())
    assert verifier.actor_of(text).client == "alice"
    elsewhere = SqliteKeyStore(path)  # as `ringfence keys revoke` opens it
    assert elsewhere.records() == [record]
    revoke_key(elsewhere, ManualClock(), record.key_id)
    elsewhere.close()
    with pytest.raises(InputError) as refused:
        verifier.actor_of(text)
    assert refused.value.code is Result.api_key_revoked
    assert text.split("_", 2)[2].encode() not in path.read_bytes()
    server_side.close()
