"""core/principals/records.py: who may authorise, with which key, and who vouched for it."""

from __future__ import annotations

import hashlib

import pytest

from ringfence.core.errors import InputError, Result
from ringfence.core.principals.authorisation import public_key_of, sign
from ringfence.core.principals.records import (
    Endorsement,
    Principal,
    PrincipalChange,
    PrincipalRole,
    Principals,
    PrincipalStatus,
    endorse,
    endorsement_message,
    parse_public_key_hex,
    parse_role,
)

LEDGER = hashlib.sha256(b"ledger").digest()
CLIENTS = ("alice", "bob")
_R = PrincipalRole


def seed(name: str) -> bytes:
    return hashlib.sha256(name.encode()).digest()


def principal(
    name: str, role: PrincipalRole = _R.client, client: str = "", key: str = ""
) -> Principal:
    if role is _R.client and not client:
        client = name
    return Principal(name, role, public_key_of(seed(key or name)), client)


def revoked(record: Principal) -> Principal:
    return Principal(
        record.name, record.role, record.public_key, record.client, PrincipalStatus.revoked
    )


def by_root(record: Principal) -> PrincipalChange:
    return endorse(LEDGER, "root", seed("root"), record)


@pytest.fixture
def registry() -> Principals:
    registry = Principals()
    assert apply(registry, PrincipalChange(principal("root", _R.admin), None)) is Result.ok
    return registry


def apply(registry: Principals, change: PrincipalChange) -> Result:
    before = (dict(registry.by_name), set(registry.revoked_keys), dict(registry.key_owners))
    result, endorser = registry.apply(change, CLIENTS, LEDGER, 7)
    if result is not Result.ok:
        assert endorser == 0
        assert (dict(registry.by_name), registry.revoked_keys, registry.key_owners) == before
    return result


def test_the_first_principal_is_an_unendorsed_admin() -> None:
    registry = Principals()
    change = PrincipalChange(principal("alice"), None)
    assert apply(registry, change) is Result.principal_first_must_be_admin
    anchor = PrincipalChange(principal("root", _R.admin), None)
    assert apply(registry, by_root(principal("root", _R.admin))) is (
        Result.endorser_not_an_active_admin
    )
    assert apply(registry, anchor) is Result.ok
    assert registry.by_name["root"].number == 1
    # From then on nobody enters unendorsed, an admin included.
    assert apply(registry, PrincipalChange(principal("root2", _R.admin), None)) is (
        Result.endorsement_required
    )


def test_an_admin_endorses_a_client_principal(registry: Principals) -> None:
    result, endorser = registry.apply(by_root(principal("alice")), CLIENTS, LEDGER, 9)
    assert (result, endorser) == (Result.ok, 1)
    state = registry.by_name["alice"]
    assert (state.number, state.active, state.principal.client) == (2, True, "alice")
    assert state.history == [(9, public_key_of(seed("alice")), PrincipalStatus.active)]
    assert registry.by_number[2] is state


@pytest.mark.parametrize(
    ("change", "code"),
    [
        # Endorsements: by an active admin, over this very record, for this ledger.
        (PrincipalChange(principal("alice"), None), Result.endorsement_required),
        (
            PrincipalChange(principal("alice"), Endorsement("nobody", bytes(64))),
            Result.endorser_not_an_active_admin,
        ),
        (
            PrincipalChange(principal("alice"), Endorsement("root", bytes(64))),
            Result.endorsement_signature_invalid,
        ),
        (
            endorse(LEDGER, "root", seed("mallory"), principal("alice")),
            Result.endorsement_signature_invalid,
        ),
        (
            endorse(bytes(32), "root", seed("root"), principal("alice")),
            Result.endorsement_signature_invalid,
        ),
        (
            PrincipalChange(
                principal("alice"),
                Endorsement(
                    "root",
                    sign(seed("root"), endorsement_message(LEDGER, "root", principal("bob"))),
                ),
            ),
            Result.endorsement_signature_invalid,
        ),
        # Identity: roles, clients and names.
        (by_root(Principal("alice", _R.client, public_key_of(seed("a")))), (
            Result.principal_client_required
        )),
        (by_root(principal("carol")), Result.client_not_found),
        (by_root(principal("ops", _R.operator, client="alice")), (
            Result.principal_client_forbidden_for_staff
        )),
        (by_root(principal("bob", _R.client, client="alice")), (
            Result.principal_name_taken_by_client
        )),
        (by_root(principal("bob", _R.admin)), Result.principal_name_taken_by_client),
        (by_root(revoked(principal("alice"))), Result.principal_not_found),
        # Keys: valid points, one principal each.
        (by_root(Principal("alice", _R.client, bytes(32), "alice")), Result.principal_key_invalid),
        (by_root(principal("alice", key="root")), Result.principal_key_in_use),
        (by_root(revoked(principal("root", _R.admin))), Result.principal_is_last_admin),
    ],
)
def test_a_change_outside_the_rules_is_refused(
    registry: Principals, change: PrincipalChange, code: Result
) -> None:
    assert apply(registry, change) is code


def test_a_later_record_rotates_or_revokes_and_keeps_identity(registry: Principals) -> None:
    alice = principal("alice")
    assert apply(registry, by_root(alice)) is Result.ok
    assert apply(registry, by_root(alice)) is Result.exists  # the same record: nothing changes
    assert apply(registry, by_root(principal("alice", _R.operator))) is (
        Result.principal_name_taken_by_client
    )
    treasurer = principal("treasurer", client="alice")
    assert apply(registry, by_root(treasurer)) is Result.ok  # a second principal for alice
    assert apply(registry, by_root(principal("treasurer", _R.operator, key="t2"))) is (
        Result.principal_exists_with_different_role
    )
    assert apply(registry, by_root(principal("treasurer", client="bob"))) is (
        Result.principal_exists_with_different_client
    )
    rotated = principal("alice", key="alice-2")
    assert apply(registry, by_root(rotated)) is Result.ok
    assert registry.by_name["alice"].principal.public_key == public_key_of(seed("alice-2"))
    # A revocation names the current key; the key never comes back, for anyone.
    assert apply(registry, by_root(revoked(alice))) is Result.principal_key_revoked
    assert apply(registry, by_root(revoked(rotated))) is Result.ok
    assert not registry.by_name["alice"].active
    assert apply(registry, by_root(rotated)) is Result.principal_key_revoked
    assert apply(registry, by_root(principal("bob", key="alice-2"))) is (
        Result.principal_key_revoked
    )
    # Reinstated with a new key, endorsed like any change.
    assert apply(registry, by_root(principal("alice", key="alice-3"))) is Result.ok
    assert registry.by_name["alice"].active
    assert [status for _, _, status in registry.by_name["alice"].history] == [
        PrincipalStatus.active,
        PrincipalStatus.active,
        PrincipalStatus.revoked,
        PrincipalStatus.active,
    ]
    assert registry.by_name["alice"].number == 2  # the number is the principal's for good


def test_staff_have_no_client_and_only_an_admin_endorses(registry: Principals) -> None:
    assert apply(registry, by_root(principal("ops", _R.operator))) is Result.ok
    change = endorse(LEDGER, "ops", seed("ops"), principal("alice"))
    assert apply(registry, change) is Result.endorser_not_an_active_admin
    assert apply(registry, by_root(principal("second", _R.admin))) is Result.ok
    assert apply(registry, by_root(revoked(principal("root", _R.admin)))) is Result.ok
    # A revoked admin endorses nothing; the other admin still can.
    assert apply(registry, by_root(principal("alice"))) is Result.endorser_not_an_active_admin
    change = endorse(LEDGER, "second", seed("second"), principal("alice"))
    assert apply(registry, change) is Result.ok
    last = endorse(LEDGER, "second", seed("second"), revoked(principal("second", _R.admin)))
    assert apply(registry, last) is Result.principal_is_last_admin


def test_a_record_is_well_formed_or_not_made() -> None:
    key = public_key_of(seed("x"))
    for build, code in [
        (lambda: Principal("Alice", _R.client, key, "alice"), Result.name_invalid),
        (lambda: Principal("alice", 1, key, "alice"), Result.principal_role_unknown),  # type: ignore[arg-type]
        (lambda: Principal("alice", _R.client, key[:31], "alice"), Result.principal_key_invalid),
        (lambda: Principal("alice", _R.client, key.hex(), "alice"), Result.principal_key_invalid),  # type: ignore[arg-type]
        (lambda: Principal("alice", _R.client, key, "Alice"), Result.name_invalid),
    ]:
        with pytest.raises(InputError) as refused:
            build()
        assert refused.value.code is code


def test_roles_and_keys_parse_from_text() -> None:
    assert parse_role("approver") is _R.approver
    assert [role.value for role in PrincipalRole] == [1, 2, 3, 4, 5, 6]  # journaled numbers
    key = public_key_of(seed("x"))
    assert parse_public_key_hex(key.hex()) == key
    for text, code in [
        ("root", Result.principal_role_unknown),
        ("Admin", Result.principal_role_unknown),
    ]:
        with pytest.raises(InputError) as refused:
            parse_role(text)
        assert refused.value.code is code
    for bad in (key.hex().upper(), key.hex()[:-2], "00" * 32, 7):
        with pytest.raises(InputError) as refused:
            parse_public_key_hex(bad)
        assert refused.value.code is Result.principal_key_invalid


def test_the_endorsement_message_is_fixed_width_and_covers_every_field() -> None:
    base = principal("alice")
    message = endorsement_message(LEDGER, "root", base)
    assert len(message) == 224
    variants = [
        endorsement_message(bytes(32), "root", base),
        endorsement_message(LEDGER, "root2", base),
        endorsement_message(LEDGER, "root", principal("treasurer", client="alice")),
        endorsement_message(LEDGER, "root", principal("bob")),
        endorsement_message(LEDGER, "root", principal("alice", key="other")),
        endorsement_message(LEDGER, "root", revoked(base)),
        endorsement_message(
            LEDGER, "root", Principal("alice", _R.approver, base.public_key, "")
        ),
    ]
    assert len({message, *variants}) == len(variants) + 1
