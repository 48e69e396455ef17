"""API keys: made once, kept hashed, verified fast, refused at once when revoked."""

from __future__ import annotations

import pytest
from tests.support import build_custodian, journal_signer
from tests.support_api import fast_hasher

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.keys.memory import MemoryKeyStore
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.service.keys import KeyVerifier, create_key, keys_document, revoke_key
from ringfence.service.ledger import LedgerService


def ledger_with_clients() -> LedgerService:
    ledger = LedgerService(MemoryStore(), ManualClock(), journal_signer())
    assert ledger.define_clients(["alice", "bob"]) == ["ok", "ok"]
    return ledger


LEDGER = ledger_with_clients()


def make(
    store: MemoryKeyStore,
    role: str,
    client: str = "",
    name: str = "",
    ledger: LedgerService = LEDGER,
) -> str:
    clock = ManualClock()
    return create_key(store, clock, fast_hasher(), ledger, role=role, client=client, name=name)[1]


def test_the_secret_is_kept_only_as_an_argon2id_hash() -> None:
    store = MemoryKeyStore()
    text = make(store, "client", "alice")
    (record,) = store.records()
    assert record.secret_hash.startswith("$argon2id$")
    secret = text.split("_", 2)[2]
    assert secret not in record.secret_hash
    assert secret not in str(keys_document(store))
    assert "secret_hash" not in keys_document(store)["keys"][0]
    assert record.role.name == "client"
    assert record.client == "alice"


@pytest.mark.parametrize(
    ("role", "client", "code"),
    [
        ("client", "", Result.principal_client_required),
        ("client", "mallory", Result.client_not_found),
        ("auditor", "alice", Result.principal_client_forbidden_for_staff),
        ("root", "", Result.principal_role_unknown),
    ],
)
def test_keys_are_made_only_for_real_roles_and_clients(
    role: str, client: str, code: Result
) -> None:
    store = MemoryKeyStore()
    with pytest.raises(InputError) as refused:
        make(store, role, client)
    assert refused.value.code is code
    assert store.records() == []


def test_a_key_is_hashed_once_per_process_then_remembered() -> None:
    store = MemoryKeyStore()
    text = make(store, "operator")
    verifier = KeyVerifier(store, fast_hasher())
    for _ in range(5):
        actor = verifier.actor_of(text)
        assert actor.role.name == "operator"
    assert verifier.hashes_checked == 1


def test_revocation_is_honoured_at_once_despite_the_memory() -> None:
    store = MemoryKeyStore()
    clock = ManualClock()
    text = make(store, "client", "bob")
    verifier = KeyVerifier(store, fast_hasher())
    assert verifier.actor_of(text).client == "bob"
    revoked = revoke_key(store, clock, text.split("_")[1])
    assert revoked.revoked_at_ns == clock.now_ns()
    with pytest.raises(InputError) as refused:
        verifier.actor_of(text)
    assert refused.value.code is Result.api_key_revoked
    with pytest.raises(InputError) as missing:
        revoke_key(store, clock, "0" * 16)
    assert missing.value.code is Result.api_key_not_found


def test_a_wrong_secret_is_refused_every_time() -> None:
    store = MemoryKeyStore()
    text = make(store, "admin")
    verifier = KeyVerifier(store, fast_hasher())
    wrong = text[:-1] + ("A" if text[-1] != "A" else "B")
    for _ in range(2):
        with pytest.raises(InputError) as refused:
            verifier.actor_of(wrong)
        assert refused.value.code is Result.api_key_invalid
    assert verifier.hashes_checked == 2  # a failure is never remembered
    assert verifier.actor_of(text).name.startswith("key-")


def test_missing_and_malformed_keys_cost_no_hashing() -> None:
    verifier = KeyVerifier(MemoryKeyStore(), fast_hasher())
    for presented, code in (
        (None, Result.api_key_missing),
        ("", Result.api_key_missing),
        ("rf_nothing", Result.api_key_invalid),
        ("rf_0123456789abcdef_" + "A" * 43, Result.api_key_invalid),  # no such key
    ):
        with pytest.raises(InputError) as refused:
            verifier.actor_of(presented)
        assert refused.value.code is code
    assert verifier.hashes_checked == 0


def test_the_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "api_key_verifications_cached_max", 2)
    store = MemoryKeyStore()
    texts = [make(store, "auditor") for _ in range(3)]
    verifier = KeyVerifier(store, fast_hasher())
    for text in texts:
        verifier.actor_of(text)
    verifier.actor_of(texts[0])  # forgotten: the oldest of three with room for two
    assert verifier.hashes_checked == 4


def test_a_name_is_one_principal_everywhere() -> None:
    store = MemoryKeyStore()
    make(store, "client", "alice")
    assert [key.name for key in store.records()] == ["alice"]  # a client key is its client's
    make(store, "operator", name="olga")
    make(store, "operator", name="olga")  # a second key of the same principal
    refusals = [
        (("auditor", "", "olga"), Result.principal_exists_with_different_role),
        (("auditor", "", "bob"), Result.principal_name_taken_by_client),
        (("client", "bob", "alice"), Result.principal_name_taken_by_client),
    ]
    for (role, client, name), code in refusals:
        with pytest.raises(InputError) as refused:
            make(store, role, client, name)
        assert refused.value.code is code
    assert len(store.records()) == 3


def test_a_name_agrees_with_the_journaled_principal_of_that_name() -> None:
    ledger = LedgerService(MemoryStore(), ManualClock(), journal_signer())
    build_custodian(ledger)  # registers "root", an admin, and a client principal per client
    store = MemoryKeyStore()
    with pytest.raises(InputError) as refused:
        make(store, "operator", name="root", ledger=ledger)
    assert refused.value.code is Result.principal_exists_with_different_role
    make(store, "admin", name="root", ledger=ledger)
    assert [key.name for key in store.records()] == ["root"]
