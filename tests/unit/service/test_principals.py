"""Principals through the service: journaled with their endorsements, replayed in journal order
with the transfers they authorise, and the signing side (service/principals.py)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from tests.support import (
    ADMIN,
    Custodian,
    journal_signer,
    key_seed,
    principal_for,
    replay_from_genesis,
)

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.core.errors import InputError, Result, StorageError
from ringfence.core.ledger.journal import EntryKind, decode_principals
from ringfence.core.principals.authorisation import no_ledger_id, public_key_of
from ringfence.core.principals.records import Principal, PrincipalRole, PrincipalStatus
from ringfence.service.audit import verify_store
from ringfence.service.ledger import LedgerService
from ringfence.service.principals import (
    add_principal,
    create_key,
    principals_document,
    register_principal,
    revoke_principal,
    revoke_with_key_file,
    sign_transfer_file,
    sign_transfer_lines,
    signed_transfer_lines,
)

ok = Result.ok


@pytest.fixture
def service(memory_service: LedgerService, custodian: Custodian) -> LedgerService:
    results = memory_service.submit(
        [custodian.house_funding(1, 100_000), custodian.deposit(2, "alice", 1_000)]
    )
    assert results == [ok, ok]
    return memory_service


def reopened(service: LedgerService) -> LedgerService:
    return LedgerService(
        service.store, ManualClock(service.ledger.timestamp_last + 1), journal_signer()
    )


def test_the_ledger_id_is_the_first_entry_hash() -> None:
    service = LedgerService(MemoryStore(), ManualClock(), journal_signer())
    assert service.ledger_id == no_ledger_id
    anchor = principal_for(ADMIN, PrincipalRole.admin)
    assert add_principal(service, anchor) is ok
    first = next(service.store.entries())
    assert service.ledger_id == first.hash != no_ledger_id
    assert reopened(service).ledger_id == first.hash


def test_principals_are_one_entry_with_their_endorsements(
    service: LedgerService, custodian: Custodian
) -> None:
    entries = list(service.store.entries(kinds=[EntryKind.principals]))
    assert len(entries) == 1
    header, records, endorsements = decode_principals(entries[0].body)
    assert [number for number, _ in records] == list(range(1, len(custodian.clients) + 2))
    assert records[0][1].name == ADMIN
    # Every record but the anchor's is endorsed, by the anchor (principal 1).
    assert [e.record_index for e in endorsements] == list(range(1, len(records)))
    assert {e.principal for e in endorsements} == {1}
    assert header.evidence == len(records) - 1
    assert verify_store(service.store).ok


def test_a_change_that_changes_nothing_writes_nothing(service: LedgerService) -> None:
    head = service.store.head()
    again = service.endorse(principal_for("alice"), ADMIN, key_seed(ADMIN))
    assert service.change_principals([again]) == [Result.exists]
    assert service.store.head() == head


def test_reopening_replays_principals_in_order_with_the_tail(
    service: LedgerService, custodian: Custodian
) -> None:
    """A transfer signed before a key was revoked (and another before a rotation) still loads
    after the revocation: the tail past the checkpoint is replayed in journal order, not
    against the registry as it ends."""
    service.checkpoint()
    assert service.submit([custodian.internal(10, "alice", "bob", 5)]) == [ok]
    assert revoke_principal(service, "alice", ADMIN, key_seed(ADMIN)) is ok
    assert service.submit([custodian.internal(11, "alice", "bob", 5)]) == [
        Result.authoriser_revoked
    ]
    rotated = Principal("bob", PrincipalRole.client, public_key_of(key_seed("bob-2")), "bob")
    assert service.submit([custodian.deposit(12, "bob", 50)]) == [ok]
    assert service.submit([custodian.internal(13, "bob", "carol", 5)]) == [ok]
    assert add_principal(service, rotated, ADMIN, key_seed(ADMIN)) is ok
    again = reopened(service)
    assert again.ledger.principals.by_name["alice"].principal.status is PrincipalStatus.revoked
    assert (
        again.balance(custodian.client("bob")).balance
        == service.balance(custodian.client("bob")).balance
    )
    assert replay_from_genesis(service.store).accounts.keys() == service.ledger.accounts.keys()
    report = verify_store(service.store)
    assert report.ok, report.problems


def test_a_failed_append_leaves_the_registry_as_the_store_has_it(service: LedgerService) -> None:
    assert isinstance(service.store, MemoryStore)
    service.store.fail_next_append = True
    change = service.endorse(principal_for("treasurer", client="alice"), ADMIN, key_seed(ADMIN))
    with pytest.raises(StorageError):
        service.change_principals([change])
    assert "treasurer" not in service.ledger.principals.by_name
    assert service.change_principals([change]) == [ok]


def test_revoking_an_unknown_principal_is_named(service: LedgerService) -> None:
    with pytest.raises(InputError) as refused:
        revoke_principal(service, "nobody", ADMIN, key_seed(ADMIN))
    assert refused.value.code is Result.principal_not_found
    with pytest.raises(InputError) as refused:
        add_principal(service, principal_for("treasurer", client="alice"), ADMIN, None)
    assert refused.value.code is Result.endorsement_required


def test_the_document_lists_each_principal_with_its_history(service: LedgerService) -> None:
    assert revoke_principal(service, "carol", ADMIN, key_seed(ADMIN)) is ok
    document = principals_document(service)
    assert document["ledger_id"] == service.ledger_id.hex()
    carol = next(p for p in document["principals"] if p["name"] == "carol")
    assert (carol["role"], carol["client"], carol["status"]) == ("client", "carol", "revoked")
    assert [h["status"] for h in carol["history"]] == ["active", "revoked"]
    assert carol["public_key"] == public_key_of(key_seed("carol")).hex()


def test_authorise_signs_what_the_engine_accepts(
    service: LedgerService, custodian: Custodian
) -> None:
    unsigned = replace(custodian.internal(20, "alice", "bob", 3), authorisation=b"")
    signed = service.authorise(unsigned, key_seed("alice"))
    assert signed.authorisation == custodian.internal(20, "alice", "bob", 3).authorisation
    assert service.submit([signed]) == [ok]
    for transfer, code in [
        (replace(unsigned, authorised_by=""), Result.authorisation_required),
        (replace(unsigned, debit_account=424_242), Result.debit_account_not_found),
        (replace(unsigned, amount=None), Result.amount_required),
    ]:
        with pytest.raises(InputError) as refused:
            service.authorise(transfer, key_seed("alice"))
        assert refused.value.code is code


def lines(*documents: dict[str, object]) -> list[tuple[int, bytes]]:
    return [(n, json.dumps(d).encode()) for n, d in enumerate(documents, start=1)]


def test_signing_lines_signs_only_what_needs_it(
    service: LedgerService, custodian: Custodian
) -> None:
    alice, bob = custodian.client("alice"), custodian.client("bob")
    deposit = {"id": "30", "debit_account": str(custodian.wallet()), "credit_account": str(bob),
               "amount_units": "5", "code": "deposit"}  # fmt: skip
    payment = {"id": "31", "debit_account": str(alice), "credit_account": str(bob),
               "amount": "0.00000007", "code": "internal_transfer"}  # fmt: skip
    signed = list(sign_transfer_lines(service, lines(deposit, payment), key_seed("alice"), "alice"))
    assert json.loads(signed[0]) == deposit  # passed through unchanged
    document = json.loads(signed[1])
    assert document["authorised_by"] == "alice"
    assert len(document["authorisation"]) == 128
    expected = custodian.internal(31, "alice", "bob", 7).authorisation.hex()
    assert document["authorisation"] == expected


SIGNING_REFUSALS: list[tuple[str, str, dict[str, object], Result]] = [
    ("bob", "alice", {}, Result.signing_key_invalid),  # not alice's key
    ("alice", "nobody", {}, Result.principal_not_found),
    ("alice", "alice", {"authorised_by": "bob"}, Result.authorisation_not_by_debit_client),
    ("alice", "alice", {"amount": 1.5}, Result.amount_must_not_be_float),
    ("alice", "alice", {"authorisation": "zz"}, Result.authorisation_malformed),
]


@pytest.mark.parametrize("case", SIGNING_REFUSALS, ids=[c[3].value for c in SIGNING_REFUSALS])
def test_signing_refuses_what_it_cannot_sign_honestly(
    service: LedgerService, custodian: Custodian, case: tuple[str, str, dict[str, object], Result]
) -> None:
    seed, principal, line, code = case
    payment: dict[str, object] = {
        "id": "31",
        "debit_account": str(custodian.client("alice")),
        "credit_account": str(custodian.client("bob")),
        "amount_units": "7",
        "code": "internal_transfer",
        **line,
    }
    if "amount" in line:
        del payment["amount_units"]
    with pytest.raises(InputError) as refused:
        list(sign_transfer_lines(service, lines(payment), key_seed(seed), principal))
    assert refused.value.code is code
    if code not in (Result.signing_key_invalid, Result.principal_not_found):
        assert refused.value.detail.startswith("line 1")


def test_a_revoked_key_signs_nothing(service: LedgerService) -> None:
    assert revoke_principal(service, "alice", ADMIN, key_seed(ADMIN)) is ok
    with pytest.raises(InputError) as refused:
        list(sign_transfer_lines(service, [], key_seed("alice"), "alice"))
    assert refused.value.code is Result.signing_key_invalid


def test_library_users_register_sign_and_submit(tmp_path: Path) -> None:
    """The path a Python caller of ``ringfence.open`` takes, with keys it generated."""
    import ringfence

    admin_seed, alice_seed = os.urandom(32), os.urandom(32)
    ledger = ringfence.open(f"sqlite:///{tmp_path / 'books.db'}")
    ledger.define_assets([ringfence.Asset("BTC", 8, 1, "bitcoin")])
    ledger.define_clients(["alice", "bob"])
    omni = ringfence.Pool("omni", ringfence.PoolKind.omnibus, ringfence.Terms.custody)
    ledger.define_pools([omni])
    ledger.define_accounts(
        [
            ringfence.AccountDefinition(1, "BTC", ringfence.AccountClass.custody, "hot", "hot",
                                        "omni"),
            ringfence.AccountDefinition(2, "BTC", ringfence.AccountClass.client, "alice",
                                        "available", "omni"),
            ringfence.AccountDefinition(3, "BTC", ringfence.AccountClass.client, "bob",
                                        "available", "omni"),
        ]
    )  # fmt: skip
    admin = ringfence.Principal("admin", ringfence.PrincipalRole.admin, public_key_of(admin_seed))
    alice = ringfence.Principal(
        "alice", ringfence.PrincipalRole.client, public_key_of(alice_seed), "alice"
    )
    assert ledger.change_principals([ringfence.PrincipalChange(admin, None)]) == [ok]
    assert ledger.change_principals([ledger.endorse(alice, "admin", admin_seed)]) == [ok]
    payment = ringfence.Transfer(
        2, 2, 3, 40, ringfence.TransferCode.internal_transfer, authorised_by="alice"
    )
    deposit = ringfence.Transfer(1, 1, 2, 100, ringfence.TransferCode.deposit)
    assert ledger.submit([deposit, ledger.authorise(payment, alice_seed)]) == [ok, ok]
    assert ledger.submit([replace(payment, id=3)]) == [Result.authorisation_signature_required]
    ledger.close()
    store = SqliteStore(str(tmp_path / "books.db"))
    try:
        assert verify_store(store).ok
    finally:
        store.close()


# ---------------------------------------------------------------------- with key files


class FakePrincipalFiles:
    """The ``PrincipalFiles`` port in memory: key files and written files by name."""

    def __init__(self, keys: dict[str, bytes] | None = None) -> None:
        self.keys = dict(keys or {})
        self.written: dict[str, list[str]] = {}

    def create_key(self, path: str, seed: bytes) -> None:
        if path in self.keys:
            raise StorageError(f"{path} exists; a key file is never replaced")
        self.keys[path] = seed

    def read_key(self, path: str) -> bytes:
        if path not in self.keys:
            raise InputError(Result.signing_key_invalid, f"{path} is not a key file")
        return self.keys[path]

    def write_lines(self, path: str, lines: Iterator[str]) -> None:
        self.written[path] = list(lines)


def test_a_new_key_is_kept_in_its_file_and_its_public_key_reported() -> None:
    files = FakePrincipalFiles()
    document = create_key(files, "alice.key")
    assert document == {
        "ok": True,
        "key_file": "alice.key",
        "public_key_file": "alice.key.pub",
        "public_key": public_key_of(files.keys["alice.key"]).hex(),
    }
    with pytest.raises(StorageError):
        create_key(files, "alice.key")


def test_a_principal_registered_from_text_with_the_endorser_key_file(
    service: LedgerService,
) -> None:
    assert service.define_clients(["zoe"]) == [ok]
    files = FakePrincipalFiles({"admin.key": key_seed(ADMIN)})
    public_key = public_key_of(key_seed("zoe")).hex()
    result = register_principal(
        service, files, "zoe", role="client", public_key=public_key, endorser=ADMIN,
        endorser_key="admin.key",
    )
    assert result is ok
    (zoe,) = [row for row in principals_document(service)["principals"]
                if row["name"] == "zoe"]
    assert (zoe["role"], zoe["client"], zoe["public_key"]) == ("client", "zoe", public_key)
    assert revoke_with_key_file(service, files, "zoe", ADMIN, "admin.key") is ok
    (zoe,) = [row for row in principals_document(service)["principals"]
                if row["name"] == "zoe"]
    assert zoe["status"] == "revoked"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"role": "boss", "public_key": "00" * 32}, Result.principal_role_unknown),
        ({"role": "client", "public_key": "zz"}, Result.principal_key_invalid),
        ({"role": "client", "public_key": public_key_of(key_seed("zoe")).hex(),
          "endorser": ADMIN, "endorser_key": "missing.key"}, Result.signing_key_invalid),
    ],
)
def test_a_principal_from_bad_text_is_refused_with_its_code(
    service: LedgerService, fields: dict[str, str], code: Result
) -> None:
    with pytest.raises(InputError) as raised:
        register_principal(service, FakePrincipalFiles(), "zoe", **fields)
    assert raised.value.code is code


def test_transfer_lines_signed_with_a_key_file_to_standard_output_or_a_file(
    service: LedgerService, custodian: Custodian
) -> None:
    files = FakePrincipalFiles({"alice.key": key_seed("alice"), "bob.key": key_seed("bob")})
    alice, bob = custodian.client("alice"), custodian.client("bob")
    payment = lines({"id": "31", "debit_account": str(alice), "credit_account": str(bob),
                     "amount": "0.00000007", "code": "internal_transfer"})  # fmt: skip
    shown = list(signed_transfer_lines(service, files, payment, "alice.key", "alice"))
    expected = custodian.internal(31, "alice", "bob", 7).authorisation.hex()
    assert json.loads(shown[0])["authorisation"] == expected
    sign_transfer_file(service, files, payment, key="alice.key", principal="alice", out="out")
    assert files.written["out"] == shown
    with pytest.raises(InputError) as refused:  # the key file is read before any line
        signed_transfer_lines(service, files, payment, "missing.key", "alice")
    assert refused.value.code is Result.signing_key_invalid
    with pytest.raises(InputError) as refused:
        list(signed_transfer_lines(service, files, payment, "bob.key", "alice"))
    assert refused.value.code is Result.signing_key_invalid
