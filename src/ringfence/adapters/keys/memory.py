"""API keys in memory: for tests and ``memory://`` ledgers, gone with the process."""

from __future__ import annotations

from dataclasses import replace

from ringfence.core import limits
from ringfence.core.access.keys import ApiKey
from ringfence.core.errors import InputError, Result


class MemoryKeyStore:
    def __init__(self) -> None:
        self._keys: dict[str, ApiKey] = {}

    def add(self, key: ApiKey) -> None:
        assert key.key_id not in self._keys
        if len(self._keys) >= limits.api_keys_max:
            raise InputError(Result.api_keys_exceeded, f"at most {limits.api_keys_max}")
        self._keys[key.key_id] = key

    def get(self, key_id: str) -> ApiKey | None:
        return self._keys.get(key_id)

    def revoke(self, key_id: str, at_ns: int) -> ApiKey | None:
        key = self._keys.get(key_id)
        if key is None:
            return None
        if key.active:
            key = self._keys[key_id] = replace(key, revoked_at_ns=at_ns)
        return key

    def named(self, name: str) -> list[ApiKey]:
        return [key for key in self.records() if key.name == name]

    def records(self) -> list[ApiKey]:
        return sorted(self._keys.values(), key=lambda key: (key.created_at_ns, key.key_id))

    def close(self) -> None:
        pass
