"""The two key stores answer ``named`` alike: a principal's keys, revoked ones included, oldest
first, and no one else's (the SQLite one by its index on the name)."""

from __future__ import annotations

from pathlib import Path

from ringfence.adapters.keys.memory import MemoryKeyStore
from ringfence.adapters.keys.sqlite import SqliteKeyStore
from ringfence.core.access.keys import ApiKey
from ringfence.core.principals.records import PrincipalRole

HASH = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"


def keys() -> list[ApiKey]:
    return [
        ApiKey("00000000000000a1", "ann", PrincipalRole.approver, "", HASH, 3),
        ApiKey("00000000000000b1", "bob", PrincipalRole.client, "bob", HASH, 1),
        ApiKey("00000000000000a2", "ann", PrincipalRole.approver, "", HASH, 2),
        ApiKey("00000000000000c1", "anne", PrincipalRole.operator, "", HASH, 4),
    ]


def test_named_is_one_principals_keys_oldest_first_in_both_stores(tmp_path: Path) -> None:
    sqlite = SqliteKeyStore(tmp_path / "keys")
    memory = MemoryKeyStore()
    try:
        for store in (sqlite, memory):
            for key in keys():
                store.add(key)
            store.revoke("00000000000000a2", 9)
            found = store.named("ann")
            assert [key.key_id for key in found] == ["00000000000000a2", "00000000000000a1"]
            assert found[0].revoked_at_ns == 9
            assert store.named("nobody") == []
            assert [key.name for key in store.named("bob")] == ["bob"]
    finally:
        sqlite.close()
