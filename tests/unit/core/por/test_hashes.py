"""core/por/hashes.py: HKDF, bulk hashing against hashlib and hmac, client keys and salts."""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
from tests.unit.core.por.support import GENESIS, MASTER

from ringfence import verifier
from ringfence.core.por.hashes import (
    client_key,
    client_keys,
    encode_names,
    hash_rows,
    hkdf_sha256,
    hmac_rows,
    identity_hash,
    identity_hashes_encoded,
    leaf_salt,
    round_nonce,
    round_nonces_encoded,
)
from ringfence.core.por.round import round_id_of


def test_hkdf_matches_rfc_5869_test_case_1() -> None:
    okm = hkdf_sha256(
        bytes([0x0B] * 22), bytes(range(13)), bytes(range(0xF0, 0xFA)), 42
    )
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )

def test_bulk_hashing_matches_hashlib_and_hmac() -> None:
    keys = np.frombuffer(bytes(range(64)), dtype=np.uint8).reshape(2, 32)
    messages = np.frombuffer(b"a" * 70 + b"b" * 70, dtype=np.uint8).reshape(2, 70)
    macs = hmac_rows(keys, messages)
    for row in range(2):
        assert macs[row].tobytes() == hmac.digest(
            keys[row].tobytes(), messages[row].tobytes(), "sha256")
    assert hash_rows(messages) == b"".join(
        hashlib.sha256(row.tobytes()).digest() for row in messages)
    names = ["alice", "bob", "carol", "é", "x" * 32]
    derived = client_keys(MASTER, names)
    assert [row.tobytes() for row in derived] == [client_key(MASTER, n) for n in names]

def test_each_client_gets_their_own_key_and_salts_change_every_round() -> None:
    alice, bob = client_key(MASTER, "alice"), client_key(MASTER, "bob")
    assert alice != bob
    one = round_id_of(GENESIS, 1)
    two = round_id_of(GENESIS, 2)
    assert leaf_salt(alice, one, 1, 0) != leaf_salt(alice, two, 1, 0)
    assert leaf_salt(alice, one, 1, 0) != leaf_salt(bob, one, 1, 0)


def test_nonces_and_identities_in_bulk_match_one_at_a_time_and_the_verifier() -> None:
    names = ["alice", "bob", "carol", "é", "x" * 32, "a@example.com"]
    round_id = round_id_of(GENESIS, 3)
    encoded = encode_names(names)
    nonces = round_nonces_encoded(MASTER, round_id, *encoded)
    identities = identity_hashes_encoded(*encoded)
    assert [row.tobytes() for row in nonces] == [round_nonce(MASTER, round_id, n) for n in names]
    assert [row.tobytes() for row in identities] == [identity_hash(n) for n in names]
    assert [verifier.identity_hash(n) for n in names] == [identity_hash(n) for n in names]
    salt = leaf_salt(nonces[0].tobytes(), round_id, 1, 2, identity_hash("alice"))
    assert salt == verifier.leaf_salt(nonces[0].tobytes(), round_id, 1, 2,
                                      verifier.identity_hash("alice"))


def test_nonces_change_every_round_and_a_salt_binds_the_clients_identity() -> None:
    one, two = round_id_of(GENESIS, 1), round_id_of(GENESIS, 2)
    assert round_nonce(MASTER, one, "alice") != round_nonce(MASTER, two, "alice")
    assert round_nonce(MASTER, one, "alice") != round_nonce(MASTER, one, "bob")
    nonce = round_nonce(MASTER, one, "alice")
    # One nonce, two identities: two salts (a firm handing bob alice's nonce gains nothing).
    assert leaf_salt(nonce, one, 1, 0, identity_hash("alice")) != leaf_salt(
        nonce, one, 1, 0, identity_hash("bob"))
    # Format 3 salts never equal format 2's under the same key (other domain tag).
    assert leaf_salt(nonce, one, 1, 0, identity_hash("alice")) != leaf_salt(nonce, one, 1, 0)
